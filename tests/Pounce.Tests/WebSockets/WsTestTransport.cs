using Pounce.Http2;
using Pounce.Tests.Http2;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.WebSockets;

/// <summary>
/// A WebSocket opened by hand, so tests can put exact frames on the wire: over HTTP/1.1 (a raw socket after the 101)
/// or over HTTP/2 (a raw HTTP/2 connection, the WebSocket on stream 1 after an extended CONNECT answered 200).
/// </summary>
internal abstract class WsTestTransport : IAsyncDisposable
{
    public const int StreamId = 1;

    /// <summary>The server's frames.</summary>
    public WsFrameReader Reader { get; protected init; } = null!;

    /// <summary>Sends bytes in one piece: one socket send (HTTP/1.1) or one DATA frame (HTTP/2).</summary>
    public abstract Task SendAsync(byte[] bytes);

    /// <summary>Ends the client's side without a close handshake: FIN (HTTP/1.1) or END_STREAM (HTTP/2).</summary>
    public abstract Task EndAsync();

    /// <summary>Vanishes: TCP reset (HTTP/1.1) or RST_STREAM CANCEL (HTTP/2).</summary>
    public abstract Task ResetAsync();

    public abstract ValueTask DisposeAsync();

    public static async Task<WsTestTransport> OpenAsync(string protocol, TestServer server, string path = "/ws") => protocol switch
    {
        "h1" => await Http1.OpenAsync(server, path),
        "h2" => await Http2.OpenAsync(server, path),
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, "h1 or h2"),
    };

    /// <summary>The fields of an RFC 8441 extended CONNECT for a WebSocket.</summary>
    public static (string, string)[] ExtendedConnect(string path = "/ws", string protocol = "websocket") =>
        [(":method", "CONNECT"), (":protocol", protocol), (":scheme", "http"), (":path", path), (":authority", "localhost"),
         ("sec-websocket-version", "13")];

    private sealed class Http1 : WsTestTransport
    {
        private readonly RawClient _raw;

        private Http1(RawClient raw)
        {
            _raw = raw;
            Reader = new WsFrameReader(() => _raw.ReadAvailableAsync());
        }

        public static async Task<WsTestTransport> OpenAsync(TestServer server, string path)
        {
            var raw = await server.ConnectAsync();
            await raw.SendAsync(WebSocketTests.HandshakeRequest(path));
            var response = await raw.ReadResponseAsync();
            Assert.True(response.Status == 101, $"expected 101, got {response.StatusLine}");
            return new Http1(raw);
        }

        public override Task SendAsync(byte[] bytes) => _raw.SendAsync(bytes);

        public override Task EndAsync()
        {
            _raw.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            return Task.CompletedTask;
        }

        public override Task ResetAsync()
        {
            _raw.Reset();
            return Task.CompletedTask;
        }

        public override ValueTask DisposeAsync() => _raw.DisposeAsync();
    }

    private sealed class Http2 : WsTestTransport
    {
        private readonly Http2RawClient _raw;
        private bool _ended;

        private Http2(Http2RawClient raw)
        {
            _raw = raw;
            Reader = new WsFrameReader(NextDataAsync);
        }

        public static async Task<WsTestTransport> OpenAsync(TestServer server, string path)
        {
            var raw = await Http2RawClient.ConnectAsync(server.Port);
            await raw.SendHeadersAsync(StreamId, false, ExtendedConnect(path));
            var headers = await raw.ExpectAsync(f => (f.StreamId == StreamId && f.Type is Http2FrameType.Headers or Http2FrameType.RstStream)
                || f.Type == Http2FrameType.GoAway, "the response HEADERS of the extended CONNECT");
            Assert.Equal(Http2FrameType.Headers, headers.Type);
            Assert.Contains((":status", "200"), raw.HeadersOf(StreamId));
            Assert.False(headers.Has(Http2FrameFlags.EndStream), "the 200 of an extended CONNECT must leave the stream open");
            return new Http2(raw);
        }

        /// <summary>The next DATA payload of the stream (granting the window back at once); empty once it ended.</summary>
        private async Task<byte[]> NextDataAsync()
        {
            while (!_ended)
            {
                RawFrame frame;
                try
                {
                    frame = await _raw.ExpectAsync(f => f.StreamId == StreamId || f.Type == Http2FrameType.GoAway, "a frame of the WebSocket stream");
                }
                catch (Xunit.Sdk.XunitException)
                {
                    _ended = true; // the connection ended
                    break;
                }
                _ended = frame.Has(Http2FrameFlags.EndStream) || frame.Type is Http2FrameType.RstStream or Http2FrameType.GoAway;
                if (frame.Type != Http2FrameType.Data || frame.Payload.Length == 0)
                    continue;
                await _raw.SendFrameAsync(w =>
                {
                    Http2FrameWriter.WriteWindowUpdate(w, 0, frame.Payload.Length);
                    Http2FrameWriter.WriteWindowUpdate(w, StreamId, frame.Payload.Length);
                });
                return frame.Payload;
            }
            return [];
        }

        public override Task SendAsync(byte[] bytes) => _raw.SendDataAsync(StreamId, bytes, endStream: false);

        public override Task EndAsync() => _raw.SendDataAsync(StreamId, [], endStream: true);

        public override Task ResetAsync() => _raw.SendFrameAsync(w => Http2FrameWriter.WriteRstStream(w, StreamId, Http2ErrorCode.Cancel));

        public override ValueTask DisposeAsync() => _raw.DisposeAsync();
    }
}
