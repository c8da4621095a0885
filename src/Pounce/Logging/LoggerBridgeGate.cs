using System.Diagnostics;
using System.Diagnostics.Tracing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Debug;
using Microsoft.Extensions.Logging.EventSource;

namespace Pounce.Logging;

/// <summary>
/// Whether the ILogger bridge of lifecycle events and access lines can reach a provider that writes them. Giving an
/// event to <see cref="ILogger"/> costs a copy of the request's facts and a state object per line; with the web
/// template's providers and Pounce's writer in the console provider's place, the only ones left are the EventSource
/// provider, which says it is enabled without a listener (so every request paid for lines nobody read), and the Debug
/// provider, which writes only to an attached debugger. The gate is open while either can write: a tracing session on
/// the <c>Microsoft-Extensions-Logging</c> event source (dotnet-trace, dotnet-monitor) or an attached debugger.
/// </summary>
internal sealed class LoggerBridgeGate
{
    private const string LoggingEventSourceName = "Microsoft-Extensions-Logging";

    private readonly EventSource? _eventSource;
    private readonly bool _debug;

    private LoggerBridgeGate(EventSource? eventSource, bool debug)
    {
        _eventSource = eventSource;
        _debug = debug;
    }

    /// <summary>Whether a provider may write a line given to the bridge now.</summary>
    public bool IsOpen => (_eventSource is { } source && source.IsEnabled()) || (_debug && Debugger.IsAttached);

    /// <summary>
    /// The gate for <paramref name="factory"/> built from <paramref name="providers"/> (excluding Pounce's own
    /// provider, which never writes the bridge's categories); null, for a bridge always open, when the factory is not
    /// the standard one (Serilog's and others route elsewhere) or any provider is not one of the two above.
    /// </summary>
    public static LoggerBridgeGate? For(ILoggerFactory? factory, IEnumerable<ILoggerProvider> providers)
    {
        if (factory is null || factory.GetType() != typeof(LoggerFactory))
            return null;
        var eventSource = false;
        var debug = false;
        foreach (var provider in providers)
        {
            switch (provider)
            {
                case PounceLoggerProvider:
                    continue;
                case EventSourceLoggerProvider:
                    eventSource = true;
                    continue;
                case DebugLoggerProvider:
                    debug = true;
                    continue;
                default:
                    return null;
            }
        }
        EventSource? source = null;
        if (eventSource)
        {
            foreach (var candidate in EventSource.GetSources())
            {
                if (candidate.Name == LoggingEventSourceName)
                    source = candidate;
            }
            if (source is null)
                return null; // not where it is expected: do not guess
        }
        return new LoggerBridgeGate(source, debug);
    }
}
