using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Pounce.Connections;

namespace Pounce.Logging;

/// <summary>
/// The text access line's fast path, in two steps. When none of the request's strings (client address, method, path,
/// user agent) needs escaping, which is nearly every request, the request's thread copies the line's facts into an
/// <em>access record</em> (its numbers as they are, its strings narrowed to ASCII), and the line is formatted from the
/// record later, by <see cref="LogLineWriter"/>'s own thread as it gathers lines for a write. The request path then
/// does a few copies instead of formatting a date, a duration and seven numbers (about half the line's cost to it).
/// </summary>
/// <remarks>The line is byte for byte what <see cref="TextLineFormatter.WriteAccess(LineBuffer, DateTime, ConnectionInfo,
/// RequestInfo, double, int, bool)"/> writes; a line with anything to escape goes that way instead, on the request's thread.
/// A record is only ever read by the process that wrote it (it is not a file format).</remarks>
internal static class TextAccessLine
{
    /// <summary>
    /// The most the line takes besides its four request strings: the timestamp (28), the literals (under 120), the
    /// status, bytes, duration, request id, connection and worker ids, trace and span ids (at most 166 together):
    /// 312, rounded up. A record is never shorter than those strings, so its line is at most this much longer.
    /// </summary>
    public const int FixedMax = 384;

    private const byte Abandoned = 1;
    private const byte ResponseStarted = 2;
    private const byte HasTrace = 4;
    private const int TraceHexLength = 32;
    private const int SpanHexLength = 16;

    /// <summary>The record's fixed part; its strings follow (address, method, path, agent, then the trace and span ids' hex).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Head
    {
        public long Ticks;
        public double DurationMs;
        public long BytesSent;
        public long ConnectionId;
        public long RequestConnectionId;
        public int Sequence;
        public int WorkerId;
        public int Status;
        public int AddressLength;
        public int MethodLength;
        public int PathLength;
        public int AgentLength; // -1: no User-Agent
        public HttpVersionKind Version;
        public byte Flags;
    }

    /// <summary>
    /// The length of this request's record, or -1 when one of its strings needs escaping (the line must then be
    /// written by <see cref="TextLineFormatter.WriteAccessEscaped"/>).
    /// </summary>
    public static int RecordLength(ConnectionInfo c, RequestInfo r)
    {
        var addr = c.ClientAddress;
        var method = r.Method;
        var path = r.Path;
        var agent = r.UserAgent;
        if (!IsPlain(addr) || !IsPlain(method) || !IsPlain(path) || (agent is not null && !IsPlain(agent)))
            return -1;
        return Unsafe.SizeOf<Head>() + addr.Length + method.Length + path.Length + (agent?.Length ?? 0)
            + (r.HasTrace ? TraceHexLength + SpanHexLength : 0);
    }

    /// <summary>Writes the record of a request whose <see cref="RecordLength"/> was not -1 into
    /// <paramref name="d"/> (at least that long); returns its length.</summary>
    public static int WriteRecord(Span<byte> d, DateTime timestampUtc, ConnectionInfo c, RequestInfo r, double durationMs,
        int status, bool abandoned)
    {
        var addr = c.ClientAddress;
        var method = r.Method;
        var path = r.Path;
        var agent = r.UserAgent;
        var head = new Head
        {
            Ticks = (timestampUtc.Kind == DateTimeKind.Local ? timestampUtc.ToUniversalTime() : timestampUtc).Ticks,
            DurationMs = durationMs,
            BytesSent = r.BytesSent,
            ConnectionId = c.ConnectionId,
            RequestConnectionId = r.ConnectionId,
            Sequence = r.Sequence,
            WorkerId = c.WorkerId,
            Status = status,
            AddressLength = addr.Length,
            MethodLength = method.Length,
            PathLength = path.Length,
            AgentLength = agent?.Length ?? -1,
            Version = r.Version,
            Flags = (byte)((abandoned ? Abandoned : 0) | (r.ResponseStarted ? ResponseStarted : 0) | (r.HasTrace ? HasTrace : 0)),
        };
        MemoryMarshal.Write(d, in head);
        var pos = Unsafe.SizeOf<Head>();
        Narrow(d, ref pos, addr);
        Narrow(d, ref pos, method);
        Narrow(d, ref pos, path);
        if (agent is not null)
            Narrow(d, ref pos, agent);
        if (r.HasTrace)
        {
            pos += LogTimestamp.WriteHex(r.TraceId, d[pos..]);
            pos += LogTimestamp.WriteHex(r.SpanId, d[pos..]);
        }
        return pos;
    }

