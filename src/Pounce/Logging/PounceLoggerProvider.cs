using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pounce.Lifecycle;

namespace Pounce.Logging;

/// <summary>
/// An <see cref="ILoggerProvider"/> that writes every <see cref="ILogger"/> message (the application's, the
/// framework's, the server's own start-up and error messages) through the server's <see cref="LogLineWriter"/>, in
/// the same format as the lifecycle events, so that with <c>LogFormat=Json</c> every line of the output is JSON:
/// <c>{"timestamp","level","category","message","event_id",...state properties,"exception"}</c>.
/// </summary>
/// <remarks>
/// It ignores Pounce's own categories (<see cref="LifecycleEmitter.LifecycleCategory"/>,
/// <see cref="LifecycleEmitter.AccessCategory"/>, <c>Pounce.Server</c>, <c>Pounce.Cli</c>): Pounce writes those lines to the writer itself,
/// whatever providers the application has, and logs them to <see cref="ILogger"/> only for the benefit of other
/// providers (Serilog, OpenTelemetry, ...). Without this a line would be written twice.
/// Every line written while a request is in flight carries that request's <c>connection_id</c>, <c>request_id</c>
/// and, when there is an <see cref="System.Diagnostics.Activity"/>, <c>trace_id</c>/<c>span_id</c>
/// (<see cref="RequestLogContext"/>).
/// Which levels reach it is decided by the usual <c>Logging</c> filter rules (provider alias <c>Pounce</c>).
/// </remarks>
[ProviderAlias("Pounce")]
public sealed class PounceLoggerProvider : ILoggerProvider
{
    private readonly LogLineWriter _writer;
    private readonly ConcurrentDictionary<string, ILogger> _loggers = new(StringComparer.Ordinal);

    /// <summary>Creates a provider writing through <paramref name="writer"/> (which it does not own).</summary>
    public PounceLoggerProvider(LogLineWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        _writer = writer;
    }

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName)
    {
        if (IsPounceOwn(categoryName))
            return NullLogger.Instance;
        return _loggers.GetOrAdd(categoryName, static (name, writer) => new PounceLogger(name, writer), _writer);
    }

    /// <summary>Whether a category is one whose lines Pounce writes itself: the emitter's, and those of
    /// <see cref="PounceOwnLogger"/> (the server's messages, the start-up line).</summary>
    internal static bool IsPounceOwn(string categoryName)
        => categoryName is LifecycleEmitter.LifecycleCategory or LifecycleEmitter.AccessCategory || PounceOwnLogger.IsOwn(categoryName);

    /// <summary>Does nothing: the writer belongs to the container and is flushed when it is disposed.</summary>
    public void Dispose()
    {
    }

    private sealed class PounceLogger(string category, LogLineWriter writer) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // A category can become Pounce's own after the factory made this logger (a logger for it asked for before
            // PounceOwnLogger.Create registered it): its lines are then written by PounceOwnLogger, not twice.
            if (!IsEnabled(logLevel) || PounceOwnLogger.IsOwn(category))
                return;
            string? message;
            try
            {
                message = formatter(state, exception);
            }
            catch (FormatException ex)
            {
                message = "(log message could not be formatted: " + ex.Message + ")";
            }
            var properties = state as IReadOnlyList<KeyValuePair<string, object?>>;
            writer.WriteLogMessage(DateTime.UtcNow, logLevel, category, eventId, message, properties, exception);
        }
    }
}
