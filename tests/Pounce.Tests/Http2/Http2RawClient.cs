using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>One frame as the raw client read it.</summary>
internal sealed record RawFrame(Http2FrameType Type, Http2FrameFlags Flags, int StreamId, byte[] Payload)
{
    public bool Has(Http2FrameFlags flag) => (Flags & flag) == flag;

    public Http2ErrorCode GoAwayCode => (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload.AsSpan(4));

    public int GoAwayLastStreamId => (int)(BinaryPrimitives.ReadUInt32BigEndian(Payload) & 0x7FFFFFFF);

    public Http2ErrorCode RstCode => (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload);

    /// <summary>The values of a SETTINGS frame, by identifier.</summary>
    public Dictionary<int, uint> SettingsValues()
    {
        var values = new Dictionary<int, uint>();
        for (var i = 0; i + 6 <= Payload.Length; i += 6)
            values[BinaryPrimitives.ReadUInt16BigEndian(Payload.AsSpan(i))] = BinaryPrimitives.ReadUInt32BigEndian(Payload.AsSpan(i + 2));
        return values;
    }

    public override string ToString() => $"{Type} flags=0x{(byte)Flags:x2} stream={StreamId} len={Payload.Length}"
        + (Type == Http2FrameType.GoAway ? $" code={GoAwayCode}" : Type == Http2FrameType.RstStream ? $" code={RstCode}" : "");
}