    /// <summary>Writes the line of <paramref name="record"/> into <paramref name="d"/> (at least
    /// <see cref="FixedMax"/> longer than the record); returns its length.</summary>
    public static int Format(ReadOnlySpan<byte> record, Span<byte> d)
    {
        ref readonly var head = ref MemoryMarshal.AsRef<Head>(record); // read in place (x64 and arm64 read unaligned fields)
        var strings = record[Unsafe.SizeOf<Head>()..];
        var addr = Take(ref strings, head.AddressLength);
        var method = Take(ref strings, head.MethodLength);
        var path = Take(ref strings, head.PathLength);
        var agent = Take(ref strings, Math.Max(head.AgentLength, 0));
        var pos = 0;

        Put(d, ref pos, addr.IsEmpty ? "-"u8 : addr);
        Put(d, ref pos, " - - "u8);
        LogTimestamp.WriteApache(new DateTime(head.Ticks, DateTimeKind.Utc), d[pos..]);
        pos += LogTimestamp.ApacheLength;
        if (method.IsEmpty)
        {
            Put(d, ref pos, " \"-\" "u8);
        }
        else
        {
            Put(d, ref pos, " \""u8);
            Put(d, ref pos, method);
            Put(d, ref pos, " "u8);
            Put(d, ref pos, path);
            Put(d, ref pos, head.Version switch
            {
                HttpVersionKind.Http10 => " HTTP/1.0\" "u8,
                HttpVersionKind.Http2 => " HTTP/2.0\" "u8,
                _ => " HTTP/1.1\" "u8,
            });
        }
        Integer(d, ref pos, head.Status);
        Put(d, ref pos, " "u8);
        if (head.BytesSent == 0)
            Put(d, ref pos, "-"u8);
        else
            Integer(d, ref pos, head.BytesSent);
        Put(d, ref pos, " \"-\" \""u8);
        Put(d, ref pos, head.AgentLength < 0 ? "-"u8 : agent);
        Put(d, ref pos, "\" "u8);
        pos += JsonLineFormatter.FormatMs(head.DurationMs, d[pos..]);
        Put(d, ref pos, " request_id="u8);
        var id = pos;
        RequestInfo.TryFormatRequestId(head.RequestConnectionId, head.Sequence, d[pos..], out var idText, out var idLength);
        pos += idText;
        Put(d, ref pos, " connection_id="u8);
        if (head.ConnectionId == head.RequestConnectionId)
        {
            d.Slice(id, idLength).CopyTo(d[pos..]); // the same number, formatted once
            pos += idLength;
        }
        else
        {
            Integer(d, ref pos, head.ConnectionId);
        }
        Put(d, ref pos, " worker_id="u8);
        Integer(d, ref pos, head.WorkerId);
        if ((head.Flags & Abandoned) != 0)
            Put(d, ref pos, (head.Flags & ResponseStarted) != 0 ? " during_streaming=true"u8 : " during_streaming=false"u8);
        if ((head.Flags & HasTrace) != 0)
        {
            Put(d, ref pos, " trace_id="u8);
            Put(d, ref pos, Take(ref strings, TraceHexLength));
            Put(d, ref pos, " span_id="u8);
            Put(d, ref pos, Take(ref strings, SpanHexLength));
        }
        Put(d, ref pos, "\n"u8);
        return pos;
    }

    /// <summary>Writes the line on the calling thread when its strings are all plain; false (nothing written) otherwise.</summary>
    public static bool TryWrite(LineBuffer output, DateTime timestampUtc, ConnectionInfo c, RequestInfo r, double durationMs,
        int status, bool abandoned)
    {
        var length = RecordLength(c, r);
        if (length < 0)
            return false;
        // The thread keeps a scratch record of 1 KiB; a longer one (a very long path or agent) is rented for the line.
        var record = length <= ScratchSize ? t_record ??= new byte[ScratchSize] : ArrayPool<byte>.Shared.Rent(length);
        WriteRecord(record, timestampUtc, c, r, durationMs, status, abandoned);
        output.Advance(Format(record.AsSpan(0, length), output.GetSpan(FixedMax + length)));
        if (length > ScratchSize)
            ArrayPool<byte>.Shared.Return(record);
        return true;
    }

    private const int ScratchSize = 1024;

    [ThreadStatic]
    private static byte[]? t_record;

    private static bool IsPlain(string value) => value.AsSpan().IndexOfAnyExcept(TextLineFormatter.ApachePlain) < 0;

    private static ReadOnlySpan<byte> Take(ref ReadOnlySpan<byte> strings, int length)
    {
        var taken = strings[..length];
        strings = strings[length..];
        return taken;
    }

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
