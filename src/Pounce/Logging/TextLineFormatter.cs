using System.Buffers;
using System.Buffers.Text;
using System.Text;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;

namespace Pounce.Logging;

/// <summary>
/// Writes Pounce's text lines, for humans: <c>time level event key=value ...</c>, one <c>\n</c>-terminated line.
/// A value that is not plain printable ASCII is double-quoted with C-style escapes (<c>\"</c>, <c>\\</c>,
/// <c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\xHH</c> for other control bytes and ESC, <c>\uXXXX</c> for C1 controls,
/// line/paragraph separators, bidirectional overrides and lone surrogates), so a request cannot break the line,
/// forge a <c>key=value</c> pair or send terminal escape sequences.
/// </summary>
internal static class TextLineFormatter
{
    private static readonly byte[][] EventNames =
        Array.ConvertAll(Enum.GetNames<LifecycleEventKind>(), n => Encoding.ASCII.GetBytes(n));

    /// <summary>Writes one lifecycle event as a text line (with its <c>\n</c>) to <paramref name="output"/>.</summary>
    public static void Write(LineBuffer output, in LifecycleEvent e)
    {
        var c = e.Connection;
        var r = e.Request;
        WritePrefix(output, e.TimestampUtc, e.Level);
        Put(output, EventNames[(int)e.Kind]);
        Number(output, " connection_id="u8, c.ConnectionId);
        Number(output, " worker_id="u8, c.WorkerId);
        switch (e.Kind)
        {
            case LifecycleEventKind.ConnectionOpened:
                Value(output, " client_addr="u8, c.ClientAddress);
                Number(output, " client_port="u8, c.ClientPort);
                Value(output, " server_addr="u8, c.ServerAddress);
                Number(output, " server_port="u8, c.ServerPort);
                Value(output, " protocol="u8, ConnectionEnds.Name(c.Protocol));
                Bool(output, " tls="u8, c.Tls);
                break;
            case LifecycleEventKind.RequestStarted when r is not null:
                Value(output, " method="u8, r.Method);
                Value(output, " path="u8, r.Path);
                Value(output, " http_version="u8, r.VersionText);
                RequestId(output, r);
                if (r.StreamId != 0)
                    Number(output, " stream_id="u8, r.StreamId);
                Trace(output, r);
                break;
            case LifecycleEventKind.ResponseCompleted when r is not null:
                Number(output, " status="u8, r.Status);
                Number(output, " bytes_sent="u8, r.BytesSent);
                Duration(output, " duration_ms="u8, e.DurationMs);
                if (e.Slow)
                    Put(output, " slow=true"u8);
                if (r.Aborted is { } aborted)
                    Value(output, " aborted="u8, aborted);
                Value(output, " method="u8, r.Method);
                Value(output, " path="u8, r.Path);
                RequestId(output, r);
                if (r.StreamId != 0)
                    Number(output, " stream_id="u8, r.StreamId);
                Trace(output, r);
                break;
            case LifecycleEventKind.ClientDisconnected when r is not null:
                Bool(output, " during_streaming="u8, r.ResponseStarted);
                Value(output, " client_addr="u8, c.ClientAddress);
                RequestId(output, r);
                Value(output, " method="u8, r.Method);
                Value(output, " path="u8, r.Path);
                Number(output, " bytes_sent="u8, r.BytesSent);
                Trace(output, r);
                break;
            case LifecycleEventKind.ConnectionUpgraded:
                Value(output, " protocol="u8, ConnectionEnds.Name(c.Protocol)); // websocket, or h2 (h2c)
                if (r is not null)
                    RequestId(output, r);
                break;
            case LifecycleEventKind.ConnectionCompleted:
                var (reason, detail) = ConnectionEnds.Describe(c.End);
                Number(output, " requests_served="u8, c.RequestsServed);
                Number(output, " total_bytes_sent="u8, c.TotalBytesSent);
                Duration(output, " duration_ms="u8, e.DurationMs);
                Value(output, " reason="u8, ConnectionEnds.Name(reason));
                Value(output, " detail="u8, detail);
                Value(output, " protocol="u8, ConnectionEnds.Name(c.Protocol));
                Value(output, " client_addr="u8, c.ClientAddress);
                break;
        }
        Put(output, "\n"u8);
    }

