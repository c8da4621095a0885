using System.Buffers.Text;
using System.Text.Json;

namespace Pounce.Cli.Logs;

/// <summary>
/// Reads one JSON log line into a <see cref="LogRecord"/> with <see cref="Utf8JsonReader"/>: no document, no strings;
/// the fields the views use are picked by name and every other value is skipped, so lines of any Pounce version
/// (fields added, removed, reordered) read the same.
/// </summary>
internal static class JsonLineParser
{
    /// <summary>Kinds of line that are only counted, so need not be read to their end.</summary>
    [Flags]
    public enum CountOnly
    {
        None = 0,
        RequestStarted = 1,
        Access = 2,
    }

    private static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 64 };

    /// <summary>Parses <paramref name="line"/>; false when it is not one well-formed JSON object.</summary>
    /// <param name="line">The line, without its newline.</param>
    /// <param name="record">Receives the fields.</param>
    /// <param name="countOnly">Kinds whose lines are only counted (their time and kind are all that is used): reading
    /// stops once both are known, after checking that the line is not cut short.</param>
    public static bool TryParse(ReadOnlySpan<byte> line, ref LogRecord record, CountOnly countOnly = CountOnly.None)
    {
        record.Clear();
        try
        {
            return Read(line, ref record, countOnly);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool Read(ReadOnlySpan<byte> line, ref LogRecord r, CountOnly countOnly)
    {
        var reader = new Utf8JsonReader(line, isFinalBlock: true, new JsonReaderState(Options));
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            return false;
        var hasEvent = false;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                // Only whitespace may follow the object.
                if (reader.Read())
                    return false;
                Classify(ref r, hasEvent);
                return true;
            }
            var name = reader.ValueSpan;
            var escapedName = reader.ValueIsEscaped;
            if (!reader.Read())
                return false;
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
                continue;
            }
            if (escapedName)
                continue; // none of the names we read needs escaping
            if (countOnly != CountOnly.None && r.Timestamp != 0 && EnoughToCount(ref r, countOnly, hasEvent) && EndsLikeAnObject(line))
                return true;
            switch (name.Length)
            {
                case 4:
                    if (name.SequenceEqual("path"u8)) r.Path = Str(ref reader);
                    else if (name.SequenceEqual("slow"u8)) r.Slow = reader.TokenType == JsonTokenType.True;
                    break;
                case 5:
                    if (name.SequenceEqual("event"u8)) { r.EventName = Str(ref reader); hasEvent = true; }
                    else if (name.SequenceEqual("level"u8)) r.Level = Str(ref reader);
                    break;
                case 6:
                    if (name.SequenceEqual("status"u8)) r.Status = Int(ref reader);
                    else if (name.SequenceEqual("method"u8)) r.Method = Str(ref reader);
                    else if (name.SequenceEqual("reason"u8)) r.Reason = Str(ref reader);
                    else if (name.SequenceEqual("detail"u8)) r.Detail = Str(ref reader);
                    break;
                case 3:
                    if (name.SequenceEqual("tls"u8)) r.Tls = reader.TokenType == JsonTokenType.True;
                    break;
                case 7:
                    if (name.SequenceEqual("aborted"u8)) r.Aborted = Str(ref reader);
                    else if (name.SequenceEqual("dropped"u8)) r.Dropped = Int(ref reader);
                    break;
                case 8:
                    if (name.SequenceEqual("protocol"u8)) r.Protocol = Str(ref reader);
                    else if (name.SequenceEqual("category"u8)) r.Category = Str(ref reader);
                    else if (name.SequenceEqual("trace_id"u8)) r.TraceId = Str(ref reader);
                    break;
                case 9:
                    if (name.SequenceEqual("timestamp"u8)) r.Timestamp = Timestamps.ParseIso8601(Str(ref reader));
                    else if (name.SequenceEqual("worker_id"u8)) r.WorkerId = Int(ref reader);
                    break;
                case 10:
                    if (name.SequenceEqual("bytes_sent"u8)) r.BytesSent = Int(ref reader);
                    else if (name.SequenceEqual("request_id"u8)) r.RequestId = Str(ref reader);
                    break;
                case 11:
                    if (name.SequenceEqual("duration_ms"u8)) r.DurationMicros = Micros(ref reader);
                    else if (name.SequenceEqual("client_addr"u8)) r.ClientAddr = Str(ref reader);
                    break;
                case 12:
                    if (name.SequenceEqual("http_version"u8)) r.HttpVersion = Str(ref reader);
                    break;
                case 13:
                    if (name.SequenceEqual("connection_id"u8)) r.ConnectionId = Int(ref reader);
                    break;
                case 15:
                    if (name.SequenceEqual("requests_served"u8)) r.RequestsServed = Int(ref reader);
                    break;
                case 16:
                    if (name.SequenceEqual("during_streaming"u8)) r.DuringStreaming = reader.TokenType == JsonTokenType.True;
                    else if (name.SequenceEqual("total_bytes_sent"u8)) r.TotalBytesSent = Int(ref reader);
                    break;
            }
        }
        return false; // the object never ended: a truncated line
    }

    /// <summary>True when the line is of a kind only counted, and its kind is known (set in <paramref name="r"/>).</summary>
    private static bool EnoughToCount(ref LogRecord r, CountOnly countOnly, bool hasEvent)
    {
        if (hasEvent && (countOnly & CountOnly.RequestStarted) != 0 && r.EventName.SequenceEqual("RequestStarted"u8))
        {
            r.Kind = LineKind.RequestStarted;
            return true;
        }
        if (!hasEvent && (countOnly & CountOnly.Access) != 0 && r.Category.SequenceEqual("Pounce.Access"u8))
        {
            r.Kind = LineKind.Access;
            return true;
        }
        return false;
    }

    /// <summary>A line cut short does not end with the object's closing brace.</summary>
    private static bool EndsLikeAnObject(ReadOnlySpan<byte> line)
    {
        line = line.TrimEnd(" \t\r"u8);
        return line.Length > 1 && line[^1] == '}' && line[^2] != '\\';
    }

    private static void Classify(ref LogRecord r, bool hasEvent)
    {
        if (hasEvent)
        {
            r.Kind = EventKinds.Of(r.EventName);
            return;
        }
        if (r.Category.SequenceEqual("Pounce.Access"u8))
            r.Kind = LineKind.Access;
        else if (!r.Category.IsEmpty)
            r.Kind = LineKind.Message;
        else
            r.Kind = LineKind.Other;
    }

    /// <summary>A string value as it is in the line (escapes kept); a number or literal as its text; null as empty.</summary>
    private static ReadOnlySpan<byte> Str(scoped ref Utf8JsonReader reader)
        => reader.TokenType is JsonTokenType.String or JsonTokenType.Number ? reader.ValueSpan : default;

    /// <summary>An integer, also when written as a string (older or foreign writers); -1 when it is neither.</summary>
    private static long Int(ref Utf8JsonReader reader)
    {
        if (!IsPlainScalar(ref reader))
            return -1;
        if (Utf8Parser.TryParse(reader.ValueSpan, out long value, out var consumed) && consumed == reader.ValueSpan.Length)
            return value;
        if (Utf8Parser.TryParse(reader.ValueSpan, out double d, out consumed) && consumed == reader.ValueSpan.Length && double.IsFinite(d))
            return (long)d;
        return -1;
    }

    /// <summary>A number, or a string without escapes, whose bytes can be parsed as they are.</summary>
    private static bool IsPlainScalar(ref Utf8JsonReader reader)
        => reader.TokenType is (JsonTokenType.Number or JsonTokenType.String) && !reader.ValueIsEscaped;

    /// <summary>Milliseconds (<c>286.396</c>) as whole microseconds; -1 when absent or not a number.</summary>
    private static long Micros(ref Utf8JsonReader reader)
    {
        if (!IsPlainScalar(ref reader))
            return -1;
        return ParseMillis(reader.ValueSpan);
    }

    /// <summary>Milliseconds written as <c>12</c> or <c>12.345</c> (fast path) or any number, as whole microseconds; -1 when not a number.</summary>
    internal static long ParseMillis(ReadOnlySpan<byte> s)
    {
        long whole = 0;
        var i = 0;
        while (i < s.Length && (uint)(s[i] - '0') <= 9 && i < 15)
            whole = whole * 10 + (s[i++] - '0');
        if (i > 0 && i == s.Length)
            return whole * 1000;
        if (i > 0 && s[i] == '.' && s.Length - i - 1 is >= 1 and <= 3)
        {
            long frac = 0;
            var digits = 0;
            for (var k = i + 1; k < s.Length; k++, digits++)
            {
                var d = (uint)(s[k] - '0');
                if (d > 9)
                    goto General;
                frac = frac * 10 + d;
            }
            for (; digits < 3; digits++)
                frac *= 10;
            return whole * 1000 + frac;
        }
    General:
        if (Utf8Parser.TryParse(s, out double ms, out var consumed) && consumed == s.Length && double.IsFinite(ms) && ms >= 0)
            return (long)Math.Round(Math.Min(ms, 9e12) * 1000.0, MidpointRounding.AwayFromZero);
        return -1;
    }
}
