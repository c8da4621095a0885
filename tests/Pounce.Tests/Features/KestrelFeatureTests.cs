using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.WebSockets;

namespace Pounce.Tests.Features;

/// <summary>
/// Features Kestrel offers that apps and libraries rely on (issue 14), each checked from the client side.
/// </summary>
public sealed class KestrelFeatureTests
{
    [Fact]
    public async Task Http1_offers_the_kestrel_features_and_persistent_state_lives_as_long_as_the_connection()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            var f = ctx.Features;
            var connect = f.Get<IHttpExtendedConnectFeature>()!;
            var state = f.Get<IPersistentStateFeature>()!.State;
            var count = state.TryGetValue("n", out var n) ? (int)n! + 1 : 1;
            state["n"] = count;
            await ctx.Response.WriteAsync(string.Join(",",
                connect.IsExtendedConnect,
                f.Get<IHttpUpgradeFeature>()!.IsUpgradableRequest,
                f.Get<IHttpMinRequestBodyDataRateFeature>()!.MinDataRate!.BytesPerSecond,
                f.Get<IHttpMinResponseDataRateFeature>()!.MinDataRate!.GracePeriod.TotalSeconds,
                f.Get<IBadRequestExceptionFeature>()!.Error is null,
                f.Any(p => p.Key == typeof(IPersistentStateFeature)) && f.Any(p => p.Key == typeof(IHttpExtendedConnectFeature)),
                count));
        });
        using var client = server.CreateClient();
        Assert.Equal("False,False,240,5,True,True,1", await client.GetStringAsync("/"));
        Assert.Equal("False,False,240,5,True,True,2", await client.GetStringAsync("/"));
    }

    [Fact]
    public async Task Http2_offers_an_upgrade_feature_that_says_no()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            var upgrade = ctx.Features.Get<IHttpUpgradeFeature>()!;
            await ctx.Response.WriteAsync($"{ctx.Request.Protocol} {upgrade.IsUpgradableRequest} {ctx.Features.Get<IHttpMinRequestBodyDataRateFeature>() is not null}");
        });
        using var client = server.CreateClient(HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await client.SendAsync(request);
        Assert.Equal("HTTP/2 False True", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("POST", "hello")]
    [InlineData("GET", null)]
    public async Task Http1_request_without_chunked_framing_has_empty_trailers_once_the_body_is_read(string method, string? body)
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            var trailers = ctx.Features.Get<IHttpRequestTrailersFeature>()!;
            var before = trailers.Available;
            var text = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            await ctx.Response.WriteAsync($"{before} {trailers.Available} {trailers.Trailers.Count} {text}");
        });
        using var client = server.CreateClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), "/");
        if (body is not null)
            request.Content = new StringContent(body);
        using var response = await client.SendAsync(request);
        var expectedBefore = body is null ? "False" : "False";
        Assert.Equal($"{expectedBefore} True 0 {body}", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task App_that_catches_413_and_answers_200_closes_the_connection_so_a_reusing_client_is_not_broken()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/small")
            {
                ctx.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = 10;
                try
                {
                    await new StreamReader(ctx.Request.Body).ReadToEndAsync();
                }
                catch (BadHttpRequestException ex) when (ex.StatusCode == 413)
                {
                    Assert.Same(ex, ctx.Features.Get<IBadRequestExceptionFeature>()!.Error);
                    await ctx.Response.WriteAsync("too big, but fine");
                    return;
                }
            }
            await ctx.Response.WriteAsync("ok");
        });
        using var client = server.CreateClient();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.PostAsync("/small", new ByteArrayContent(new byte[100_000]));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(response.Headers.ConnectionClose, "the response must say Connection: close");
            Assert.Equal("too big, but fine", await response.Content.ReadAsStringAsync());
            // The same client goes on: it opens a new connection instead of reusing a dead one.
            Assert.Equal("ok", await client.GetStringAsync("/"));
        }
    }

    [Fact]
    public async Task Extended_connect_reports_no_request_body_and_the_websocket_still_works()
    {
        var canHaveBody = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAppAsync(app =>
        {
            app.Use(async (ctx, next) =>
            {
                if (ctx.Request.Protocol == "HTTP/2")
                    canHaveBody.TrySetResult(ctx.Features.Get<IHttpRequestBodyDetectionFeature>()!.CanHaveBody);
                await next(ctx);
            });
            app.UseWebSockets();
            app.Run(async ctx =>
            {
                using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
                var buffer = new byte[1024];
                var r = await ws.ReceiveAsync(buffer, ctx.RequestAborted);
                await ws.SendAsync(buffer.AsMemory(0, r.Count), WebSocketMessageType.Text, true, ctx.RequestAborted);
                await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "", ctx.RequestAborted);
            });
        });
        using var socket = WebSocketTests.Http2Client();
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await socket.ConnectAsync(WebSocketTests.WsUri(server, "/ws"), invoker, cts.Token);
        Assert.Equal(HttpStatusCode.OK, socket.HttpStatusCode);
        Assert.False(await canHaveBody.Task.WaitAsync(cts.Token));
        await socket.SendAsync(Encoding.UTF8.GetBytes("ping"), WebSocketMessageType.Text, true, cts.Token);
        var (_, data) = await WebSocketTests.ReceiveMessageAsync(socket, cts.Token);
        Assert.Equal("ping", Encoding.UTF8.GetString(data));
    }
}