    /// <summary>The request's W3C trace and span ids, when it has an activity.</summary>
    private static void Trace(LineBuffer output, RequestInfo r)
    {
        if (!r.HasTrace)
            return;
        Put(output, " trace_id="u8);
        output.Advance(LogTimestamp.WriteHex(r.TraceId, output.GetSpan(32)));
        Put(output, " span_id="u8);
        output.Advance(LogTimestamp.WriteHex(r.SpanId, output.GetSpan(16)));
    }

    /// <summary>Writes the access-log line of a request that ended with its own status (see the full overload).</summary>
    public static void WriteAccess(LineBuffer output, DateTime timestampUtc, ConnectionInfo c, RequestInfo r, double durationMs)
        => WriteAccess(output, timestampUtc, c, r, durationMs, r.Status, abandoned: false);

    /// <summary>
    /// Writes one access-log line in Apache's combined format, then the duration in milliseconds and the correlation
    /// fields as <c>key=value</c>:
    /// <c>127.0.0.1 - - [12/Feb/2026:10:15:30 +0000] "GET /path HTTP/1.1" 200 1234 "-" "curl/8.5" 12.345 request_id=1-1 connection_id=1 worker_id=1</c>,
    /// plus <c>during_streaming=</c> for a request the client abandoned (status 499) and <c>trace_id=</c>/<c>span_id=</c>
    /// when the request had an activity. A request line the server could not parse is written <c>"-"</c>.
    /// Quoted fields escape <c>"</c>, <c>\</c>, control and non-ASCII bytes as Apache does (<c>\"</c>, <c>\\</c>, <c>\xHH</c>).
    /// </summary>
    public static void WriteAccess(LineBuffer output, DateTime timestampUtc, ConnectionInfo c, RequestInfo r, double durationMs,
        int status, bool abandoned)
    {
        if (!TextAccessLine.TryWrite(output, timestampUtc, c, r, durationMs, status, abandoned))
            WriteAccessEscaped(output, timestampUtc, c, r, durationMs, status, abandoned);
    }

    /// <summary>The access line written field by field, escaping as it goes: any line, and the only way for a line
    /// with something to escape (<see cref="TextAccessLine"/> writes the others, byte for byte the same).</summary>
    internal static void WriteAccessEscaped(LineBuffer output, DateTime timestampUtc, ConnectionInfo c, RequestInfo r,
        double durationMs, int status, bool abandoned)
    {
        var addr = c.ClientAddress;
        if (addr.Length == 0)
            Put(output, "-"u8);
        else
            ApacheEscaped(output, addr);
        Put(output, " - - "u8);
        var ts = output.GetSpan(LogTimestamp.ApacheLength);
        LogTimestamp.WriteApache(timestampUtc, ts);
        output.Advance(LogTimestamp.ApacheLength);
        if (r.Method.Length == 0)
        {
            Put(output, " \"-\" "u8);
        }
        else
        {
            var method = KnownMethod(r.Method);
            if (method.IsEmpty)
            {
                Put(output, " \""u8);
                ApacheEscaped(output, r.Method);
                Put(output, " "u8);
            }
            else
            {
                Put(output, method);
            }
            ApacheEscaped(output, r.Path);
            Put(output, r.Version switch
            {
                HttpVersionKind.Http10 => " HTTP/1.0\" "u8,
                HttpVersionKind.Http2 => " HTTP/2.0\" "u8,
                _ => " HTTP/1.1\" "u8,
            });
        }
        Integer(output, status);
        Put(output, " "u8);
        if (r.BytesSent == 0)
            Put(output, "-"u8);
        else
            Integer(output, r.BytesSent);
        Put(output, " \"-\" \""u8);
        if (r.UserAgent is null)
            Put(output, "-"u8);
        else
            ApacheEscaped(output, r.UserAgent);
        Put(output, "\" "u8);
        FixedMs(output, durationMs);
        RequestId(output, r);
        Number(output, " connection_id="u8, c.ConnectionId);
        Number(output, " worker_id="u8, c.WorkerId);
        if (abandoned)
            Bool(output, " during_streaming="u8, r.ResponseStarted);
        Trace(output, r);
        Put(output, "\n"u8);
    }

    /// <summary>Writes one <see cref="ILogger"/> message written outside any request (see the full overload).</summary>
    public static void WriteLogMessage(LineBuffer output, DateTime timestampUtc, LogLevel level, string category,
        string? message, Exception? exception)
        => WriteLogMessage(output, timestampUtc, level, category, message, exception, default);

