using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;

namespace Pounce.Compat.Tests;

/// <summary>
/// YARP (Yarp.ReverseProxy) running on the server under test, proxying to a backend (on Kestrel, the same for both):
/// HTTP/1.1 and HTTP/2 requests with bodies, and WebSockets in both forms (an HTTP/1.1 upgrade, and RFC 8441 extended
/// CONNECT over HTTP/2, which YARP forwards as an upgrade to the backend).
/// </summary>
public sealed class YarpCompatTests
{
    private static Task<CompatHost> StartBackendAsync() => CompatHost.StartAsync(ServerKind.Kestrel, null, app =>
    {
        app.UseWebSockets();
        app.Map("/ws", async (HttpContext ctx) =>
        {
            if (!ctx.WebSockets.IsWebSocketRequest)
            {
                ctx.Response.StatusCode = 400;
                return;
            }
            using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var r = await ws.ReceiveAsync(buffer, ctx.RequestAborted);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", ctx.RequestAborted);
                    return;
                }
                await ws.SendAsync(buffer.AsMemory(0, r.Count), r.MessageType, r.EndOfMessage, ctx.RequestAborted);
            }
        });
        app.MapGet("/hello", (HttpContext ctx) => $"backend {ctx.Request.Query["q"]}");
        app.MapPost("/echo", async (HttpContext ctx) =>
        {
            using var reader = new StreamReader(ctx.Request.Body);
            return "echo " + (await reader.ReadToEndAsync()).Length;
        });
    });

    private static Task<CompatHost> StartProxyAsync(ServerKind kind, CompatHost backend) => CompatHost.StartAsync(kind,
        services => services.AddReverseProxy().LoadFromMemory(
            [new RouteConfig { RouteId = "all", ClusterId = "backend", Match = new RouteMatch { Path = "{**rest}" } }],
            [new ClusterConfig
            {
                ClusterId = "backend",
                Destinations = new Dictionary<string, DestinationConfig> { ["one"] = new() { Address = backend.BaseAddress.ToString() } },
            }]),
        app => app.MapReverseProxy());

    [Theory]
    [MemberData(nameof(ServerKinds.EachWithHttpVersion), MemberType = typeof(ServerKinds))]
    public async Task Proxies_requests_with_and_without_bodies(ServerKind kind, string version)
    {
        await using var backend = await StartBackendAsync();
        await using var proxy = await StartProxyAsync(kind, backend);
        using var client = proxy.CreateClient(Version.Parse(version));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        using var get = await client.GetAsync("/hello?q=42", cts.Token);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(Version.Parse(version), get.Version);
        Assert.Equal("backend 42", await get.Content.ReadAsStringAsync(cts.Token));

        using var post = await client.PostAsync("/echo", new ByteArrayContent(new byte[300_000]), cts.Token);
        Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        Assert.Equal("echo 300000", await post.Content.ReadAsStringAsync(cts.Token));
    }

    [Theory]
    [MemberData(nameof(ServerKinds.EachWithHttpVersion), MemberType = typeof(ServerKinds))]
    public async Task Proxies_websockets_as_http11_upgrade_and_as_http2_extended_connect(ServerKind kind, string version)
    {
        await using var backend = await StartBackendAsync();
        await using var proxy = await StartProxyAsync(kind, backend);
        using var socket = new ClientWebSocket();
        socket.Options.HttpVersion = Version.Parse(version);
        socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        socket.Options.CollectHttpResponseDetails = true;
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await socket.ConnectAsync(proxy.WebSocketUri("/ws", Version.Parse(version)), invoker, cts.Token);
        Assert.Equal(version == "2.0" ? HttpStatusCode.OK : HttpStatusCode.SwitchingProtocols, socket.HttpStatusCode);

        foreach (var size in new[] { 5, 70_000 })
        {
            var message = Encoding.UTF8.GetBytes(new string('m', size));
            await socket.SendAsync(message, WebSocketMessageType.Text, true, cts.Token);
            var received = new MemoryStream();
            var buffer = new byte[16 * 1024];
            WebSocketReceiveResult r;
            do
            {
                r = await socket.ReceiveAsync(buffer, cts.Token);
                received.Write(buffer, 0, r.Count);
            }
            while (!r.EndOfMessage);
            Assert.Equal(message, received.ToArray());
        }
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        Assert.Equal("bye", socket.CloseStatusDescription);
    }
}
