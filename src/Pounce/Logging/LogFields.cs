namespace Pounce.Logging;

/// <summary>The keys of an <c>ILogger</c> line that belong to Pounce, which a message-template property may not take.</summary>
internal static class LogFields
{
    /// <summary>What a state property's name is to the line.</summary>
    public enum Use
    {
        /// <summary>Not a reserved key: written as named.</summary>
        Free,
        /// <summary>A fixed key of every line (timestamp, level, category, message, event_id, exception).</summary>
        Fixed,
        /// <summary>A correlation key the line already carries.</summary>
        Correlation,
        /// <summary>A correlation key the line does not carry (no request, or no activity, in flight).</summary>
        CorrelationUnset,
    }

    /// <summary>Classifies <paramref name="key"/> for a line with these correlation fields.</summary>
    public static Use Reserved(string key, in LogCorrelation correlation) => key switch
    {
        "timestamp" or "level" or "category" or "message" or "event_id" or "exception" => Use.Fixed,
        "connection_id" => correlation.HasConnection ? Use.Correlation : Use.CorrelationUnset,
        "request_id" => correlation.HasRequest ? Use.Correlation : Use.CorrelationUnset,
        "trace_id" or "span_id" => correlation.HasTrace ? Use.Correlation : Use.CorrelationUnset,
        _ => Use.Free,
    };
}