/// <summary>
/// A socket speaking HTTP/2 frame by frame, written with our own codec: for malformed inputs and floods. Every wait
/// is bounded.
/// </summary>
internal sealed class Http2RawClient : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
    private readonly Socket _socket;
    private readonly HpackEncoder _encoder = new();
    private readonly HpackDecoder _decoder = new(4096, 1 << 20);
    private readonly byte[] _buffer = new byte[1 << 20];
    private readonly Dictionary<int, CollectingHeaderHandler> _headers = new();
    private int _start;
    private int _end;

    private Http2RawClient(Socket socket, TimeSpan? readTimeout = null)
    {
        _socket = socket;
        ReadTimeout = readTimeout ?? Timeout;
    }

    /// <summary>How long a read waits for the server before <see cref="TimeoutException"/>.</summary>
    public TimeSpan ReadTimeout { get; }

    public static async Task<Http2RawClient> ConnectAsync(int port, bool handshake = true)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var client = new Http2RawClient(socket);
        if (handshake)
        {
            await client.SendAsync(Http2Connection.ClientPreface.ToArray());
            await client.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, []));
            // Their SETTINGS first; ACK it.
            var settings = await client.ReadFrameAsync();
            Assert.Equal(Http2FrameType.Settings, settings.Type);
            Assert.False(settings.Has(Http2FrameFlags.Ack));
            await client.SendFrameAsync(Http2FrameWriter.WriteSettingsAck);
        }
        return client;
    }

    /// <summary>Takes over a socket already past an HTTP/1.1 exchange (h2c Upgrade), without the handshake.</summary>
    public static Http2RawClient FromSocket(Socket socket, TimeSpan? readTimeout = null) => new(socket, readTimeout);

    public Task SendAsync(byte[] bytes) => _socket.SendAsync(bytes, SocketFlags.None).WaitAsync(Timeout);

    public Task SendAsync(ReadOnlyMemory<byte> bytes) => _socket.SendAsync(bytes, SocketFlags.None).AsTask().WaitAsync(Timeout);

    public async Task SendFrameAsync(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        await SendAsync(buffer.WrittenSpan.ToArray());
    }

    /// <summary>Encodes a request header block (fields given in order, names as given).</summary>
    public byte[] Encode(params (string Name, string Value)[] fields)
    {
        var buffer = new ArrayBufferWriter<byte>();
        _encoder.BeginHeaderBlock(buffer);
        foreach (var (name, value) in fields)
            _encoder.EncodeHeader(Encoding.Latin1.GetBytes(name), Encoding.Latin1.GetBytes(value), buffer);
        return buffer.WrittenSpan.ToArray();
    }

    public static (string, string)[] Get(string path = "/") => [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", "localhost")];

    public static (string, string)[] Post(string path = "/") => [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost")];

    public Task SendHeadersAsync(int streamId, bool endStream, params (string Name, string Value)[] fields)
    {
        var block = Encode(fields);
        return SendFrameAsync(w => Http2FrameWriter.WriteHeaders(w, streamId, block, endStream, endHeaders: true));
    }

    public Task SendDataAsync(int streamId, byte[] data, bool endStream)
        => SendFrameAsync(w => Http2FrameWriter.WriteData(w, streamId, data, endStream));

    public async Task<RawFrame> ReadFrameAsync()
    {
        await FillAsync(9);
        var header = Http2FrameHeader.Read(_buffer.AsSpan(_start, 9));
        await FillAsync(9 + header.Length);
        var payload = _buffer.AsSpan(_start + 9, header.Length).ToArray();
        _start += 9 + header.Length;
        var frame = new RawFrame(header.Type, header.Flags, header.StreamId, payload);
        if (frame.Type is Http2FrameType.Headers or Http2FrameType.Continuation)
        {
            // Every header block is decoded in order, whoever waits for it, to keep HPACK in step.
            if (!_headers.TryGetValue(frame.StreamId, out var handler))
                _headers[frame.StreamId] = handler = new CollectingHeaderHandler();
            var fragment = payload.AsSpan();
            if (frame.Type == Http2FrameType.Headers)
            {
                var pad = frame.Has(Http2FrameFlags.Padded) ? fragment[0] : 0;
                fragment = fragment[(frame.Has(Http2FrameFlags.Padded) ? 1 : 0)..];
                if (frame.Has(Http2FrameFlags.Priority))
                    fragment = fragment[5..];
                fragment = fragment[..^pad];
            }
            _decoder.Decode(fragment, frame.Has(Http2FrameFlags.EndHeaders), handler);
        }
        return frame;
    }

    /// <summary>Reads frames until one matches; returns it. Fails on timeout or EOF.</summary>
    public async Task<RawFrame> ExpectAsync(Func<RawFrame, bool> match, string what)
    {
        var seen = new List<RawFrame>();
        while (true)
        {
            RawFrame frame;
            try
            {
                frame = await ReadFrameAsync();
            }
            catch (Exception ex) when (ex is EndOfStreamException or TimeoutException or SocketException)
            {
                throw new Xunit.Sdk.XunitException($"Expected {what}, got {ex.GetType().Name}. Frames: {string.Join("; ", seen)}");
            }
            seen.Add(frame);
            if (match(frame))
                return frame;
        }
    }

    public Task<RawFrame> ExpectGoAwayAsync() => ExpectAsync(f => f.Type == Http2FrameType.GoAway, "GOAWAY");

    public async Task ExpectGoAwayAsync(Http2ErrorCode code)
    {
        var frame = await ExpectGoAwayAsync();
        Assert.Equal(code, frame.GoAwayCode);
    }

    public async Task ExpectResetAsync(int streamId, Http2ErrorCode code)
    {
        var frame = await ExpectAsync(f => (f.Type == Http2FrameType.RstStream && f.StreamId == streamId) || f.Type == Http2FrameType.GoAway,
            $"RST_STREAM on {streamId}");
        Assert.Equal(Http2FrameType.RstStream, frame.Type);
        Assert.Equal(code, frame.RstCode);
    }

    /// <summary>Reads the response of one stream: decoded header fields and body, until END_STREAM.</summary>
    public async Task<(List<(string Name, string Value)> Headers, byte[] Body)> ReadResponseAsync(int streamId)
    {
        var body = new MemoryStream();
        while (true)
        {
            var frame = await ExpectAsync(f => f.StreamId == streamId || f.Type == Http2FrameType.GoAway, $"a frame of stream {streamId}");
            if (frame.Type == Http2FrameType.GoAway)
                throw new Xunit.Sdk.XunitException("GOAWAY " + frame.GoAwayCode);
            if (frame.Type == Http2FrameType.Data)
                body.Write(frame.Payload);
            else if (frame.Type == Http2FrameType.RstStream)
                throw new Xunit.Sdk.XunitException("RST_STREAM " + frame.RstCode);
            if (frame.Has(Http2FrameFlags.EndStream))
                return (_headers.TryGetValue(streamId, out var handler) ? handler.Headers : [], body.ToArray());
        }
    }

    /// <summary>GET <paramref name="path"/> on a new stream and expect a 200: the connection still serves.</summary>
    public async Task AssertServesAsync(int streamId, string path = "/")
    {
        await SendHeadersAsync(streamId, true, Get(path));
        var (headers, _) = await ReadResponseAsync(streamId);
        Assert.Contains((":status", "200"), headers);
    }

    /// <summary>The decoded header fields received so far on a stream (its HEADERS, and trailers if any).</summary>
    public List<(string Name, string Value)> HeadersOf(int streamId) => _headers.TryGetValue(streamId, out var handler) ? handler.Headers : [];

    /// <summary>True when the server closed the connection (EOF or reset) within the timeout.</summary>
    public async Task<bool> WaitForCloseAsync()
    {
        try
        {
            while (true)
                await ReadFrameAsync();
        }
        catch (EndOfStreamException)
        {
            return true;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Reads whatever comes (not necessarily frames) until the server closes; false on timeout.</summary>
    public async Task<bool> DrainUntilCloseAsync()
    {
        try
        {
            while (true)
            {
                _start = _end = 0;
                await FillAsync(1);
            }
        }
        catch (Exception ex) when (ex is EndOfStreamException or SocketException)
        {
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private async Task FillAsync(int count)
    {
        if (_end - _start >= count)
            return;
        if (count > _buffer.Length)
            throw new InvalidDataException($"A frame of {count} octets does not fit the client's buffer.");
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        using var cts = new CancellationTokenSource(ReadTimeout);
        while (_end - _start < count)
        {
            int n;
            try
            {
                n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("No frame from the server in time.");
            }
            if (n == 0)
                throw new EndOfStreamException();
            _end += n;
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return default;
    }
}