    /// <summary>
    /// Writes one <see cref="ILogger"/> message: <c>time level category: message</c>, then the correlation fields of the
    /// request in flight (<c>connection_id=</c>, <c>request_id=</c>, <c>trace_id=</c>, <c>span_id=</c>, each when known),
    /// then <c>exception="..."</c> when there is one. Control characters in the message are escaped so it stays on one line.
    /// </summary>
    internal static void WriteLogMessage(LineBuffer output, DateTime timestampUtc, LogLevel level, string category,
        string? message, Exception? exception, in LogCorrelation correlation)
    {
        WritePrefix(output, timestampUtc, level);
        Escaped(output, category, quoteAll: false);
        Put(output, ": "u8);
        Escaped(output, message ?? "", quoteAll: false);
        if (correlation.HasConnection)
            Number(output, " connection_id="u8, correlation.ConnectionId);
        if (correlation.HasRequest)
        {
            Put(output, " request_id="u8);
            var span = output.GetSpan(48);
            output.Advance(correlation.FormatRequestId(span));
        }
        if (correlation.HasTrace)
        {
            Span<byte> hex = stackalloc byte[32];
            Put(output, " trace_id="u8);
            Put(output, hex[..LogTimestamp.WriteHex(correlation.TraceId, hex)]);
            Put(output, " span_id="u8);
            Put(output, hex[..LogTimestamp.WriteHex(correlation.SpanId, hex)]);
        }
        if (exception is not null)
            Value(output, " exception="u8, exception.ToString());
        Put(output, "\n"u8);
    }

    /// <summary>Writes the line the log writer emits when lines had to be dropped.</summary>
    public static void WriteDropped(LineBuffer output, DateTime timestampUtc, long dropped)
    {
        WritePrefix(output, timestampUtc, LogLevel.Warning);
        Put(output, "LogLinesDropped"u8);
        Number(output, " dropped="u8, dropped);
        Put(output, " message=\"log buffer full: lines dropped since the last report\"\n"u8);
    }

    private static void WritePrefix(LineBuffer output, DateTime utc, LogLevel level)
    {
        var span = output.GetSpan(LogTimestamp.Iso8601Length);
        LogTimestamp.WriteIso8601(utc, span);
        output.Advance(LogTimestamp.Iso8601Length);
        Put(output, " "u8);
        Put(output, LogLevelNames.Utf8Name(level));
        Put(output, " "u8);
    }

    private static void Put(LineBuffer output, ReadOnlySpan<byte> bytes) => output.Write(bytes);

    // The access line's opening quote and method for the common methods (nothing in them to escape); empty for others.
    internal static ReadOnlySpan<byte> KnownMethod(string method) => method switch
    {
        "GET" => " \"GET "u8,
        "POST" => " \"POST "u8,
        "PUT" => " \"PUT "u8,
        "DELETE" => " \"DELETE "u8,
        "HEAD" => " \"HEAD "u8,
        "PATCH" => " \"PATCH "u8,
        "OPTIONS" => " \"OPTIONS "u8,
        _ => default,
    };

    private static void Ascii(LineBuffer output, ReadOnlySpan<char> chars)
    {
        var span = output.GetSpan(chars.Length);
        for (var i = 0; i < chars.Length; i++)
            span[i] = (byte)chars[i];
        output.Advance(chars.Length);
    }

