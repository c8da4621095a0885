using System.Collections;
using System.Globalization;
using System.Text;
using Pounce.Connections;
using Pounce.Logging;

namespace Pounce.Lifecycle;

/// <summary>
/// The structured state of a lifecycle event logged through <see cref="Microsoft.Extensions.Logging.ILogger"/>:
/// each field of the contract, in order, as a property (Serilog, OpenTelemetry and other providers read them).
/// Its string form is the event in the text format, without time and level.
/// </summary>
public sealed class LifecycleLogState : IReadOnlyList<KeyValuePair<string, object?>>
{
    // A request event keeps a copy of its request's facts (the live record is reused by the next request) and builds
    // its properties only when a provider asks for them: an enabled logger that writes nothing (the EventSource
    // provider with no listener) then costs two small objects per event, not the field list and its boxed values.
    private readonly LifecycleEvent _event;
    private IReadOnlyList<KeyValuePair<string, object?>>? _fields;
    private string? _text;

    internal LifecycleLogState(IReadOnlyList<KeyValuePair<string, object?>> fields) => _fields = fields;

    private LifecycleLogState(in LifecycleEvent e) => _event = e;

    /// <summary>The state of <paramref name="e"/>: lazy for request events, a snapshot of the fields for connection events
    /// (whose counters keep changing and which are rare).</summary>
    internal static LifecycleLogState For(in LifecycleEvent e)
    {
        if (e.Request is { } r && e.Kind is LifecycleEventKind.RequestStarted or LifecycleEventKind.ResponseCompleted or LifecycleEventKind.ClientDisconnected)
            return new LifecycleLogState(new LifecycleEvent(e.Kind, e.Level, e.TimestampUtc, e.Connection, RequestSnapshot.Of(r), e.DurationMs, e.Slow));
        return new LifecycleLogState(e.GetFields());
    }

    internal static readonly Func<LifecycleLogState, Exception?, string> Format = (s, _) => s.ToString();

    private IReadOnlyList<KeyValuePair<string, object?>> Fields => _fields ??= _event.GetFields();

    /// <inheritdoc />
    public KeyValuePair<string, object?> this[int index] => Fields[index];

    /// <inheritdoc />
    public int Count => Fields.Count;

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => Fields.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The event as <c>EventName key=value ...</c> (fields after <c>level</c>).</summary>
    public override string ToString() => _text ??= Render(Fields);

    internal static string Render(IReadOnlyList<KeyValuePair<string, object?>> fields)
    {
        var sb = new StringBuilder(256);
        foreach (var (key, value) in fields)
        {
            switch (key)
            {
                case "event":
                    sb.Insert(0, value as string);
                    continue;
                case "timestamp" or "level":
                    continue;
            }
            sb.Append(' ').Append(key).Append('=');
            AppendValue(sb, value);
        }
        return sb.ToString();
    }

    internal static void AppendValue(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case double d:
                sb.Append(d.ToString("0.000", CultureInfo.InvariantCulture));
                break;
            case string s:
                var buffer = new LineBuffer(s.Length + 8);
                TextLineFormatter.WriteValue(buffer, s);
                sb.Append(Encoding.UTF8.GetString(buffer.WrittenSpan));
                break;
            case IFormattable f:
                sb.Append(f.ToString(null, CultureInfo.InvariantCulture));
                break;
            default:
                sb.Append(value);
                break;
        }
    }
}

/// <summary>
/// The structured state of an access-log line logged through <see cref="Microsoft.Extensions.Logging.ILogger"/>
/// (category <c>Pounce.Access</c>): the same properties as the JSON access line; its string form is the text line.
/// </summary>
public sealed class AccessLogState : IReadOnlyList<KeyValuePair<string, object?>>
{
    // The request's facts are copied when the line is logged (the connection's RequestInfo is reused by the next
    // request); the properties and the text are built only when a provider asks for them, so a logger that is
    // enabled but writes nothing (the EventSource provider with no listener) costs two small objects, not the line.
    private readonly DateTime _timestampUtc;
    private readonly ConnectionInfo _connection;
    private readonly RequestInfo _request;
    private readonly double _durationMs;
    private readonly int _status;
    private readonly bool _abandoned;
    private KeyValuePair<string, object?>[]? _fieldsCache;
    private string? _text;

    private AccessLogState(DateTime timestampUtc, ConnectionInfo connection, RequestInfo request, double durationMs, int status, bool abandoned)
    {
        _timestampUtc = timestampUtc;
        _connection = connection;
        _request = request;
        _durationMs = durationMs;
        _status = status;
        _abandoned = abandoned;
    }

    internal static readonly Func<AccessLogState, Exception?, string> Format = (s, _) => s.ToString();

    internal static AccessLogState Create(DateTime timestampUtc, ConnectionInfo c, RequestInfo r, double durationMs, int status, bool abandoned)
        => new(timestampUtc, c, RequestSnapshot.Of(r), durationMs, status, abandoned);

    private KeyValuePair<string, object?>[] Fields => _fieldsCache ??= BuildFields();

    private KeyValuePair<string, object?>[] BuildFields()
    {
        var c = _connection;
        var r = _request;
        var fields = new List<KeyValuePair<string, object?>>(16)
        {
            new("connection_id", c.ConnectionId),
            new("worker_id", c.WorkerId),
            new("request_id", r.RequestId),
            new("client_addr", c.ClientAddress),
            new("method", r.Method),
            new("path", r.Path),
            new("http_version", r.VersionText),
            new("status", _status),
            new("bytes_sent", r.BytesSent),
            new("duration_ms", LifecycleEvent.RoundedMs(_durationMs)),
            new("user_agent", r.UserAgent),
        };
        if (_abandoned)
            fields.Add(new("during_streaming", r.ResponseStarted));
        if (r.HasTrace)
        {
            fields.Add(new("trace_id", r.TraceId.ToHexString()));
            fields.Add(new("span_id", r.SpanId.ToHexString()));
        }
        return [.. fields];
    }

    private string BuildText()
    {
        var buffer = new LineBuffer(256);
        TextLineFormatter.WriteAccess(buffer, _timestampUtc, _connection, _request, _durationMs, _status, _abandoned);
        return Encoding.UTF8.GetString(buffer.WrittenSpan[..^1]);
    }

    /// <inheritdoc />
    public KeyValuePair<string, object?> this[int index] => Fields[index];

    /// <inheritdoc />
    public int Count => Fields.Length;

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)Fields).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The access line in the text (Apache combined) format.</summary>
    public override string ToString() => _text ??= BuildText();
}

/// <summary>A copy of the request facts that log lines and their ILogger properties read, taken while they are current.</summary>
internal static class RequestSnapshot
{
    public static RequestInfo Of(RequestInfo r) => new()
    {
        ConnectionId = r.ConnectionId,
        Sequence = r.Sequence,
        StreamId = r.StreamId,
        Method = r.Method,
        Path = r.Path,
        Version = r.Version,
        UserAgent = r.UserAgent,
        Status = r.Status,
        BytesSent = r.BytesSent,
        Aborted = r.Aborted,
        StartTimestamp = r.StartTimestamp,
        EndTimestamp = r.EndTimestamp,
        ResponseStarted = r.ResponseStarted,
        IsStreaming = r.IsStreaming,
        TraceId = r.TraceId,
        SpanId = r.SpanId,
        HasTrace = r.HasTrace,
    };
}
