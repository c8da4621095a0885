using System.Buffers.Text;

namespace Pounce.Cli.Logs;

/// <summary>
/// Reads Pounce's text format into a <see cref="LogRecord"/>: lifecycle lines (<c>time level Event key=value ...</c>,
/// values double-quoted when not plain), message lines (<c>time level Category: message</c>) and access lines
/// (Apache combined plus duration and request id). Quoted values are kept with their escapes.
/// </summary>
internal static class TextLineParser
{
    /// <summary>Parses <paramref name="line"/>; false when it is none of Pounce's text lines.</summary>
    public static bool TryParse(ReadOnlySpan<byte> line, ref LogRecord r)
    {
        r.Clear();
        r.IsText = true;
        if (line.Length > 0 && (uint)(line[0] - '0') <= 9)
        {
            var space = line.IndexOf((byte)' ');
            if (space > 0)
            {
                var ts = Timestamps.ParseIso8601(line[..space]);
                if (ts != 0)
                    return ParseLifecycleOrMessage(line[(space + 1)..], ts, ref r);
            }
        }
        return ParseAccess(line, ref r);
    }

    private static bool ParseLifecycleOrMessage(ReadOnlySpan<byte> rest, long timestamp, ref LogRecord r)
    {
        r.Timestamp = timestamp;
        var space = rest.IndexOf((byte)' ');
        if (space <= 0)
            return false;
        r.Level = rest[..space];
        rest = rest[(space + 1)..];
        space = rest.IndexOf((byte)' ');
        var word = space < 0 ? rest : rest[..space];
        if (word.Length > 1 && word[^1] == ':')
        {
            r.Category = word[..^1];
            r.Kind = r.Category.SequenceEqual("Pounce.Access"u8) ? LineKind.Access : LineKind.Message;
            return true;
        }
        r.EventName = word;
        r.Kind = EventKinds.Of(word);
        rest = space < 0 ? default : rest[(space + 1)..];
        while (!rest.IsEmpty)
        {
            var eq = rest.IndexOf((byte)'=');
            if (eq <= 0)
                return false;
            var key = rest[..eq];
            rest = rest[(eq + 1)..];
            ReadOnlySpan<byte> value;
            if (!rest.IsEmpty && rest[0] == '"')
            {
                var end = ClosingQuote(rest);
                if (end < 0)
                    return false; // a quoted value that never ends: a truncated line
                value = rest[1..end];
                rest = rest[(end + 1)..];
            }
            else
            {
                var end = rest.IndexOf((byte)' ');
                value = end < 0 ? rest : rest[..end];
                rest = end < 0 ? default : rest[end..];
            }
            if (!rest.IsEmpty)
            {
                if (rest[0] != ' ')
                    return false;
                rest = rest[1..];
            }
            Assign(key, value, ref r);
        }
        return true;
    }

    private static int ClosingQuote(ReadOnlySpan<byte> s)
    {
        for (var i = 1; i < s.Length; i++)
        {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                return i;
        }
        return -1;
    }