    private static void Integer(LineBuffer output, long value)
    {
        var span = output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var n);
        output.Advance(n);
    }

    private static void Number(LineBuffer output, ReadOnlySpan<byte> key, long value)
    {
        Put(output, key);
        Integer(output, value);
    }

    private static void Bool(LineBuffer output, ReadOnlySpan<byte> key, bool value)
    {
        Put(output, key);
        Put(output, value ? "true"u8 : "false"u8);
    }

    private static void Duration(LineBuffer output, ReadOnlySpan<byte> key, double ms)
    {
        Put(output, key);
        FixedMs(output, ms);
    }

    private static void FixedMs(LineBuffer output, double ms)
    {
        var span = output.GetSpan(32);
        output.Advance(JsonLineFormatter.FormatMs(ms, span));
    }

    private static void RequestId(LineBuffer output, RequestInfo r)
    {
        Put(output, " request_id="u8);
        var span = output.GetSpan(48);
        if (r.TryFormatRequestId(span, out var n))
            output.Advance(n);
    }

    private static void Value(LineBuffer output, ReadOnlySpan<byte> key, string value)
    {
        Put(output, key);
        Escaped(output, value, quoteAll: true);
    }

    /// <summary>Writes a value as <see cref="Write"/> does: as is when plain, else quoted and escaped.</summary>
    internal static void WriteValue(LineBuffer output, string value) => Escaped(output, value, quoteAll: true);

    private static bool IsPlain(char ch) => ch is > ' ' and < (char)0x7f and not '"' and not '\\' and not '=';

    /// <summary>
    /// With <paramref name="quoteAll"/>: a plain value is written as is, anything else quoted and escaped.
    /// Without: never quoted, only the characters that could break or disguise the line are escaped.
    /// </summary>
    private static void Escaped(LineBuffer output, string value, bool quoteAll)
    {
        if (quoteAll)
        {
            var plain = value.Length > 0;
            foreach (var ch in value)
            {
                if (!IsPlain(ch))
                {
                    plain = false;
                    break;
                }
            }
            if (plain)
            {
                Ascii(output, value);
                return;
            }
            Put(output, "\""u8);
        }
        var s = value.AsSpan();
        for (var i = 0; i < s.Length; i++)
        {
            var ch = s[i];
            switch (ch)
            {
                case '"' when quoteAll: Put(output, "\\\""u8); continue;
                case '\\' when quoteAll: Put(output, "\\\\"u8); continue;
                case '\n': Put(output, "\\n"u8); continue;
                case '\r': Put(output, "\\r"u8); continue;
                case '\t': Put(output, "\\t"u8); continue;
            }
            if (ch < 0x20 || ch == 0x7f)
            {
                Hex(output, "\\x"u8, ch, 2);
            }
            else if (ch < 0x80)
            {
                var span = output.GetSpan(1);
                span[0] = (byte)ch;
                output.Advance(1);
            }
            else if (ch <= 0x9f || ch is '\u2028' or '\u2029' or '\u200e' or '\u200f' or '\ufeff'
                     or (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069'))
            {
                Hex(output, "\\u"u8, ch, 4);
            }
            else if (char.IsSurrogate(ch))
            {
                if (char.IsHighSurrogate(ch) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                {
                    var rune = new Rune(ch, s[i + 1]);
                    var span = output.GetSpan(4);
                    output.Advance(rune.EncodeToUtf8(span));
                    i++;
                }
                else
                {
                    Put(output, "\\uFFFD"u8);
                }
            }
            else
            {
                var span = output.GetSpan(4);
                output.Advance(new Rune(ch).EncodeToUtf8(span));
            }
        }
        if (quoteAll)
            Put(output, "\""u8);
    }

    /// <summary>Characters an Apache-style quoted field carries as they are: printable ASCII but <c>"</c> and <c>\</c>.</summary>
    internal static readonly SearchValues<char> ApachePlain = SearchValues.Create(
        " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    private static void ApacheEscaped(LineBuffer output, string value)
    {
        Span<byte> utf8 = stackalloc byte[4];
        var s = value.AsSpan();
        for (var i = 0; i < s.Length; i++)
        {
            // Runs of plain characters (usually the whole value) are narrowed to bytes in one vectorised copy.
            var plain = s[i..].IndexOfAnyExcept(ApachePlain);
            var run = plain < 0 ? s.Length - i : plain;
            if (run > 0)
            {
                var span = output.GetSpan(run);
                System.Text.Ascii.FromUtf16(s.Slice(i, run), span, out _);
                output.Advance(run);
                i += run;
                if (i == s.Length)
                    return;
            }
            var ch = s[i];
            if (ch is '"')
                Put(output, "\\\""u8);
            else if (ch is '\\')
                Put(output, "\\\\"u8);
            else if (ch < 0x80)
                Hex(output, "\\x"u8, ch, 2);
            else
            {
                Rune rune;
                if (char.IsHighSurrogate(ch) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                    rune = new Rune(ch, s[++i]);
                else if (char.IsSurrogate(ch))
                    rune = Rune.ReplacementChar;
                else
                    rune = new Rune(ch);
                var n = rune.EncodeToUtf8(utf8);
                for (var k = 0; k < n; k++)
                    Hex(output, "\\x"u8, utf8[k], 2);
            }
        }
    }

    private static void Hex(LineBuffer output, ReadOnlySpan<byte> prefix, int value, int digits)
    {
        Put(output, prefix);
        var span = output.GetSpan(digits);
        for (var k = digits - 1; k >= 0; k--)
        {
            span[k] = (byte)"0123456789ABCDEF"[value & 0xF];
            value >>= 4;
        }
        output.Advance(digits);
    }
}
