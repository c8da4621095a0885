using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>
/// A client that behaves like h2spec's connection (github.com/summerwind/h2spec, spec/connection.go and
/// spec/verifier.go), so each h2spec case can be replayed frame by frame: the same handshake (preface, SETTINGS with
/// INITIAL_WINDOW_SIZE 65535, wait for the server's SETTINGS and its ACK), one HPACK encoder for the connection's
/// header blocks, raw bytes for malformed frames, and the same verdicts. The verdicts are a little stricter than
/// h2spec's: where h2spec also accepts a bare close for a connection or stream error, these want the GOAWAY or
/// RST_STREAM with the expected code. Every wait is bounded by <see cref="Timeout"/>.
/// </summary>
internal sealed class H2SpecClient : IAsyncDisposable
{
    /// <summary>h2spec's default is 2 s; a little more here for a busy test machine.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <summary>h2spec's default <c>--max-header-length</c>: the value length of its dummy headers.</summary>
    public const int MaxHeaderLength = 4000;

    private readonly Http2RawClient _raw;
    private readonly int _port;
    private readonly HpackEncoder _encoder = new();
    private readonly List<RawFrame> _seen = [];

    private H2SpecClient(Http2RawClient raw, int port)
    {
        _raw = raw;
        _port = port;
    }

    /// <summary>The server's SETTINGS as received in the handshake.</summary>
    public Dictionary<Http2SettingId, uint> ServerSettings { get; } = [];

    /// <summary>The server closed the connection (EOF or reset).</summary>
    public bool Closed { get; private set; }

    /// <summary>The server's SETTINGS_MAX_FRAME_SIZE (16384 when not sent).</summary>
    public int MaxFrameSize => ServerSettings.TryGetValue(Http2SettingId.MaxFrameSize, out var size) ? (int)size : 16_384;

