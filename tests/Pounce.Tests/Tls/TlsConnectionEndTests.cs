using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Pounce.Tests.LifecycleE2E;
using Xunit;

namespace Pounce.Tests.Tls;

/// <summary>
/// How HTTPS connections end, driven by a raw <see cref="SslStream"/> client: deadlines fire through the TLS layer,
/// and a client that goes away (reset, FIN, or a TLS close_notify) is told apart from the server's own closes.
/// </summary>
public sealed class TlsConnectionEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Waits for the connection's end and checks its reason and detail; returns all its events.</summary>
    private static async Task<IReadOnlyList<RecordedEvent>> AssertEndsAsync(EventRecorder events, string reason, string detail)
    {
        var connection = await events.CompletedConnectionAsync();
        var completed = connection.Single(e => e.Name == "ConnectionCompleted");
        Assert.Equal(reason, completed.Str("reason"));
        Assert.Equal(detail, completed.Str("detail"));
        return connection;
    }

    /// <summary>A TLS client offering ALPN http/1.1 over a fresh loopback socket.</summary>
    private sealed class TlsClient : IAsyncDisposable
    {
        private readonly byte[] _buffer = new byte[16 * 1024];

        private TlsClient(Socket socket, SslStream ssl)
        {
            Socket = socket;
            Ssl = ssl;
        }

        public Socket Socket { get; }

        public SslStream Ssl { get; }

        /// <summary>Connects and handshakes, offering <paramref name="alpn"/> (http/1.1 by default).</summary>
        public static async Task<TlsClient> ConnectAsync(int port, SslApplicationProtocol? alpn = null, int? receiveBufferSize = null)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            if (receiveBufferSize is { } size)
                socket.ReceiveBufferSize = size;
            await socket.ConnectAsync(IPAddress.Loopback, port);
            var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: true,
                (_, presented, _, _) => presented?.GetCertHashString() == TestCertificates.Localhost.GetCertHashString());
            using var cts = new CancellationTokenSource(Timeout);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ApplicationProtocols = [alpn ?? SslApplicationProtocol.Http11],
            }, cts.Token);
            return new TlsClient(socket, ssl);
        }

        public async Task SendAsync(string text)
        {
            await Ssl.WriteAsync(Encoding.ASCII.GetBytes(text));
            await Ssl.FlushAsync();
        }

        /// <summary>Reads until the end of a response head (or a 101's head) and returns it.</summary>
        public async Task<string> ReadHeadAsync()
        {
            using var cts = new CancellationTokenSource(Timeout);
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await Ssl.ReadAsync(one, cts.Token) == 0)
                    throw new IOException("The server closed before the end of the response head: " + head);
                head.Append((char)one[0]);
            }
            return head.ToString();
        }

        /// <summary>Reads and discards until the server ends the TLS stream (close_notify or EOF); false on a timeout.</summary>
        public async Task<bool> ReadsToEndAsync()
        {
            using var cts = new CancellationTokenSource(Timeout);
            try
            {
                while (await Ssl.ReadAsync(_buffer, cts.Token) > 0)
                {
                }
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (IOException)
            {
                return true;
            }
        }

        /// <summary>Sends a TCP reset.</summary>
        public void Reset()
        {
            Socket.LingerState = new LingerOption(true, 0);
            Socket.Close();
        }

        public async ValueTask DisposeAsync()
        {
            await Ssl.DisposeAsync();
            Socket.Dispose();
        }
    }

    [Fact]
    public async Task KeepAliveTimeout_OverTls_IsTimeout()
    {
        var (server, events) = await TlsTests.StartAsync(ctx => ctx.Response.WriteAsync("ok"),
            c => c.KeepAliveTimeout = TimeSpan.FromMilliseconds(300));
        await using var _ = server;
        await using var client = await TlsClient.ConnectAsync(server.Port);
        await client.SendAsync("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", await client.ReadHeadAsync());
        var connection = await AssertEndsAsync(events, "timeout", "keep_alive_timeout");
        Assert.Equal(1, connection[^1].Num("requests_served"));
        Assert.True(await client.ReadsToEndAsync(), "the server did not close the idle connection");
    }

    [Fact]
    public async Task PeerReset_MidResponse_OverTls_IsClientDisconnect()
    {
        var (server, events) = await TlsTests.StartAsync(async ctx =>
        {
            ctx.Response.ContentLength = 1024 * 1024;
            await ctx.Response.Body.WriteAsync(new byte[1024]);
            await ctx.Response.Body.FlushAsync();
            // The client resets once it has the head: wait for the server to notice, then the writes fail.
            await Task.Delay(Timeout, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            var chunk = new byte[16 * 1024];
            for (var i = 0; i < 63; i++)
                await ctx.Response.Body.WriteAsync(chunk);
        });
        await using var _ = server;
        await using (var client = await TlsClient.ConnectAsync(server.Port))
        {
            await client.SendAsync("GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n");
            Assert.StartsWith("HTTP/1.1 200", await client.ReadHeadAsync());
            client.Reset();
        }
        var connection = await AssertEndsAsync(events, "client_disconnect", "peer_reset");
        Assert.Contains(connection, e => e.Name == "ClientDisconnected");
    }

    [Fact]
    public async Task WebSocket_ClientCloseNotify_WithoutCloseHandshake_IsClientDisconnect()
    {
        // TLS's close_notify is the client closing its side, as a FIN is on a plaintext port: the WebSocket's peer
        // vanished (client_disconnect), not an application error, even while the TCP connection stays open.
        var (server, events) = await TlsTests.StartAsync(async ctx =>
        {
            using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            while (true)
            {
                var result = await ws.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                    break;
                await ws.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, CancellationToken.None);
            }
        }, configureApp: app => app.UseWebSockets());
        await using var _ = server;
        await using var client = await TlsClient.ConnectAsync(server.Port);
        await client.SendAsync("GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 101", await client.ReadHeadAsync());
        await events.WaitUntilAsync(e => e.Any(x => x.Name == "ConnectionUpgraded"), "ConnectionUpgraded");
        await client.Ssl.ShutdownAsync(); // close_notify; the socket stays open

        var connection = await AssertEndsAsync(events, "client_disconnect", "client_closed");
        Assert.Contains(connection, e => e.Name == "ClientDisconnected" && Equals(e["during_streaming"], true));
        Assert.True(await client.ReadsToEndAsync(), "the server did not close the connection");
    }

    [Fact]
    public async Task ServerStop_DuringHandshake_ClosesAsShutdownIdle()
    {
        var (server, events) = await TlsTests.StartAsync(ctx => ctx.Response.WriteAsync("ok"), c =>
        {
            c.ShutdownTimeout = TimeSpan.FromSeconds(30);
            c.TlsHandshakeTimeout = TimeSpan.FromSeconds(60); // only the stop can end this handshake
        });
        await using var _ = server;
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, server.Port);
        // The start of a ClientHello's record header, then nothing: the server waits inside its handshake (or, if the
        // stop comes before the connection even started, never begins it; both end as shutdown_idle).
        await socket.SendAsync(new byte[] { 0x16, 0x03, 0x01 }, SocketFlags.None);
        // Stop only once the server has accepted it (a connection still in the listen queue is never accepted,
        // so it has no events at all).
        var deadline = DateTime.UtcNow + Timeout;
        while (server.Server.OpenConnections == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the server did not accept the connection");
            await Task.Delay(10);
        }
        var stop = server.StopAsync();
        var connection = await AssertEndsAsync(events, "shutdown", "shutdown_idle");
        Assert.Equal("unknown", connection[^1].Str("protocol"));
        await stop.WaitAsync(TimeSpan.FromSeconds(10)); // not the 30 s ShutdownTimeout
        // The client sees the connection end.
        var buffer = new byte[64];
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // A reset is an end too.
        }
    }

    [Fact]
    public async Task BodyReadTimeout_OverTls_IsTimeout()
    {
        var (server, events) = await TlsTests.StartAsync(async ctx =>
        {
            var buffer = new byte[1024];
            while (await ctx.Request.Body.ReadAsync(buffer) > 0)
            {
            }
        }, c => c.BodyReadTimeout = TimeSpan.FromMilliseconds(300));
        await using var _ = server;
        await using var client = await TlsClient.ConnectAsync(server.Port);
        await client.SendAsync("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789");
        await AssertEndsAsync(events, "timeout", "body_read_timeout");
    }

    [Fact]
    public async Task ResponseWriteTimeout_OverTls_IsTimeout()
    {
        var (server, events) = await TlsTests.StartAsync(async ctx =>
        {
            // Far more than the socket buffers hold; the client never reads.
            var chunk = new byte[64 * 1024];
            for (var i = 0; i < 4096; i++)
                await ctx.Response.Body.WriteAsync(chunk);
        }, c => c.ResponseWriteTimeout = TimeSpan.FromMilliseconds(500));
        await using var _ = server;
        await using var client = await TlsClient.ConnectAsync(server.Port, receiveBufferSize: 4096);
        await client.SendAsync("GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n"); // and never reads
        await AssertEndsAsync(events, "timeout", "write_timeout");
    }

    [Fact]
    public async Task Http2_ClientCloseNotify_WithStreamInFlight_IsClientDisconnect()
    {
        var (server, events) = await TlsTests.StartAsync(async ctx =>
        {
            await Task.Delay(Timeout, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            await ctx.Response.WriteAsync("late");
        });
        await using var _ = server;
        await using var client = await TlsClient.ConnectAsync(server.Port, SslApplicationProtocol.Http2);
        Assert.Equal(SslApplicationProtocol.Http2, client.Ssl.NegotiatedApplicationProtocol);
        var frames = new List<byte>();
        frames.AddRange("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
        frames.AddRange(new byte[] { 0, 0, 0, 0x4, 0, 0, 0, 0, 0 }); // SETTINGS, empty
        byte[] block = [0x82, 0x87, 0x84, 0x41, 9, .. "localhost"u8]; // GET https / localhost (HPACK, no Huffman)
        frames.AddRange(new byte[] { 0, 0, (byte)block.Length, 0x1, 0x5, 0, 0, 0, 1 }); // HEADERS, END_STREAM | END_HEADERS, stream 1
        frames.AddRange(block);
        await client.Ssl.WriteAsync(frames.ToArray());
        await events.WaitUntilAsync(e => e.Any(x => x.Name == "RequestStarted"), "RequestStarted");
        await client.Ssl.ShutdownAsync(); // close_notify; the socket stays open

        var connection = await AssertEndsAsync(events, "client_disconnect", "client_closed");
        Assert.Equal("h2", connection[^1].Str("protocol"));
    }
}
