using System.Buffers.Binary;
using System.Text;

namespace Pounce.Tests.WebSockets;

/// <summary>WebSocket opcodes (RFC 6455 5.2).</summary>
internal static class Opcode
{
    public const byte Continuation = 0x0;
    public const byte Text = 0x1;
    public const byte Binary = 0x2;
    public const byte Close = 0x8;
    public const byte Ping = 0x9;
    public const byte Pong = 0xA;
}

/// <summary>One frame as the test client read it.</summary>
internal sealed record WsFrame(bool Fin, byte Opcode, byte[] Payload, byte Rsv = 0)
{
    /// <summary>The status code of a Close frame, or null when it has none.</summary>
    public int? CloseCode => Opcode == WebSockets.Opcode.Close && Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Payload) : null;

    public string Text => Encoding.UTF8.GetString(Payload);

    public override string ToString() => $"opcode={Opcode} fin={Fin} len={Payload.Length}" + (CloseCode is { } c ? $" close={c}" : "");
}

/// <summary>
/// A tiny client-side WebSocket framer (RFC 6455 5.2), for tests that need exact frames on the wire: splits, bad
/// masks, invalid payloads. Builds client frames (masked unless told otherwise) and parses whatever comes back.
/// </summary>
internal static class WebSocketWire
{
    private static readonly byte[] DefaultMask = [0x37, 0xfa, 0x21, 0x3d];

    /// <summary>One frame; masked with a fixed key unless <paramref name="masked"/> is false.</summary>
    public static byte[] Frame(byte opcode, ReadOnlySpan<byte> payload, bool fin = true, bool masked = true, byte rsv = 0)
    {
        var lengthBytes = payload.Length < 126 ? 0 : payload.Length <= ushort.MaxValue ? 2 : 8;
        var frame = new byte[2 + lengthBytes + (masked ? 4 : 0) + payload.Length];
        frame[0] = (byte)((fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | (opcode & 0x0F));
        var maskBit = masked ? 0x80 : 0;
        var i = 2;
        switch (lengthBytes)
        {
            case 0:
                frame[1] = (byte)(maskBit | payload.Length);
                break;
            case 2:
                frame[1] = (byte)(maskBit | 126);
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
                i += 2;
                break;
            default:
                frame[1] = (byte)(maskBit | 127);
                BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
                i += 8;
                break;
        }
        if (!masked)
        {
            payload.CopyTo(frame.AsSpan(i));
            return frame;
        }
        DefaultMask.CopyTo(frame.AsSpan(i));
        i += 4;
        for (var k = 0; k < payload.Length; k++)
            frame[i + k] = (byte)(payload[k] ^ DefaultMask[k & 3]);
        return frame;
    }

    public static byte[] Text(string text, bool fin = true) => Frame(Opcode.Text, Encoding.UTF8.GetBytes(text), fin);

    /// <summary>A Close frame with a status code and a reason (raw bytes, so invalid UTF-8 can be sent).</summary>
    public static byte[] Close(int code, ReadOnlySpan<byte> reason = default)
    {
        var payload = new byte[2 + reason.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        reason.CopyTo(payload.AsSpan(2));
        return Frame(Opcode.Close, payload);
    }
}

/// <summary>Parses frames out of the chunks a transport delivers (empty chunk: the transport ended).</summary>
internal sealed class WsFrameReader
{
    private readonly Func<Task<byte[]>> _next;
    private byte[] _buffer = new byte[4096];
    private int _start;
    private int _end;

    public WsFrameReader(Func<Task<byte[]>> next) => _next = next;

    /// <summary>The next frame, or null when the transport ended first.</summary>
    public async Task<WsFrame?> ReadAsync()
    {
        while (true)
        {
            if (TryParse(out var frame))
                return frame;
            var chunk = await _next();
            if (chunk.Length == 0)
                return null;
            var used = _end - _start;
            if (_buffer.Length - used < chunk.Length)
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, used + chunk.Length));
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, used);
            chunk.CopyTo(_buffer, used);
            _start = 0;
            _end = used + chunk.Length;
        }
    }

    /// <summary>Reads frames until one of <paramref name="opcode"/>; fails (listing what came) at the end of the transport.</summary>
    public async Task<WsFrame> ExpectAsync(byte opcode)
    {
        var seen = new List<WsFrame>();
        while (true)
        {
            var frame = await ReadAsync() ?? throw new Xunit.Sdk.XunitException(
                $"Expected a frame with opcode {opcode}; the transport ended after: {string.Join("; ", seen)}");
            if (frame.Opcode == opcode)
                return frame;
            seen.Add(frame);
        }
    }

    /// <summary>Reads data frames until FIN and returns the message's payload.</summary>
    public async Task<byte[]> ReadMessageAsync()
    {
        var message = new MemoryStream();
        while (true)
        {
            var frame = await ReadAsync() ?? throw new Xunit.Sdk.XunitException("The transport ended inside a message.");
            if (frame.Opcode is Opcode.Ping or Opcode.Pong)
                continue;
            if (frame.Opcode == Opcode.Close)
                throw new Xunit.Sdk.XunitException($"Close {frame.CloseCode} inside a message.");
            message.Write(frame.Payload);
            if (frame.Fin)
                return message.ToArray();
        }
    }

    private bool TryParse(out WsFrame frame)
    {
        frame = null!;
        var span = _buffer.AsSpan(_start, _end - _start);
        if (span.Length < 2)
            return false;
        var masked = (span[1] & 0x80) != 0;
        long length = span[1] & 0x7F;
        var header = 2;
        if (length == 126)
        {
            if (span.Length < 4)
                return false;
            length = BinaryPrimitives.ReadUInt16BigEndian(span[2..]);
            header = 4;
        }
        else if (length == 127)
        {
            if (span.Length < 10)
                return false;
            length = (long)BinaryPrimitives.ReadUInt64BigEndian(span[2..]);
            header = 10;
        }
        var maskAt = header;
        if (masked)
            header += 4;
        if (span.Length < header + length)
            return false;
        var payload = span.Slice(header, (int)length).ToArray();
        if (masked)
        {
            for (var k = 0; k < payload.Length; k++)
                payload[k] ^= span[maskAt + (k & 3)];
        }
        frame = new WsFrame((span[0] & 0x80) != 0, (byte)(span[0] & 0x0F), payload, (byte)((span[0] >> 4) & 0x7));
        _start += header + (int)length;
        return true;
    }
}
