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
    private readonly IReadOnlyList<KeyValuePair<string, object?>> _fields;
    private string? _text;

    internal LifecycleLogState(IReadOnlyList<KeyValuePair<string, object?>> fields) => _fields = fields;

    internal static readonly Func<LifecycleLogState, Exception?, string> Format = (s, _) => s.ToString();

    /// <inheritdoc />
    public KeyValuePair<string, object?> this[int index] => _fields[index];

    /// <inheritdoc />
    public int Count => _fields.Count;

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _fields.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The event as <c>EventName key=value ...</c> (fields after <c>level</c>).</summary>
    public override string ToString() => _text ??= Render(_fields);

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
    private readonly KeyValuePair<string, object?>[] _fields;
    private readonly string _text;

    private AccessLogState(KeyValuePair<string, object?>[] fields, string text)
    {
        _fields = fields;
        _text = text;
    }

    internal static readonly Func<AccessLogState, Exception?, string> Format = (s, _) => s.ToString();

    internal static AccessLogState Create(DateTime timestampUtc, ConnectionInfo c, RequestInfo r, double durationMs, int status, bool abandoned)
    {
        var buffer = new LineBuffer(256);
        TextLineFormatter.WriteAccess(buffer, timestampUtc, c, r, durationMs, status, abandoned);
        var text = Encoding.UTF8.GetString(buffer.WrittenSpan[..^1]);
        var fields = new List<KeyValuePair<string, object?>>(16)
        {
            new("connection_id", c.ConnectionId),
            new("worker_id", c.WorkerId),
            new("request_id", r.RequestId),
            new("client_addr", c.ClientAddress),
            new("method", r.Method),
            new("path", r.Path),
            new("http_version", r.VersionText),
            new("status", status),
            new("bytes_sent", r.BytesSent),
            new("duration_ms", LifecycleEvent.RoundedMs(durationMs)),
            new("user_agent", r.UserAgent),
        };
        if (abandoned)
            fields.Add(new("during_streaming", r.ResponseStarted));
        if (r.HasTrace)
        {
            fields.Add(new("trace_id", r.TraceId.ToHexString()));
            fields.Add(new("span_id", r.SpanId.ToHexString()));
        }
        return new AccessLogState([.. fields], text);
    }

    /// <inheritdoc />
    public KeyValuePair<string, object?> this[int index] => _fields[index];

    /// <inheritdoc />
    public int Count => _fields.Length;

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)_fields).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The access line in the text (Apache combined) format.</summary>
    public override string ToString() => _text;
}