    private static void Assign(ReadOnlySpan<byte> key, ReadOnlySpan<byte> v, ref LogRecord r)
    {
        switch (key.Length)
        {
            case 3 when key.SequenceEqual("tls"u8): r.Tls = v.SequenceEqual("true"u8); break;
            case 4 when key.SequenceEqual("path"u8): r.Path = v; break;
            case 4 when key.SequenceEqual("slow"u8): r.Slow = v.SequenceEqual("true"u8); break;
            case 6 when key.SequenceEqual("status"u8): r.Status = Int(v); break;
            case 6 when key.SequenceEqual("method"u8): r.Method = v; break;
            case 6 when key.SequenceEqual("reason"u8): r.Reason = v; break;
            case 6 when key.SequenceEqual("detail"u8): r.Detail = v; break;
            case 7 when key.SequenceEqual("aborted"u8): r.Aborted = v; break;
            case 7 when key.SequenceEqual("dropped"u8): r.Dropped = Int(v); break;
            case 8 when key.SequenceEqual("protocol"u8): r.Protocol = v; break;
            case 8 when key.SequenceEqual("trace_id"u8): r.TraceId = v; break;
            case 9 when key.SequenceEqual("worker_id"u8): r.WorkerId = Int(v); break;
            case 10 when key.SequenceEqual("bytes_sent"u8): r.BytesSent = Int(v); break;
            case 10 when key.SequenceEqual("request_id"u8): r.RequestId = v; break;
            case 11 when key.SequenceEqual("duration_ms"u8): r.DurationMicros = JsonLineParser.ParseMillis(v); break;
            case 11 when key.SequenceEqual("client_addr"u8): r.ClientAddr = v; break;
            case 12 when key.SequenceEqual("http_version"u8): r.HttpVersion = v; break;
            case 13 when key.SequenceEqual("connection_id"u8): r.ConnectionId = Int(v); break;
            case 15 when key.SequenceEqual("requests_served"u8): r.RequestsServed = Int(v); break;
            case 16 when key.SequenceEqual("during_streaming"u8): r.DuringStreaming = v.SequenceEqual("true"u8); break;
            case 16 when key.SequenceEqual("total_bytes_sent"u8): r.TotalBytesSent = Int(v); break;
        }
    }

    private static long Int(ReadOnlySpan<byte> s)
        => Utf8Parser.TryParse(s, out long value, out var consumed) && consumed == s.Length ? value : -1;

    /// <summary><c>addr - - [12/Feb/2026:10:15:30 +0000] "GET /p HTTP/1.1" 200 1234 "-" "ua" 12.345 1-1</c>.</summary>
    private static bool ParseAccess(ReadOnlySpan<byte> line, ref LogRecord r)
    {
        var space = line.IndexOf(" - - ["u8);
        if (space <= 0)
            return false;
        r.ClientAddr = line[..space];
        var rest = line[(space + 6)..];
        var close = rest.IndexOf((byte)']');
        if (close < 0)
            return false;
        r.Timestamp = Timestamps.ParseApache(rest[..close]);
        if (r.Timestamp == 0 || rest.Length < close + 3 || rest[close + 1] != ' ' || rest[close + 2] != '"')
            return false;
        rest = rest[(close + 2)..];
        var end = ClosingQuote(rest);
        if (end < 0)
            return false;
        var request = rest[1..end];
        rest = rest[(end + 1)..];
        var firstSpace = request.IndexOf((byte)' ');
        var lastSpace = request.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace <= firstSpace || !request[(lastSpace + 1)..].StartsWith("HTTP/"u8))
            return false;
        r.Method = request[..firstSpace];
        r.Path = request[(firstSpace + 1)..lastSpace];
        r.HttpVersion = request[(lastSpace + 6)..];
        // " 200 1234 "-" "ua" 12.345 1-1"
        if (!NextWord(ref rest, out var status) || (r.Status = Int(status)) < 0)
            return false;
        if (!NextWord(ref rest, out var bytes))
            return false;
        r.BytesSent = bytes.SequenceEqual("-"u8) ? 0 : Int(bytes);
        for (var quoted = 0; quoted < 2; quoted++)
        {
            if (rest.Length < 2 || rest[0] != ' ' || rest[1] != '"')
                return false;
            rest = rest[1..];
            end = ClosingQuote(rest);
            if (end < 0)
                return false;
            rest = rest[(end + 1)..];
        }
        if (NextWord(ref rest, out var duration))
            r.DurationMicros = JsonLineParser.ParseMillis(duration);
        if (NextWord(ref rest, out var requestId))
        {
            r.RequestId = requestId;
            var dash = requestId.IndexOf((byte)'-');
            if (dash > 0)
                r.ConnectionId = Int(requestId[..dash]);
        }
        r.Kind = LineKind.Access;
        r.Category = "Pounce.Access"u8;
        return true;
    }

    private static bool NextWord(scoped ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> word)
    {
        word = default;
        if (rest.Length < 2 || rest[0] != ' ')
            return false;
        rest = rest[1..];
        var end = rest.IndexOf((byte)' ');
        word = end < 0 ? rest : rest[..end];
        rest = end < 0 ? default : rest[end..];
        return word.Length > 0;
    }
}
