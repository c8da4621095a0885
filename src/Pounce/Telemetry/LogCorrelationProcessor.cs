using OpenTelemetry;
using OpenTelemetry.Logs;
using Pounce.Logging;

namespace Pounce.Telemetry;

/// <summary>
/// Adds <c>connection_id</c> and <c>request_id</c> to the OTLP log records of lines written while a request is in
/// flight (the application's and the framework's <c>ILogger</c> lines), as Pounce's own writer does; the trace
/// context is the SDK's (the current <see cref="System.Diagnostics.Activity"/>). Pounce's own records (lifecycle
/// events, access lines) already carry them as attributes, and an attribute the line has is never replaced.
/// </summary>
internal sealed class LogCorrelationProcessor : BaseProcessor<LogRecord>
{
    /// <inheritdoc />
    public override void OnEnd(LogRecord data)
    {
        // Runs on the logging thread, inside the ILogger call: the flow's request is the line's.
        var correlation = RequestLogContext.Capture();
        if (!correlation.HasConnection || data.CategoryName is LifecycleCategory or AccessCategory)
            return;
        var attributes = data.Attributes;
        var count = attributes?.Count ?? 0;
        var hasConnection = false;
        var hasRequest = false;
        for (var i = 0; i < count; i++)
        {
            var key = attributes![i].Key;
            hasConnection |= key == "connection_id";
            hasRequest |= key == "request_id";
        }
        if (hasConnection && (hasRequest || !correlation.HasRequest))
            return;
        var list = new List<KeyValuePair<string, object?>>(count + 2);
        for (var i = 0; i < count; i++)
            list.Add(attributes![i]);
        if (!hasConnection)
            list.Add(new("connection_id", correlation.ConnectionId));
        if (!hasRequest && correlation.HasRequest)
            list.Add(new("request_id", correlation.RequestIdText));
        data.Attributes = list;
    }

    private const string LifecycleCategory = Lifecycle.LifecycleEmitter.LifecycleCategory;
    private const string AccessCategory = Lifecycle.LifecycleEmitter.AccessCategory;
}
