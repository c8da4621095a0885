using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;

namespace Pounce.Logging;

/// <summary>
/// Writes Pounce's JSON lines: one flat object, UTF-8, terminated by <c>\n</c>, keys in the contract's order.
/// Every string is escaped (quotes, backslashes, control characters including CR, LF, ESC, U+0085, U+2028/2029;
/// lone UTF-16 surrogates become U+FFFD), so no request can break a line or forge a field. Allocation-free in steady
/// state. Lifecycle and access lines, whose keys are fixed, are written member by member with <see cref="JsonBytes"/>
/// (a string that needs escaping goes through <see cref="Utf8JsonWriter"/>); <see cref="ILogger"/> messages, whose
/// state is open-ended, with one reusable <see cref="Utf8JsonWriter"/> per thread.
/// </summary>
internal static class JsonLineFormatter
{
    private static readonly JsonEncodedText Event = JsonEncodedText.Encode("event");
    private static readonly JsonEncodedText ConnectionId = JsonEncodedText.Encode("connection_id");
    private static readonly JsonEncodedText Timestamp = JsonEncodedText.Encode("timestamp");
    private static readonly JsonEncodedText Level = JsonEncodedText.Encode("level");
    private static readonly JsonEncodedText RequestId = JsonEncodedText.Encode("request_id");
    private static readonly JsonEncodedText TraceId = JsonEncodedText.Encode("trace_id");
    private static readonly JsonEncodedText SpanId = JsonEncodedText.Encode("span_id");
    private static readonly JsonEncodedText Category = JsonEncodedText.Encode("category");
    private static readonly JsonEncodedText Message = JsonEncodedText.Encode("message");
    private static readonly JsonEncodedText EventId = JsonEncodedText.Encode("event_id");
    private static readonly JsonEncodedText Exception = JsonEncodedText.Encode("exception");
    private static readonly JsonEncodedText Dropped = JsonEncodedText.Encode("dropped");

    private static readonly JsonEncodedText[] EventNames =
        Array.ConvertAll(Enum.GetNames<LifecycleEventKind>(), n => JsonEncodedText.Encode(n));
    private static readonly JsonEncodedText[] ProtocolNames =
        Array.ConvertAll(Enum.GetValues<ConnectionProtocol>(), p => JsonEncodedText.Encode(ConnectionEnds.Name(p)));
    private static readonly JsonEncodedText[] ReasonNames =
        Array.ConvertAll(Enum.GetValues<CloseReason>(), r => JsonEncodedText.Encode(ConnectionEnds.Name(r)));
    private static readonly JsonEncodedText[] VersionNames = [JsonEncodedText.Encode("1.0"), JsonEncodedText.Encode("1.1"), JsonEncodedText.Encode("2.0")];
    private static readonly JsonEncodedText AccessCategory = JsonEncodedText.Encode(LifecycleEmitter.AccessCategory);
    private static readonly JsonEncodedText LogLinesDropped = JsonEncodedText.Encode("LogLinesDropped");
    private static readonly JsonEncodedText WriterCategory = JsonEncodedText.Encode("Pounce.Logging");

    // The thread's writer, taken while a line is written (see JsonBytes.RentWriter).
    private static Utf8JsonWriter Writer(IBufferWriter<byte> output) => JsonBytes.RentWriter(output);

    private static void End(Utf8JsonWriter w, IBufferWriter<byte> output)
    {
        w.WriteEndObject();
        w.Flush();
        output.GetSpan(1)[0] = (byte)'\n';
        output.Advance(1);
        JsonBytes.ReturnWriter(w);
    }

