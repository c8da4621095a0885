using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;
using Pounce.Connections;

namespace Pounce.Logging;

/// <summary>
/// The text access line's fast path. When none of the request's strings (client address, method, path, user agent)
/// needs escaping, which is nearly every request, the line's length has a known bound: it is written into one span
/// taken from the buffer once, field after field, rather than asking the buffer for room and advancing it for each of
/// its twenty-odd pieces (the access line is written once per request, on the request's thread).
/// </summary>
/// <remarks>The output is byte for byte what <see cref="TextLineFormatter.WriteAccess(LineBuffer, DateTime, ConnectionInfo,
/// RequestInfo, double, int, bool)"/> writes; a line with anything to escape goes that way instead.</remarks>
internal static class TextAccessLine
{
    /// <summary>
    /// The most the line takes besides its four request strings: the timestamp (28), the literals (under 120), the
    /// status, bytes, duration, request id, connection and worker ids, trace and span ids (at most 166 together):
    /// 312, rounded up.
    /// </summary>
    private const int FixedMax = 384;

    /// <summary>Writes the line when its strings are all plain; false (nothing written) otherwise.</summary>
    public static bool TryWrite(LineBuffer output, DateTime timestampUtc, ConnectionInfo c, RequestInfo r, double durationMs,
        int status, bool abandoned)
    {
        var addr = c.ClientAddress;
        var method = r.Method;
        var path = r.Path;
        var agent = r.UserAgent;
        if (!IsPlain(addr) || !IsPlain(method) || !IsPlain(path) || (agent is not null && !IsPlain(agent)))
            return false;
        var d = output.GetSpan(FixedMax + addr.Length + method.Length + path.Length + (agent?.Length ?? 0));
        var pos = 0;

        if (addr.Length == 0)
            Put(d, ref pos, "-"u8);
        else
            Narrow(d, ref pos, addr);
        Put(d, ref pos, " - - "u8);
        LogTimestamp.WriteApache(timestampUtc, d[pos..]);
        pos += LogTimestamp.ApacheLength;
        if (method.Length == 0)
        {
            Put(d, ref pos, " \"-\" "u8);
        }
        else
        {
            var known = TextLineFormatter.KnownMethod(method);
            if (known.IsEmpty)
            {
                Put(d, ref pos, " \""u8);
                Narrow(d, ref pos, method);
                Put(d, ref pos, " "u8);
            }
            else
            {
                known.CopyTo(d[pos..]);
                pos += known.Length;
            }
            Narrow(d, ref pos, path);
            Put(d, ref pos, r.Version switch
            {
                HttpVersionKind.Http10 => " HTTP/1.0\" "u8,
                HttpVersionKind.Http2 => " HTTP/2.0\" "u8,
                _ => " HTTP/1.1\" "u8,
            });
        }
        Integer(d, ref pos, status);
        Put(d, ref pos, " "u8);
        if (r.BytesSent == 0)
            Put(d, ref pos, "-"u8);
        else
            Integer(d, ref pos, r.BytesSent);
        Put(d, ref pos, " \"-\" \""u8);
        if (agent is null)
            Put(d, ref pos, "-"u8);
        else
            Narrow(d, ref pos, agent);
        Put(d, ref pos, "\" "u8);
        pos += JsonLineFormatter.FormatMs(durationMs, d[pos..]);
        Put(d, ref pos, " request_id="u8);
        if (r.TryFormatRequestId(d[pos..], out var n))
            pos += n;
        Put(d, ref pos, " connection_id="u8);
        Integer(d, ref pos, c.ConnectionId);
        Put(d, ref pos, " worker_id="u8);
        Integer(d, ref pos, c.WorkerId);
        if (abandoned)
            Put(d, ref pos, r.ResponseStarted ? " during_streaming=true"u8 : " during_streaming=false"u8);
        if (r.HasTrace)
        {
            Put(d, ref pos, " trace_id="u8);
            pos += LogTimestamp.WriteHex(r.TraceId, d[pos..]);
            Put(d, ref pos, " span_id="u8);
            pos += LogTimestamp.WriteHex(r.SpanId, d[pos..]);
        }
        Put(d, ref pos, "\n"u8);
        output.Advance(pos);
        return true;
    }

    private static bool IsPlain(string value) => value.AsSpan().IndexOfAnyExcept(TextLineFormatter.ApachePlain) < 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(Span<byte> d, ref int pos, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(d[pos..]);
        pos += bytes.Length;
    }

    // Plain (checked): printable ASCII, one byte per character.
    private static void Narrow(Span<byte> d, ref int pos, string value)
    {
        Ascii.FromUtf16(value, d[pos..], out var n);
        pos += n;
    }

    private static void Integer(Span<byte> d, ref int pos, long value)
    {
        Utf8Formatter.TryFormat(value, d[pos..], out var n);
        pos += n;
    }
}
