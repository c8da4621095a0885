using Microsoft.Extensions.Logging;

namespace Pounce.Logging;

/// <summary>
/// The logger of Pounce's own messages (start-up, shutdown, server errors; categories <c>Pounce.*</c>): it writes each
/// one through the server's <see cref="LogLineWriter"/> itself, whatever logging providers the application kept
/// (none after <c>ClearProviders()</c>, Serilog's factory, ...), and also hands it to the application's
/// <see cref="ILogger"/> for its providers. <see cref="PounceLoggerProvider"/> ignores the <c>Pounce</c> categories,
/// so a line is never written twice by Pounce.
/// </summary>
internal sealed class PounceOwnLogger : ILogger
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> OwnCategories = new(StringComparer.Ordinal);

    /// <summary>Whether lines of <paramref name="category"/> are written by a <see cref="PounceOwnLogger"/>.</summary>
    public static bool IsOwn(string category) => OwnCategories.ContainsKey(category);

    private readonly string _category;
    private readonly LogLineWriter _writer;
    private readonly LogLevel _minimum;
    private readonly ILogger _inner;

    private PounceOwnLogger(string category, LogLineWriter writer, LogLevel minimum, ILogger inner)
    {
        _category = category;
        _writer = writer;
        _minimum = minimum;
        _inner = inner;
    }

    /// <summary>
    /// The logger for <paramref name="category"/>: through <paramref name="writer"/> at <paramref name="minimum"/> and
    /// above, and through <paramref name="factory"/>'s logger. Without a writer, just the factory's logger.
    /// </summary>
    public static ILogger Create(string category, LogLineWriter? writer, ILoggerFactory? factory, LogLevel minimum)
    {
        if (writer is not null)
            OwnCategories.TryAdd(category, 0); // before the factory asks Pounce's provider for the category
        var inner = factory?.CreateLogger(category) ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        return writer is null ? inner : new PounceOwnLogger(category, writer, minimum, inner);
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => _inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => Writes(logLevel) || _inner.IsEnabled(logLevel);

    private bool Writes(LogLevel logLevel) => logLevel != LogLevel.None && _minimum != LogLevel.None && logLevel >= _minimum;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (Writes(logLevel))
        {
            string message;
            try
            {
                message = formatter(state, exception);
            }
            catch (FormatException ex)
            {
                message = "(log message could not be formatted: " + ex.Message + ")";
            }
            _writer.WriteLogMessage(DateTime.UtcNow, logLevel, _category, eventId, message,
                state as IReadOnlyList<KeyValuePair<string, object?>>, exception);
        }
        if (_inner.IsEnabled(logLevel))
            _inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