    /// <summary>Writes one lifecycle event as a JSON line (with its <c>\n</c>) to <paramref name="output"/>.</summary>
    public static void Write(LineBuffer output, in LifecycleEvent e)
    {
        var c = e.Connection;
        var r = e.Request;
        output.Write("{"u8);
        JsonBytes.Text(output, "\"event\":"u8, EventNames[(int)e.Kind]);
        JsonBytes.Number(output, ",\"connection_id\":"u8, c.ConnectionId);
        JsonBytes.Number(output, ",\"worker_id\":"u8, c.WorkerId);
        WriteTimestamp(output, ",\"timestamp\":"u8, e.TimestampUtc);
        JsonBytes.Text(output, ",\"level\":"u8, LogLevelNames.JsonName(e.Level));
        switch (e.Kind)
        {
            case LifecycleEventKind.ConnectionOpened:
                JsonBytes.String(output, ",\"client_addr\":"u8, c.ClientAddress);
                JsonBytes.Number(output, ",\"client_port\":"u8, c.ClientPort);
                JsonBytes.String(output, ",\"server_addr\":"u8, c.ServerAddress);
                JsonBytes.Number(output, ",\"server_port\":"u8, c.ServerPort);
                JsonBytes.Text(output, ",\"protocol\":"u8, ProtocolName(c.Protocol));
                JsonBytes.Bool(output, ",\"tls\":"u8, c.Tls);
                break;
            case LifecycleEventKind.RequestStarted when r is not null:
                JsonBytes.String(output, ",\"method\":"u8, r.Method);
                JsonBytes.String(output, ",\"path\":"u8, r.Path);
                JsonBytes.Text(output, ",\"http_version\":"u8, VersionNames[Math.Min((int)r.Version, 2)]);
                WriteRequestId(output, r);
                if (r.StreamId != 0)
                    JsonBytes.Number(output, ",\"stream_id\":"u8, r.StreamId);
                WriteTrace(output, r);
                break;
            case LifecycleEventKind.ResponseCompleted when r is not null:
                JsonBytes.Number(output, ",\"status\":"u8, r.Status);
                JsonBytes.Number(output, ",\"bytes_sent\":"u8, r.BytesSent);
                WriteMs(output, e.DurationMs);
                if (e.Slow)
                    JsonBytes.Bool(output, ",\"slow\":"u8, true);
                if (r.Aborted is { } aborted)
                    JsonBytes.String(output, ",\"aborted\":"u8, aborted);
                JsonBytes.String(output, ",\"method\":"u8, r.Method);
                JsonBytes.String(output, ",\"path\":"u8, r.Path);
                WriteRequestId(output, r);
                if (r.StreamId != 0)
                    JsonBytes.Number(output, ",\"stream_id\":"u8, r.StreamId);
                WriteTrace(output, r);
                break;
            case LifecycleEventKind.ClientDisconnected when r is not null:
                JsonBytes.Bool(output, ",\"during_streaming\":"u8, r.ResponseStarted);
                JsonBytes.String(output, ",\"client_addr\":"u8, c.ClientAddress);
                WriteRequestId(output, r);
                JsonBytes.String(output, ",\"method\":"u8, r.Method);
                JsonBytes.String(output, ",\"path\":"u8, r.Path);
                JsonBytes.Number(output, ",\"bytes_sent\":"u8, r.BytesSent);
                WriteTrace(output, r);
                break;
            case LifecycleEventKind.ConnectionUpgraded:
                JsonBytes.Text(output, ",\"protocol\":"u8, ProtocolName(c.Protocol)); // what it switched to: websocket, or h2 (h2c)
                if (r is not null)
                    WriteRequestId(output, r);
                else
                    output.Write(",\"request_id\":\"\""u8);
                break;
            case LifecycleEventKind.ConnectionCompleted:
                var (reason, detail) = ConnectionEnds.Describe(c.End);
                JsonBytes.Number(output, ",\"requests_served\":"u8, c.RequestsServed);
                JsonBytes.Number(output, ",\"total_bytes_sent\":"u8, c.TotalBytesSent);
                WriteMs(output, e.DurationMs);
                JsonBytes.Text(output, ",\"reason\":"u8, ReasonNames[Math.Clamp((int)reason, 0, ReasonNames.Length - 1)]);
                JsonBytes.String(output, ",\"detail\":"u8, detail);
                JsonBytes.Text(output, ",\"protocol\":"u8, ProtocolName(c.Protocol));
                JsonBytes.String(output, ",\"client_addr\":"u8, c.ClientAddress);
                break;
        }
        output.Write("}\n"u8);
    }

