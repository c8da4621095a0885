using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.WebSockets;

/// <summary>Kestrel and Pounce, each hosting the same WebSocket application, on free ports; shared by the tests of a class.</summary>
public sealed class KestrelAndPounce : IAsyncLifetime
{
    private WebApplication? _kestrel;

    public TestServer Pounce { get; private set; } = null!;

    public int KestrelPort { get; private set; }

    /// <summary>Kestrel's HTTP/2-only endpoint (its h2c with prior knowledge needs one).</summary>
    public int KestrelHttp2Port { get; private set; }

    public int PouncePort => Pounce.Port;

    /// <summary>
    /// /ws: a WebSocket echo that answers 400 to anything that is not a WebSocket request (the usual shape of an app);
    /// /probe: what the server's features say about the request, as text.
    /// </summary>
    public static void ConfigureApp(WebApplication app)
    {
        app.UseWebSockets();
        app.Map("/ws", async (HttpContext context) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsync("not a websocket request");
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
            if (received.MessageType != WebSocketMessageType.Close)
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
        });
        app.Map("/probe", async (HttpContext context) =>
        {
            var upgrade = context.Features.Get<IHttpUpgradeFeature>();
            await context.Response.WriteAsync(
                $"upgradable={upgrade?.IsUpgradableRequest} websocket={context.WebSockets.IsWebSocketRequest}");
        });
    }

    public async Task InitializeAsync()
    {
        Pounce = await TestServer.StartAppAsync(ConfigureApp);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options =>
        {
            options.Listen(IPAddress.Loopback, 0);
            options.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2);
        });
        _kestrel = builder.Build();
        ConfigureApp(_kestrel);
        await _kestrel.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var addresses = _kestrel.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        KestrelPort = new Uri(addresses[0]).Port;
        KestrelHttp2Port = new Uri(addresses[1]).Port;
    }

    public async Task DisposeAsync()
    {
        await Pounce.DisposeAsync();
        if (_kestrel is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _kestrel.StopAsync(cts.Token);
            await _kestrel.DisposeAsync();
        }
    }
}

/// <summary>
/// The WebSocket handshake over HTTP/1.1 (RFC 6455 4.2) is ASP.NET Core's middleware's, over the server's
/// <c>IHttpUpgradeFeature</c>: the same requests go to Kestrel and to Pounce hosting the same app, and must get the
/// same answer, except where RFC 9110 gives the server the last word (HTTP/1.0).
/// </summary>
public sealed class HandshakeKestrelComparisonTests : IClassFixture<KestrelAndPounce>
{
    private const string Key = WebSocketTests.HandshakeKey;
    private readonly KestrelAndPounce _servers;

    public HandshakeKestrelComparisonTests(KestrelAndPounce servers) => _servers = servers;

    /// <summary>What is compared: the status and the handshake's response headers (and the body of the app's own answers).</summary>
    private sealed record Answer(int Status, string? Upgrade, string? Connection, string? Accept, string? Version, string Body)
    {
        public override string ToString() => $"{Status} upgrade={Upgrade} connection={Connection} accept={Accept} version={Version} body='{Body}'";
    }

    private static async Task<Answer> AskAsync(int port, string request)
    {
        await using var raw = await RawClient.ConnectAsync(port);
        await raw.SendAsync(request);
        var response = await raw.ReadResponseAsync();
        return new Answer(response.Status, response.Header("Upgrade")?.ToLowerInvariant(), response.Header("Connection")?.ToLowerInvariant(),
            response.Header("Sec-WebSocket-Accept"), response.Header("Sec-WebSocket-Version"),
            response.Status == 400 && response.Body.Length == 0 ? "" : response.BodyText);
    }

    private static string Request(string target = "/ws", string method = "GET", string version = "HTTP/1.1", string? connection = "Upgrade",
        string? upgrade = "websocket", string? wsVersion = "13", string? key = Key, string extra = "", string body = "")
        => $"{method} {target} {version}\r\nHost: 127.0.0.1\r\n"
           + (connection is null ? "" : $"Connection: {connection}\r\n")
           + (upgrade is null ? "" : $"Upgrade: {upgrade}\r\n")
           + (wsVersion is null ? "" : $"Sec-WebSocket-Version: {wsVersion}\r\n")
           + (key is null ? "" : $"Sec-WebSocket-Key: {key}\r\n")
           + extra + "\r\n" + body;

