using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.WebSockets;

/// <summary>
/// WebSockets over HTTP/2 (RFC 8441 extended CONNECT) with the BCL's <c>ClientWebSocket</c> over h2c (prior knowledge,
/// no TLS), against ASP.NET Core's unchanged <c>UseWebSockets()</c> through Pounce's <c>IHttpExtendedConnectFeature</c>.
/// </summary>
public sealed class Http2WebSocketTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static Uri WsUri(TestServer server, string path = "/ws") => WebSocketTests.WsUri(server, path);

    private static ClientWebSocket Http2Client() => WebSocketTests.Http2Client();

    private static HttpMessageInvoker Invoker() => new(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1) });

    private static Task<(WebSocketMessageType Type, byte[] Data)> ReceiveMessageAsync(WebSocket socket, CancellationToken token)
        => WebSocketTests.ReceiveMessageAsync(socket, token);

    [Fact]
    public async Task ClientWebSocket_over_h2c_echoes_text_binary_large_and_fragmented_messages()
    {
        // A small stream window of ours: the large message needs many WINDOW_UPDATEs as the application reads.
        var (server, events) = await WebSocketTests.StartEchoAsync(c => c.Http2InitialWindowSize = 65_535);
        await using (server)
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var invoker = Invoker();
            using var socket = Http2Client();
            await socket.ConnectAsync(WsUri(server), invoker, cts.Token);
            Assert.Equal(HttpStatusCode.OK, socket.HttpStatusCode);

            await socket.SendAsync("hello over h2"u8.ToArray(), WebSocketMessageType.Text, true, cts.Token);
            var text = await ReceiveMessageAsync(socket, cts.Token);
            Assert.Equal(WebSocketMessageType.Text, text.Type);
            Assert.Equal("hello over h2", Encoding.UTF8.GetString(text.Data));

            byte[] binary = [0, 1, 2, 255, 254, 0];
            await socket.SendAsync(binary, WebSocketMessageType.Binary, true, cts.Token);
            Assert.Equal(binary, (await ReceiveMessageAsync(socket, cts.Token)).Data);

            // Far over both sides' stream and connection windows, in both directions at once.
            var large = new byte[3 * 1024 * 1024 + 17];
            new Random(42).NextBytes(large);
            var send = socket.SendAsync(large, WebSocketMessageType.Binary, true, cts.Token);
            var largeBack = await ReceiveMessageAsync(socket, cts.Token);
            await send;
            Assert.True(large.AsSpan().SequenceEqual(largeBack.Data), "the large message came back different");

            await socket.SendAsync("frag-"u8.ToArray(), WebSocketMessageType.Text, false, cts.Token);
            await socket.SendAsync("ment-"u8.ToArray(), WebSocketMessageType.Text, false, cts.Token);
            await socket.SendAsync("ed"u8.ToArray(), WebSocketMessageType.Text, true, cts.Token);
            Assert.Equal("frag-ment-ed", Encoding.UTF8.GetString((await ReceiveMessageAsync(socket, cts.Token)).Data));

            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
            Assert.Equal(WebSocketState.Closed, socket.State);
            Assert.Equal("done", socket.CloseStatusDescription);

            var end = await events.WaitForAsync("ResponseCompleted");
            Assert.True(end.Num("bytes_sent") > large.Length, $"bytes_sent {end.Num("bytes_sent")} counts the tunnel's bytes");
        }
    }

    [Fact]
    public async Task Lifecycle_is_one_request_whose_response_completes_when_the_websocket_closes()
    {
        // The application waits before accepting and the WebSocket lives past the slow threshold: still never slow.
        var (server, events) = await WebSocketTests.StartEchoAsync(c => c.LogSlowRequestsThreshold = 0.05, delayBeforeAccept: TimeSpan.FromMilliseconds(100));
        await using (server)
        {
            using var cts = new CancellationTokenSource(Timeout);
            using (var invoker = Invoker())
            {
                using var socket = Http2Client();
                await socket.ConnectAsync(WsUri(server), invoker, cts.Token);
                await socket.SendAsync(new byte[1000], WebSocketMessageType.Binary, true, cts.Token);
                await ReceiveMessageAsync(socket, cts.Token);
                await Task.Delay(100, cts.Token); // lives past the slow threshold (time has to pass; nothing is awaited on it)
                Assert.DoesNotContain(events.Snapshot(), e => e.Name == "ResponseCompleted");
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
                await events.WaitForAsync("ResponseCompleted");
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted", "ConnectionCompleted"], conn.Select(e => e.Name).ToArray());
            var started = conn[1];
            Assert.Equal("CONNECT", started.Str("method"));
            Assert.Equal("/ws", started.Str("path"));
            Assert.Equal("2.0", started.Str("http_version"));
            var response = conn[2];
            Assert.Equal(started.RequestId, response.RequestId);
            Assert.Equal(200, response.Num("status"));
            Assert.Null(response["slow"]);
            Assert.Equal("debug", response.Str("level"));
            Assert.True(Convert.ToDouble(response["duration_ms"], System.Globalization.CultureInfo.InvariantCulture) >= 100,
                "duration_ms is the WebSocket's lifetime");
            // The echoed 1000-byte message (with its frame head) and the Close frame went through the tunnel.
            Assert.InRange(response.Num("bytes_sent"), 1000 + 4 + 2, 1000 + 200);
            var completed = conn[3];
            Assert.Equal("h2", completed.Str("protocol"));
            Assert.Equal(1, completed.Num("requests_served"));
            Assert.Equal(response.Num("bytes_sent"), completed.Num("total_bytes_sent"));
        }
    }

    [Fact]
    public async Task WebSockets_and_plain_requests_share_one_http2_connection()
    {
        var (server, events) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var handler = new SocketsHttpHandler();
            using var invoker = new HttpMessageInvoker(handler, disposeHandler: false);
            using var client = new HttpClient(handler, disposeHandler: false)
            {
                DefaultRequestVersion = HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            using var first = Http2Client();
            using var second = Http2Client();
            await first.ConnectAsync(WsUri(server), invoker, cts.Token);
            await second.ConnectAsync(WsUri(server), invoker, cts.Token);
            for (var i = 0; i < 3; i++)
            {
                await first.SendAsync(Encoding.UTF8.GetBytes("first " + i), WebSocketMessageType.Text, true, cts.Token);
                await second.SendAsync(Encoding.UTF8.GetBytes("second " + i), WebSocketMessageType.Text, true, cts.Token);
                var plain = await client.GetAsync(new Uri(server.BaseAddress, "/plain"), cts.Token);
                Assert.Equal(HttpVersion.Version20, plain.Version);
                Assert.Equal("plain", await plain.Content.ReadAsStringAsync(cts.Token));
                Assert.Equal("second " + i, Encoding.UTF8.GetString((await ReceiveMessageAsync(second, cts.Token)).Data));
                Assert.Equal("first " + i, Encoding.UTF8.GetString((await ReceiveMessageAsync(first, cts.Token)).Data));
            }
            await first.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
            await second.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
            await events.WaitUntilAsync(e => e.Count(x => x.Name == "ResponseCompleted") == 5, "five ResponseCompleted");
            var all = events.Snapshot();
            Assert.Single(all.Select(e => e.ConnectionId).Distinct());
            Assert.Equal(2, all.Count(e => e.Name == "ResponseCompleted" && e.Str("method") == "CONNECT"));
            Assert.DoesNotContain(all, e => e.Name is "ConnectionUpgraded" or "ConnectionCompleted");
        }
    }

    [Fact]
    public async Task Client_abort_resets_the_stream_and_is_a_client_disconnect_during_streaming()
    {
        var (server, events) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var handler = new SocketsHttpHandler();
            using var invoker = new HttpMessageInvoker(handler, disposeHandler: false);
            using (var socket = Http2Client())
            {
                await socket.ConnectAsync(WsUri(server), invoker, cts.Token);
                await socket.SendAsync("x"u8.ToArray(), WebSocketMessageType.Text, true, cts.Token);
                await ReceiveMessageAsync(socket, cts.Token);
                socket.Abort();
            }
            var disconnected = await events.WaitForAsync("ClientDisconnected");
            Assert.Equal(true, disconnected["during_streaming"]);
            Assert.Equal("CONNECT", disconnected.Str("method"));
            Assert.Equal(3L, disconnected.Num("bytes_sent"));
            // Only the stream ended: the connection still serves.
            using var client = new HttpClient(handler, disposeHandler: false) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
            Assert.Equal("plain", await client.GetStringAsync(new Uri(server.BaseAddress, "/plain"), cts.Token));
            var all = events.Snapshot();
            Assert.Single(all.Select(e => e.ConnectionId).Distinct());
            Assert.DoesNotContain(all, e => e.Name == "ResponseCompleted" && e.Str("method") == "CONNECT");
        }
    }

    [Fact]
    public async Task MaxConcurrentUpgradedConnections_counts_http2_websockets_with_http1_ones()
    {
        var (server, events) = await WebSocketTests.StartEchoAsync(c => c.MaxConcurrentUpgradedConnections = 1);
        await using (server)
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var invoker = Invoker();
            using (var first = Http2Client())
            {
                await first.ConnectAsync(WsUri(server), invoker, cts.Token);
                // At the limit: over HTTP/2 the request is not an extended CONNECT the app may accept (the echo app answers 400) ...
                using (var refused = Http2Client())
                {
                    await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(WsUri(server), invoker, cts.Token));
                    Assert.Equal(HttpStatusCode.BadRequest, refused.HttpStatusCode);
                }
                // ... and over HTTP/1.1 it is not upgradable.
                using (var refused = new ClientWebSocket())
                    await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(WsUri(server), cts.Token));
                await first.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
            }
            // The slot is released when the tunnel's application returns.
            await events.WaitUntilAsync(e => e.Any(x => x.Name == "ResponseCompleted" && x.Str("method") == "CONNECT" && x.Num("status") == 200),
                "the first WebSocket's end");
            using var second = Http2Client();
            await second.ConnectAsync(WsUri(server), invoker, cts.Token);
            await second.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
        }
    }

    [Fact]
    public async Task Tunnel_is_not_a_request_body_MaxRequestBodySize_and_BodyReadTimeout_do_not_apply()
    {
        var (server, _) = await WebSocketTests.StartEchoAsync(c =>
        {
            c.MaxRequestBodySize = 1000;
            c.BodyReadTimeout = TimeSpan.FromMilliseconds(200);
        });
        await using (server)
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var invoker = Invoker();
            using var socket = Http2Client();
            await socket.ConnectAsync(WsUri(server), invoker, cts.Token);
            // Quiet for several BodyReadTimeouts while the application waits in a read (time has to pass here).
            await Task.Delay(TimeSpan.FromSeconds(1), cts.Token);
            var big = new byte[20_000];
            for (var i = 0; i < 3; i++)
            {
                await socket.SendAsync(big, WebSocketMessageType.Binary, true, cts.Token);
                Assert.Equal(big.Length, (await ReceiveMessageAsync(socket, cts.Token)).Data.Length);
            }
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
        }
    }

    [Fact]
    public async Task Application_abort_after_accept_resets_the_stream_and_completes_the_request()
    {
        var (server, events) = await WebSocketTests.StartWithEventsAsync(app =>
        {
            app.UseWebSockets();
            app.Map("/abort", async (HttpContext context) =>
            {
                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                var buffer = new byte[16];
                await socket.ReceiveAsync(buffer, context.RequestAborted);
                context.Abort();
            });
        });
        await using (server)
        {
            using var cts = new CancellationTokenSource(Timeout);
            using var invoker = Invoker();
            using var socket = Http2Client();
            await socket.ConnectAsync(WsUri(server, "/abort"), invoker, cts.Token);
            await socket.SendAsync("go"u8.ToArray(), WebSocketMessageType.Text, true, cts.Token);
            // The client's WebSocket fails: the stream was reset under it.
            await Assert.ThrowsAnyAsync<Exception>(() => ReceiveMessageAsync(socket, cts.Token));
            var end = await events.WaitForAsync("ResponseCompleted");
            Assert.Equal(200, end.Num("status"));
            Assert.DoesNotContain(events.Snapshot(), e => e.Name == "ClientDisconnected");
        }
    }
}