    /// <summary>The request's W3C trace and span ids, when it has an activity (extra to the contract's fields, last).</summary>
    private static void WriteTrace(LineBuffer output, RequestInfo r)
    {
        if (!r.HasTrace)
            return;
        Span<byte> hex = stackalloc byte[32];
        output.Write(",\"trace_id\":"u8);
        JsonBytes.Quoted(output, hex[..LogTimestamp.WriteHex(r.TraceId, hex)]);
        output.Write(",\"span_id\":"u8);
        JsonBytes.Quoted(output, hex[..LogTimestamp.WriteHex(r.SpanId, hex)]);
    }

    /// <summary>Writes the access-log line of a request that ended with its own status (see the full overload).</summary>
    public static void WriteAccess(LineBuffer output, DateTime timestampUtc, ConnectionInfo c, RequestInfo r, double durationMs)
        => WriteAccess(output, timestampUtc, c, r, durationMs, r.Status, abandoned: false);

    /// <summary>
    /// Writes one access-log line (category <c>Pounce.Access</c>): timestamp, level, category, connection_id,
    /// worker_id, request_id, client_addr, method, path, http_version, status, bytes_sent, duration_ms, user_agent,
    /// then <c>during_streaming</c> for a request the client abandoned (<paramref name="abandoned"/>, status 499) and
    /// trace_id/span_id when the request had an activity.
    /// </summary>
    public static void WriteAccess(LineBuffer output, DateTime timestampUtc, ConnectionInfo c, RequestInfo r, double durationMs,
        int status, bool abandoned)
    {
        output.Write("{"u8);
        WriteTimestamp(output, "\"timestamp\":"u8, timestampUtc);
        JsonBytes.Text(output, ",\"level\":"u8, LogLevelNames.JsonName(LogLevel.Information));
        JsonBytes.Text(output, ",\"category\":"u8, AccessCategory);
        JsonBytes.Number(output, ",\"connection_id\":"u8, c.ConnectionId);
        JsonBytes.Number(output, ",\"worker_id\":"u8, c.WorkerId);
        WriteRequestId(output, r);
        JsonBytes.String(output, ",\"client_addr\":"u8, c.ClientAddress);
        JsonBytes.String(output, ",\"method\":"u8, r.Method);
        JsonBytes.String(output, ",\"path\":"u8, r.Path);
        JsonBytes.Text(output, ",\"http_version\":"u8, VersionNames[Math.Min((int)r.Version, 2)]);
        JsonBytes.Number(output, ",\"status\":"u8, status);
        JsonBytes.Number(output, ",\"bytes_sent\":"u8, r.BytesSent);
        WriteMs(output, durationMs);
        if (r.UserAgent is null)
            output.Write(",\"user_agent\":null"u8);
        else
            JsonBytes.String(output, ",\"user_agent\":"u8, r.UserAgent);
        if (abandoned)
            JsonBytes.Bool(output, ",\"during_streaming\":"u8, r.ResponseStarted);
        WriteTrace(output, r);
        output.Write("}\n"u8);
    }

    /// <summary>Writes one <see cref="ILogger"/> message written outside any request (see the full overload).</summary>
    public static void WriteLogMessage(IBufferWriter<byte> output, DateTime timestampUtc, LogLevel level, string category,
        EventId eventId, string? message, IReadOnlyList<KeyValuePair<string, object?>>? state, Exception? exception)
        => WriteLogMessage(output, timestampUtc, level, category, eventId, message, state, exception, default);