    public static TheoryData<string, string, int> SameAnswers() => new()
    {
        { "valid handshake", Request(), 101 },
        { "Connection lists Upgrade among others, Upgrade in another case", Request(connection: "keep-alive, Upgrade", upgrade: "WebSocket"), 101 },
        { "Sec-WebSocket-Version 12", Request(wsVersion: "12"), 400 },
        { "Sec-WebSocket-Version missing", Request(wsVersion: null), 400 },
        { "Sec-WebSocket-Key missing", Request(key: null), 400 },
        { "Sec-WebSocket-Key not 16 bytes of base64", Request(key: "c2hvcnQ="), 400 },
        { "POST without a body", Request(method: "POST", extra: "Content-Length: 0\r\n"), 400 },
        { "PUT with Upgrade", Request(method: "PUT", extra: "Content-Length: 0\r\n"), 400 },
        { "no Connection: Upgrade", Request(connection: "keep-alive"), 400 },
        { "no Upgrade header", Request(upgrade: null), 400 },
        { "Upgrade to another protocol", Request(upgrade: "foo/2"), 400 },
        { "GET with a Content-Length body", Request(extra: "Content-Length: 5\r\n", body: "hello"), 400 },
        { "POST with a Content-Length body", Request(method: "POST", extra: "Content-Length: 5\r\n", body: "hello"), 400 },
        { "GET with a chunked body", Request(extra: "Transfer-Encoding: chunked\r\n", body: "5\r\nhello\r\n0\r\n\r\n"), 400 },
        { "probe: valid handshake", Request("/probe"), 200 },
        { "probe: POST upgrade without a body", Request("/probe", method: "POST", extra: "Content-Length: 0\r\n"), 200 },
        { "probe: no Connection: Upgrade", Request("/probe", connection: "close"), 200 },
        { "probe: bad version", Request("/probe", wsVersion: "8"), 200 },
        { "probe: GET upgrade with a body", Request("/probe", extra: "Content-Length: 5\r\n", body: "hello"), 200 },
        { "probe: GET upgrade with a chunked body", Request("/probe", extra: "Transfer-Encoding: chunked\r\n", body: "5\r\nhello\r\n0\r\n\r\n"), 200 },
    };

    [Theory]
    [MemberData(nameof(SameAnswers))]
    public async Task Kestrel_and_Pounce_answer_alike(string what, string request, int expectedStatus)
    {
        var kestrel = await AskAsync(_servers.KestrelPort, request);
        var pounce = await AskAsync(_servers.PouncePort, request);
        Assert.True(kestrel == pounce, $"{what}:\n  Kestrel: {kestrel}\n  Pounce:  {pounce}");
        Assert.Equal(expectedStatus, pounce.Status);
        if (what.StartsWith("probe: GET upgrade with a", StringComparison.Ordinal))
            Assert.Equal("upgradable=False websocket=False", pounce.Body); // a request with a body is never upgradable
        if (expectedStatus == 101)
            Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", pounce.Accept);
    }

    [Fact]
    public async Task Http10_upgrade_is_ignored_by_Pounce_as_RFC_9110_requires_where_Kestrel_switches()
    {
        // RFC 9110 7.8: "A server MUST ignore an Upgrade header field that is received in an HTTP/1.0 request", and
        // RFC 6455 4.1 asks for HTTP/1.1 or later. Pounce's IsUpgradableRequest is false, so the app answers normally;
        // Kestrel (10.0) reports it upgradable and the middleware answers 101 to an HTTP/1.0 client.
        var kestrel = await AskAsync(_servers.KestrelPort, Request(version: "HTTP/1.0"));
        var pounce = await AskAsync(_servers.PouncePort, Request(version: "HTTP/1.0"));
        Assert.Equal(400, pounce.Status);
        Assert.Null(pounce.Accept);
        Assert.Equal("upgradable=False websocket=False", (await AskAsync(_servers.PouncePort, Request("/probe", version: "HTTP/1.0"))).Body);
        // Kestrel's behaviour as observed, so that a change there shows up here.
        Assert.True(kestrel.Status == 101, $"Kestrel: {kestrel}");
    }
}