    public static async Task<H2SpecClient> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(Timeout);
        return new H2SpecClient(Http2RawClient.FromSocket(socket, Timeout), port);
    }

    // =====================================================================================
    // Sending
    // =====================================================================================

    public Task SendAsync(byte[] bytes) => _raw.SendAsync(bytes);

    /// <summary>Sends raw bytes given as hex (h2spec's <c>conn.Send("\x00\x00...")</c>).</summary>
    public Task SendHexAsync(string hex) => SendAsync(Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal)));

    public Task SendPrefaceAsync() => SendAsync(Http2Connection.ClientPreface.ToArray());

    /// <summary>Any frame, without the checks of our frame writer (wrong stream ids, lengths, flags).</summary>
    public static byte[] Frame(Http2FrameType type, Http2FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[9 + payload.Length];
        bytes[0] = (byte)(payload.Length >> 16);
        bytes[1] = (byte)(payload.Length >> 8);
        bytes[2] = (byte)payload.Length;
        bytes[3] = (byte)type;
        bytes[4] = (byte)flags;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(5), (uint)streamId);
        payload.CopyTo(bytes.AsSpan(9));
        return bytes;
    }

    public Task WriteFrameAsync(Http2FrameType type, Http2FrameFlags flags, int streamId, ReadOnlySpan<byte> payload)
        => SendAsync(Frame(type, flags, streamId, payload));

    public Task WriteSettingsAsync(params (Http2SettingId Id, uint Value)[] settings)
    {
        var payload = new byte[settings.Length * 6];
        for (var i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(i * 6), (ushort)settings[i].Id);
            BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(i * 6 + 2), settings[i].Value);
        }
        return WriteFrameAsync(Http2FrameType.Settings, Http2FrameFlags.None, 0, payload);
    }

    public Task WriteSettingsAckAsync() => WriteFrameAsync(Http2FrameType.Settings, Http2FrameFlags.Ack, 0, []);

    /// <summary>HEADERS, optionally with priority fields and padding (zero octets), like golang.org/x/net/http2's framer.</summary>
    public Task WriteHeadersAsync(int streamId, bool endStream, bool endHeaders, byte[] block, (int Dependency, bool Exclusive, byte Weight)? priority = null, int padLength = 0)
    {
        var flags = (endStream ? Http2FrameFlags.EndStream : 0) | (endHeaders ? Http2FrameFlags.EndHeaders : 0);
        var payload = new List<byte>();
        if (padLength > 0)
        {
            flags |= Http2FrameFlags.Padded;
            payload.Add((byte)padLength);
        }
        if (priority is { } p)
        {
            flags |= Http2FrameFlags.Priority;
            payload.AddRange(PriorityFields(p.Dependency, p.Exclusive, p.Weight));
        }
        payload.AddRange(block);
        payload.AddRange(new byte[padLength]);
        return WriteFrameAsync(Http2FrameType.Headers, flags, streamId, payload.ToArray());
    }

    public Task WriteDataAsync(int streamId, bool endStream, byte[] data) =>
        WriteFrameAsync(Http2FrameType.Data, endStream ? Http2FrameFlags.EndStream : 0, streamId, data);

    /// <summary>DATA with the PADDED flag: pad length octet, data, then <paramref name="padding"/> (h2spec sends "padded").</summary>
    public Task WriteDataPaddedAsync(int streamId, bool endStream, byte[] data, byte[] padding) =>
        WriteFrameAsync(Http2FrameType.Data, (endStream ? Http2FrameFlags.EndStream : 0) | Http2FrameFlags.Padded, streamId,
            [(byte)padding.Length, .. data, .. padding]);

    public Task WritePriorityAsync(int streamId, int dependency, bool exclusive, byte weight) =>
        WriteFrameAsync(Http2FrameType.Priority, 0, streamId, PriorityFields(dependency, exclusive, weight));

    public Task WriteRstStreamAsync(int streamId, uint code)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, code);
        return WriteFrameAsync(Http2FrameType.RstStream, 0, streamId, payload);
    }

    public Task WritePingAsync(bool ack, byte[] data) => WriteFrameAsync(Http2FrameType.Ping, ack ? Http2FrameFlags.Ack : 0, 0, data);

    public Task WriteGoAwayAsync(int lastStreamId, uint code, byte[] debugData)
    {
        var payload = new byte[8 + debugData.Length];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)lastStreamId);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4), code);
        debugData.CopyTo(payload.AsSpan(8));
        return WriteFrameAsync(Http2FrameType.GoAway, 0, 0, payload);
    }

    public Task WriteWindowUpdateAsync(int streamId, uint increment)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, increment);
        return WriteFrameAsync(Http2FrameType.WindowUpdate, 0, streamId, payload);
    }

    public Task WriteContinuationAsync(int streamId, bool endHeaders, byte[] block) =>
        WriteFrameAsync(Http2FrameType.Continuation, endHeaders ? Http2FrameFlags.EndHeaders : 0, streamId, block);

    public Task WritePushPromiseAsync(int streamId, int promisedId, byte[] block)
    {
        var payload = new byte[4 + block.Length];
        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)promisedId);
        block.CopyTo(payload.AsSpan(4));
        return WriteFrameAsync(Http2FrameType.PushPromise, Http2FrameFlags.EndHeaders, streamId, payload);
    }

    private static byte[] PriorityFields(int dependency, bool exclusive, byte weight)
    {
        var fields = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(fields, (uint)dependency | (exclusive ? 0x8000_0000u : 0));
        fields[4] = weight;
        return fields;
    }

    // =====================================================================================
    // Header blocks
    // =====================================================================================

    /// <summary>Encodes fields with the connection's encoder (its dynamic table carries over, as h2spec's does).</summary>
    public byte[] EncodeHeaders(params (string Name, string Value)[] fields)
    {
        var buffer = new ArrayBufferWriter<byte>();
        _encoder.BeginHeaderBlock(buffer);
        foreach (var (name, value) in fields)
            _encoder.EncodeHeader(Encoding.Latin1.GetBytes(name), Encoding.Latin1.GetBytes(value), buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>h2spec's <c>CommonHeaders</c>: GET / over http with the server's address as :authority.</summary>
    public (string Name, string Value)[] CommonHeaders(string method = "GET") =>
        [(":method", method), (":scheme", "http"), (":path", "/"), (":authority", $"127.0.0.1:{_port}")];

    /// <summary>h2spec's <c>DummyHeaders</c>: x-dummy0.. with values of <see cref="MaxHeaderLength"/> 'x'.</summary>
    public static (string Name, string Value)[] DummyHeaders(int count)
    {
        var value = new string('x', MaxHeaderLength);
        var fields = new (string, string)[count];
        for (var i = 0; i < count; i++)
            fields[i] = ($"x-dummy{i}", value);
        return fields;
    }

    // =====================================================================================
    // Handshake
    // =====================================================================================

    /// <summary>h2spec's <c>Handshake</c>: preface, SETTINGS, then the server's SETTINGS (ACKed) and the ACK of ours.</summary>
    public async Task HandshakeAsync()
    {
        await SendPrefaceAsync();
        await WriteSettingsAsync((Http2SettingId.InitialWindowSize, 65_535));
        bool local = false, remote = false;
        while (!(local && remote))
        {
            var frame = await NextFrameAsync() ?? throw Fail("the handshake's SETTINGS", "connection closed");
            if (frame.Type != Http2FrameType.Settings)
                continue;
            if (frame.Has(Http2FrameFlags.Ack))
            {
                local = true;
                continue;
            }
            remote = true;
            for (var i = 0; i + 6 <= frame.Payload.Length; i += 6)
                ServerSettings[(Http2SettingId)BinaryPrimitives.ReadUInt16BigEndian(frame.Payload.AsSpan(i))] = BinaryPrimitives.ReadUInt32BigEndian(frame.Payload.AsSpan(i + 2));
            await WriteSettingsAckAsync();
        }
        _seen.Clear();
    }

    // =====================================================================================
    // Verdicts (spec/verifier.go)
    // =====================================================================================

    /// <summary>A connection error: GOAWAY with one of <paramref name="codes"/> (other frames before it are skipped), then the close.</summary>
    public async Task VerifyConnectionErrorAsync(params Http2ErrorCode[] codes)
    {
        var what = $"GOAWAY ({string.Join(" or ", codes)})";
        while (true)
        {
            var frame = await NextFrameAsync() ?? throw Fail(what, "connection closed without GOAWAY");
            if (frame.Type != Http2FrameType.GoAway)
                continue;
            if (!codes.Contains(frame.GoAwayCode))
                throw Fail(what, frame.ToString());
            await VerifyConnectionCloseAsync();
            return;
        }
    }

    /// <summary>A stream error: RST_STREAM (or GOAWAY) with one of <paramref name="codes"/>; RST_STREAM frames with other codes are skipped, as in h2spec.</summary>
    public async Task VerifyStreamErrorAsync(params Http2ErrorCode[] codes)
    {
        var what = $"RST_STREAM or GOAWAY ({string.Join(" or ", codes)})";
        while (true)
        {
            var frame = await NextFrameAsync() ?? throw Fail(what, "connection closed");
            if (frame.Type == Http2FrameType.GoAway)
            {
                if (!codes.Contains(frame.GoAwayCode))
                    throw Fail(what, frame.ToString());
                return;
            }
            if (frame.Type == Http2FrameType.RstStream && codes.Contains(frame.RstCode))
                return;
        }
    }

    /// <summary>The server closes the connection (frames before the close are skipped).</summary>
    public async Task VerifyConnectionCloseAsync()
    {
        while (await NextFrameAsync() is not null)
        {
        }
    }

    /// <summary>Reads whatever comes (not necessarily frames: an HTTP/1.1 answer to a bad preface) until the close.</summary>
    public async Task DrainUntilCloseAsync()
    {
        if (!await _raw.DrainUntilCloseAsync())
            throw Fail("the close", $"nothing within {Timeout.TotalSeconds} s");
        Closed = true;
    }

    /// <summary>A frame with END_STREAM (DATA or HEADERS) or RST_STREAM NO_ERROR.</summary>
    public async Task VerifyStreamCloseAsync()
    {
        while (true)
        {
            var frame = await NextFrameAsync() ?? throw Fail("the end of the stream", "connection closed");
            if ((frame.Type is Http2FrameType.Data or Http2FrameType.Headers && frame.Has(Http2FrameFlags.EndStream))
                || (frame.Type == Http2FrameType.RstStream && frame.RstCode == Http2ErrorCode.NoError))
            {
                return;
            }
        }
    }

    /// <summary>The first frame of <paramref name="type"/> (h2spec's <c>WaitEventByType</c>).</summary>
    public async Task<RawFrame> ExpectFrameAsync(Http2FrameType type)
    {
        while (true)
        {
            var frame = await NextFrameAsync() ?? throw Fail(type.ToString(), "connection closed");
            if (frame.Type == type)
                return frame;
        }
    }

    /// <summary>The first HEADERS frame is on <paramref name="streamId"/>.</summary>
    public async Task VerifyHeadersFrameAsync(int streamId)
    {
        var frame = await ExpectFrameAsync(Http2FrameType.Headers);
        if (frame.StreamId != streamId)
            throw Fail($"HEADERS on stream {streamId}", frame.ToString());
    }

    /// <summary>The first PING frame is the ACK of <paramref name="data"/>.</summary>
    public async Task VerifyPingAckAsync(byte[] data)
    {
        var frame = await ExpectFrameAsync(Http2FrameType.Ping);
        if (!frame.Has(Http2FrameFlags.Ack) || !frame.Payload.AsSpan().SequenceEqual(data))
            throw Fail("PING ACK with our data", frame.ToString());
    }

    /// <summary>A PING ACK with <paramref name="data"/>, or the close.</summary>
    public async Task VerifyPingAckOrCloseAsync(byte[] data)
    {
        while (await NextFrameAsync() is { } frame)
        {
            if (frame.Type == Http2FrameType.Ping && frame.Has(Http2FrameFlags.Ack) && frame.Payload.AsSpan().SequenceEqual(data))
                return;
        }
    }

    /// <summary>The first SETTINGS frame is an ACK.</summary>
    public async Task VerifySettingsAckAsync()
    {
        var frame = await ExpectFrameAsync(Http2FrameType.Settings);
        if (!frame.Has(Http2FrameFlags.Ack))
            throw Fail("SETTINGS ACK", frame.ToString());
    }

    /// <summary>The first DATA frame is <paramref name="length"/> octets long.</summary>
    public async Task VerifyDataLengthAsync(int length)
    {
        var frame = await ExpectFrameAsync(Http2FrameType.Data);
        if (frame.Payload.Length != length)
            throw Fail($"DATA of length {length}", frame.ToString());
    }

    // =====================================================================================
    // Reading
    // =====================================================================================

    /// <summary>The next frame, or null once the server closed the connection (EOF or reset, as h2spec counts a close); a timeout fails the test.</summary>
    public async Task<RawFrame?> NextFrameAsync()
    {
        if (Closed)
            return null;
        RawFrame frame;
        try
        {
            frame = await _raw.ReadFrameAsync();
        }
        catch (Exception ex) when (ex is EndOfStreamException or SocketException)
        {
            Closed = true;
            return null;
        }
        catch (TimeoutException)
        {
            throw Fail("a frame or the close", $"nothing within {Timeout.TotalSeconds} s");
        }
        _seen.Add(frame);
        return frame;
    }

    private Xunit.Sdk.XunitException Fail(string expected, string actual) =>
        new($"Expected {expected}; got {actual}. Frames received: {(_seen.Count == 0 ? "none" : string.Join("; ", _seen))}");

    public ValueTask DisposeAsync() => _raw.DisposeAsync();
}