    /// <summary>
    /// Writes one <see cref="ILogger"/> message: timestamp, level, category, message, event_id (when not 0), the
    /// correlation fields of the request in flight (connection_id, request_id, trace_id, span_id, each when known), the
    /// structured state's properties (except <c>{OriginalFormat}</c>), then exception (when any). A state property
    /// never overwrites a reserved key: the application's is written with a leading <c>_</c>; one of Pounce's own
    /// (<c>Pounce.Server</c>, <c>Pounce.Cli</c>) that repeats a correlation field already written is left out.
    /// </summary>
    internal static void WriteLogMessage(IBufferWriter<byte> output, DateTime timestampUtc, LogLevel level, string category,
        EventId eventId, string? message, IReadOnlyList<KeyValuePair<string, object?>>? state, Exception? exception,
        in LogCorrelation correlation)
    {
        var w = Writer(output);
        w.WriteStartObject();
        WriteTimestamp(w, timestampUtc);
        w.WriteString(Level, LogLevelNames.JsonName(level));
        WriteSafe(w, Category, category);
        WriteSafe(w, Message, message ?? "");
        if (eventId.Id != 0)
            w.WriteNumber(EventId, eventId.Id);
        if (correlation.HasConnection)
            w.WriteNumber(ConnectionId, correlation.ConnectionId);
        Span<byte> scratch = stackalloc byte[48];
        if (correlation.HasRequest)
            w.WriteString(RequestId, scratch[..correlation.FormatRequestId(scratch)]);
        if (correlation.HasTrace)
        {
            w.WriteString(TraceId, scratch[..LogTimestamp.WriteHex(correlation.TraceId, scratch)]);
            w.WriteString(SpanId, scratch[..LogTimestamp.WriteHex(correlation.SpanId, scratch)]);
        }
        if (state is not null)
        {
            var own = PounceLoggerProvider.IsPounceOwn(category);
            for (var i = 0; i < state.Count; i++)
            {
                var (key, value) = state[i];
                if (string.IsNullOrEmpty(key) || key == "{OriginalFormat}")
                    continue;
                switch (LogFields.Reserved(key, in correlation))
                {
                    case LogFields.Use.Free:
                        break;
                    case LogFields.Use.Correlation when own:
                        continue; // Pounce's own property, already written as the correlation field
                    case LogFields.Use.CorrelationUnset when own:
                        break; // Pounce's own property naming the connection or request: it is the field
                    default:
                        key = "_" + key;
                        break;
                }
                WriteValue(w, key, value);
            }
        }
        if (exception is not null)
            WriteSafe(w, Exception, exception.ToString());
        End(w, output);
    }

    /// <summary>Writes the line the log writer emits when lines had to be dropped.</summary>
    public static void WriteDropped(IBufferWriter<byte> output, DateTime timestampUtc, long dropped)
    {
        var w = Writer(output);
        w.WriteStartObject();
        w.WriteString(Event, LogLinesDropped);
        WriteTimestamp(w, timestampUtc);
        w.WriteString(Level, LogLevelNames.JsonName(LogLevel.Warning));
        w.WriteString(Category, WriterCategory);
        w.WriteNumber(Dropped, dropped);
        w.WriteString(Message, "log buffer full: lines dropped since the last report"u8);
        End(w, output);
    }

    private static JsonEncodedText ProtocolName(ConnectionProtocol p)
        => ProtocolNames[(uint)p < (uint)ProtocolNames.Length ? (int)p : 0];

    /// <summary>Writes <c>duration_ms</c> with exactly three decimals (microseconds), without double formatting.</summary>
    private static void WriteMs(LineBuffer output, double ms)
    {
        output.Write(",\"duration_ms\":"u8);
        output.Advance(FormatMs(ms, output.GetSpan(24)));
    }

    /// <summary>Formats milliseconds as <c>12.346</c> (three decimals, rounded half away from zero; negative and
    /// non-finite values as 0). Returns the number of bytes written (at most 24).</summary>
    internal static int FormatMs(double ms, Span<byte> destination)
    {
        if (!(ms > 0))
            ms = 0;
        var micros = ms >= 9e15 ? 9_000_000_000_000_000L : (long)Math.Round(ms * 1000.0, MidpointRounding.AwayFromZero);
        System.Buffers.Text.Utf8Formatter.TryFormat(micros / 1000, destination, out var n);
        var frac = (int)(micros % 1000);
        destination[n] = (byte)'.';
        destination[n + 1] = (byte)('0' + frac / 100);
        destination[n + 2] = (byte)('0' + frac / 10 % 10);
        destination[n + 3] = (byte)('0' + frac % 10);
        return n + 4;
    }

    private static void WriteTimestamp(Utf8JsonWriter w, DateTime utc)
    {
        Span<byte> ts = stackalloc byte[LogTimestamp.Iso8601Length + 2];
        LogTimestamp.WriteIso8601(utc, ts[1..]);
        WriteSafeAscii(w, Timestamp, ts, LogTimestamp.Iso8601Length);
    }

    // key: the member's key with its quotes, colon and (when not first) leading comma.
    private static void WriteTimestamp(LineBuffer output, ReadOnlySpan<byte> key, DateTime utc)
    {
        Span<byte> ts = stackalloc byte[LogTimestamp.Iso8601Length];
        LogTimestamp.WriteIso8601(utc, ts);
        output.Write(key);
        JsonBytes.Quoted(output, ts);
    }

    private static void WriteRequestId(LineBuffer output, RequestInfo r)
    {
        Span<byte> id = stackalloc byte[48];
        if (r.TryFormatRequestId(id, out var n))
        {
            output.Write(",\"request_id\":"u8);
            JsonBytes.Quoted(output, id[..n]);
        }
        else
        {
            JsonBytes.String(output, ",\"request_id\":"u8, r.RequestId);
        }
    }

    private static void WriteValue(Utf8JsonWriter w, string key, object? value)
    {
        switch (value)
        {
            case null: w.WriteNull(key); break;
            case string s: WriteSafe(w, key, s); break;
            case bool b: w.WriteBoolean(key, b); break;
            case int i: w.WriteNumber(key, i); break;
            case long l: w.WriteNumber(key, l); break;
            case short sh: w.WriteNumber(key, sh); break;
            case byte by: w.WriteNumber(key, by); break;
            case uint ui: w.WriteNumber(key, ui); break;
            case ulong ul: w.WriteNumber(key, ul); break;
            case double d when double.IsFinite(d): w.WriteNumber(key, d); break;
            case float f when float.IsFinite(f): w.WriteNumber(key, f); break;
            case decimal m: w.WriteNumber(key, m); break;
            case DateTime dt: WriteSafe(w, key, dt.ToString("O", CultureInfo.InvariantCulture)); break;
            case DateTimeOffset dto: WriteSafe(w, key, dto.ToString("O", CultureInfo.InvariantCulture)); break;
            case TimeSpan span: w.WriteNumber(key, LifecycleEvent.RoundedMs(span.TotalMilliseconds)); break;
            case IFormattable fmt: WriteSafe(w, key, fmt.ToString(null, CultureInfo.InvariantCulture)); break;
            default: WriteSafe(w, key, value.ToString() ?? ""); break;
        }
    }

    // Lone surrogates are replaced by U+FFFD by the encoder itself; property names go through the same path.
    private static void WriteSafe(Utf8JsonWriter w, JsonEncodedText name, string value) => w.WriteString(name, value);

    /// <summary>
    /// Writes a string value the server made itself from characters JSON never escapes (a timestamp, hex ids, a request
    /// id): <paramref name="quoted"/> holds it from index 1, <paramref name="length"/> bytes, with room for a quote on
    /// either side. Skips the escaping scan <see cref="Utf8JsonWriter.WriteString(JsonEncodedText, ReadOnlySpan{byte})"/> does.
    /// </summary>
    private static void WriteSafeAscii(Utf8JsonWriter w, JsonEncodedText name, Span<byte> quoted, int length)
    {
        quoted[0] = (byte)'"';
        quoted[length + 1] = (byte)'"';
        w.WritePropertyName(name);
        w.WriteRawValue(quoted[..(length + 2)], skipInputValidation: true);
    }

    private static void WriteSafe(Utf8JsonWriter w, string name, string value) => w.WriteString(name, value);
}
