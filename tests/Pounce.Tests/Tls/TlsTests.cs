using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pounce.Lifecycle;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.LifecycleE2E;
using Xunit;

namespace Pounce.Tests.Tls;

/// <summary>HTTPS endpoints: the handshake, ALPN choosing HTTP/2 or HTTP/1.1, what the app sees, and how failures are logged.</summary>
public sealed class TlsTests
{
    /// <summary>An HTTPS test server (the shared test certificate, lifecycle events down to debug) and its event recorder.</summary>
    internal static async Task<(TestServer Server, EventRecorder Events)> StartAsync(RequestDelegate handler, Action<ServerConfig>? configure = null,
        Action<WebApplication>? configureApp = null)
    {
        var server = await TestServer.StartAppAsync(app =>
        {
            configureApp?.Invoke(app);
            app.Run(handler);
        }, c =>
        {
            c.ServerCertificate = TestCertificates.Localhost;
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
            configure?.Invoke(c);
        });
        var recorder = new EventRecorder();
        server.Services.GetRequiredService<LifecycleEmitter>().AddObserver(recorder);
        return (server, recorder);
    }

    private static HttpClient Client(TestServer server, Version version, X509Certificate2? trust = null) =>
        new(TestCertificates.TrustingHandler(trust ?? TestCertificates.Localhost))
        {
            BaseAddress = new Uri($"https://localhost:{server.Port}"),
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };

    private static Task DescribeTls(HttpContext ctx)
    {
        var handshake = ctx.Features.Get<ITlsHandshakeFeature>()!;
        var alpn = ctx.Features.Get<ITlsApplicationProtocolFeature>()!;
        var tls = ctx.Features.Get<ITlsConnectionFeature>();
        return ctx.Response.WriteAsync(string.Join('|',
            ctx.Request.Protocol, ctx.Request.Scheme, ctx.Request.IsHttps, handshake.Protocol, handshake.HostName,
            Encoding.ASCII.GetString(alpn.ApplicationProtocol.Span), tls is not null, tls?.ClientCertificate is null,
            handshake.NegotiatedCipherSuite));
    }

    [Fact]
    public async Task HttpClient_NegotiatesHttp2_WithAlpn()
    {
        var (server, events) = await StartAsync(DescribeTls);
        await using var _ = server;
        using var client = Client(server, HttpVersion.Version20);
        using var response = await client.GetAsync("/who");
        Assert.Equal(HttpVersion.Version20, response.Version);
        var parts = (await response.Content.ReadAsStringAsync()).Split('|');
        Assert.Equal("HTTP/2", parts[0]);
        Assert.Equal("https", parts[1]);
        Assert.Equal("True", parts[2]);
        Assert.Contains(parts[3], new[] { nameof(SslProtocols.Tls13), nameof(SslProtocols.Tls12) });
        Assert.Equal("localhost", parts[4]);
        Assert.Equal("h2", parts[5]);
        Assert.Equal("True", parts[6]);
        Assert.Equal("True", parts[7]);
        Assert.StartsWith("TLS_", parts[8]);

        client.Dispose();
        var connection = await events.CompletedConnectionAsync();
        var opened = connection.Single(e => e.Name == "ConnectionOpened");
        Assert.Equal("h2", opened.Str("protocol"));
        Assert.Equal(true, opened["tls"]);
        var completed = connection.Single(e => e.Name == "ConnectionCompleted");
        Assert.Equal("complete", completed.Str("reason"));
        Assert.Equal(1, completed.Num("requests_served"));
    }

    [Fact]
    public async Task HttpClient_NegotiatesHttp11_WithAlpn()
    {
        var (server, events) = await StartAsync(DescribeTls);
        await using var _ = server;
        using var client = Client(server, HttpVersion.Version11);
        using var response = await client.GetAsync("/who");
        Assert.Equal(HttpVersion.Version11, response.Version);
        var parts = (await response.Content.ReadAsStringAsync()).Split('|');
        Assert.Equal("HTTP/1.1", parts[0]);
        Assert.Equal("https", parts[1]);
        Assert.Equal("", parts[5]); // HttpClient offers no ALPN for an HTTP/1.1-only request: the first bytes decide
        client.Dispose();
        var connection = await events.CompletedConnectionAsync();
        var opened = connection.Single(e => e.Name == "ConnectionOpened");
        Assert.Equal("h1", opened.Str("protocol"));
        Assert.Equal(true, opened["tls"]);
    }

    [Fact]
    public async Task Http2Disabled_AlpnOffersOnlyHttp11()
    {
        var (server, _) = await StartAsync(DescribeTls, c => c.Http2Enabled = false);
        await using var _s = server;
        using var client = Client(server, HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/") { VersionPolicy = HttpVersionPolicy.RequestVersionOrLower };
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.StartsWith("HTTP/1.1|https", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("2.0")]
    [InlineData("1.1")]
    public async Task LargeBodies_BothWays(string version)
    {
        var (server, _) = await StartAsync(async ctx =>
        {
            // Read the whole upload, then send it back: both directions cross many flow-control windows and TLS records.
            var copy = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(copy);
            ctx.Response.ContentLength = copy.Length;
            await ctx.Response.Body.WriteAsync(copy.GetBuffer().AsMemory(0, (int)copy.Length));
        });
        await using var _s = server;
        var payload = new byte[3 * 1024 * 1024 + 17];
        new Random(42).NextBytes(payload);
        using var client = Client(server, Version.Parse(version));
        using var response = await client.PostAsync("/echo", new ByteArrayContent(payload));
        Assert.Equal(Version.Parse(version), response.Version);
        var echoed = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(payload.Length, echoed.Length);
        Assert.True(payload.AsSpan().SequenceEqual(echoed), $"echo over {version} differs");
    }

    [Fact]
    public async Task PemFiles_FromSettings_ServeHttps()
    {
        using var rsa = TestCertificates.Create("localhost", rsa: true);
        var folder = Path.Combine(Path.GetTempPath(), "pounce-tls-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (certFile, keyFile) = TestCertificates.WritePem(rsa, folder);
            var (server, _) = await StartAsync(DescribeTls, c =>
            {
                c.ServerCertificate = null;
                c.SslCertFile = certFile;
                c.SslKeyFile = keyFile;
            });
            await using var _s = server;
            Assert.Equal("https", server.BaseAddress.Scheme);
            using var client = Client(server, HttpVersion.Version20, rsa);
            using var response = await client.GetAsync("/");
            Assert.StartsWith("HTTP/2|https", await response.Content.ReadAsStringAsync());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task KestrelDefaultCertificateConfiguration_IsHonoured()
    {
        using var certificate = TestCertificates.Create("localhost");
        var folder = Path.Combine(Path.GetTempPath(), "pounce-tls-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (certFile, keyFile) = TestCertificates.WritePem(certificate, folder);
            await using var server = await TestServer.StartAppAsync(app => app.Run(DescribeTls), configuration:
            [
                new("Kestrel:Certificates:Default:Path", certFile),
                new("Kestrel:Certificates:Default:KeyPath", keyFile),
            ]);
            Assert.Equal("https", server.BaseAddress.Scheme);
            using var client = Client(server, HttpVersion.Version20, certificate);
            Assert.StartsWith("HTTP/2|https", await client.GetStringAsync("/"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Pkcs12File_WithPassword_ServesHttps()
    {
        using var certificate = TestCertificates.Create("localhost");
        var file = Path.Combine(Path.GetTempPath(), "pounce-tls-" + Guid.NewGuid().ToString("N") + ".pfx");
        try
        {
            File.WriteAllBytes(file, certificate.Export(X509ContentType.Pfx, "s3cret"));
            var (server, _) = await StartAsync(DescribeTls, c =>
            {
                c.ServerCertificate = null;
                c.SslCertFile = file;
                c.SslKeyPassword = "s3cret";
            });
            await using var _s = server;
            using var client = Client(server, HttpVersion.Version11, certificate);
            using var response = await client.GetAsync("/");
            Assert.StartsWith("HTTP/1.1|https", await response.Content.ReadAsStringAsync());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task MissingCertificateFile_FailsAtStartWithClearMessage()
    {
        var error = await Assert.ThrowsAsync<Pounce.Hosting.PounceConfigurationException>(() => TestServer.StartAsync(
            ctx => Task.CompletedTask,
            c => c.SslCertFile = "/nonexistent/cert.pem"));
        Assert.Contains("SslCertFile", error.Message);
        Assert.Contains("does not exist", error.Message);
    }

    [Fact]
    public async Task PlaintextRequest_OnHttpsPort_IsLoggedAsFailedHandshake_AndOthersAreServed()
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("ok"));
        await using var _s = server;
        await using (var raw = await server.ConnectAsync())
        {
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            await raw.ReadToEndAsync(TimeSpan.FromSeconds(10));
        }
        var failed = await events.CompletedConnectionAsync(e => e.Str("detail") == "tls_handshake_failed");
        var opened = failed.Single(e => e.Name == "ConnectionOpened");
        Assert.Equal("unknown", opened.Str("protocol"));
        Assert.Equal(true, opened["tls"]);
        var completed = failed.Single(e => e.Name == "ConnectionCompleted");
        Assert.Equal("error", completed.Str("reason"));
        Assert.Equal("unknown", completed.Str("protocol"));

        using var client = Client(server, HttpVersion.Version20);
        Assert.Equal("ok", await client.GetStringAsync("/"));
    }

    [Fact]
    public async Task StalledHandshake_TimesOut()
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("ok"), c => c.TlsHandshakeTimeout = TimeSpan.FromMilliseconds(300));
        await using var _s = server;
        await using var raw = await server.ConnectAsync();
        // The first bytes of a TLS record header (handshake, TLS 1.0 record version), then nothing.
        await raw.SendAsync(new byte[] { 0x16, 0x03, 0x01 });
        var connection = await events.CompletedConnectionAsync();
        var completed = connection.Single(e => e.Name == "ConnectionCompleted");
        Assert.Equal("timeout", completed.Str("reason"));
        Assert.Equal("tls_handshake_timeout", completed.Str("detail"));
        Assert.Equal("unknown", completed.Str("protocol"));
        await raw.ReadToEndAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ClientClosingBeforeHandshake_IsNotAnError()
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("ok"));
        await using var _s = server;
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(IPAddress.Loopback, server.Port);
            socket.Shutdown(SocketShutdown.Send);
        }
        var connection = await events.CompletedConnectionAsync();
        var completed = connection.Single(e => e.Name == "ConnectionCompleted");
        Assert.Equal("complete", completed.Str("reason"));
        Assert.Equal("client_closed", completed.Str("detail"));
    }

    [ToolFact("openssl")]
    public async Task Tls11Client_IsRefused()
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("ok"));
        await using var _s = server;
        // openssl's own client, so the offer really is TLS 1.1 (the .NET client refuses to offer it).
        var (exit, output) = await ExternalTool.RunAsync("openssl",
            $"s_client -connect 127.0.0.1:{server.Port} -tls1_1 -cipher DEFAULT@SECLEVEL=0 -servername localhost");
        Assert.NotEqual(0, exit);
        Assert.Contains("Cipher is (NONE)", output);
        var connection = await events.CompletedConnectionAsync();
        Assert.Equal("tls_handshake_failed", connection.Single(e => e.Name == "ConnectionCompleted").Str("detail"));
    }

    [Theory]
    [InlineData("2.0")]
    [InlineData("1.1")]
    public async Task GracefulStop_FinishesRequestInFlight_OverTls(string version)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, events) = await StartAsync(async ctx =>
        {
            started.TrySetResult();
            await release.Task;
            await ctx.Response.WriteAsync("finished");
        });
        await using var _s = server;
        using var client = Client(server, Version.Parse(version));
        var request = client.GetStringAsync("/slow");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var stop = server.StopAsync();
        release.SetResult();
        Assert.Equal("finished", await request.WaitAsync(TimeSpan.FromSeconds(20)));
        await stop.WaitAsync(TimeSpan.FromSeconds(20));
        var connection = await events.CompletedConnectionAsync();
        var completed = connection.Single(e => e.Name == "ConnectionCompleted");
        Assert.Equal("shutdown", completed.Str("reason"));
        Assert.Equal(1, completed.Num("requests_served"));
    }

    [ToolFact("curl")]
    public async Task Curl_Http2AndHttp11_OverTls()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync(ctx.Request.Protocol), c => c.ServerCertificate = TestCertificates.Localhost);
        var (exit2, out2) = await ExternalTool.RunAsync("curl", $"-sk --http2 -w \" %{{http_version}}\" https://127.0.0.1:{server.Port}/");
        Assert.Equal(0, exit2);
        Assert.Equal("HTTP/2 2", out2.Trim());
        var (exit1, out1) = await ExternalTool.RunAsync("curl", $"-sk --http1.1 -w \" %{{http_version}}\" https://127.0.0.1:{server.Port}/");
        Assert.Equal(0, exit1);
        Assert.Equal("HTTP/1.1 1.1", out1.Trim());
    }

    [ToolFact("h2load")]
    public async Task H2load_OverTls()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"), c => c.ServerCertificate = TestCertificates.Localhost);
        var (exit, output) = await ExternalTool.RunAsync("h2load", $"-n 2000 -c 4 -m 10 https://127.0.0.1:{server.Port}/");
        Assert.Equal(0, exit);
        Assert.Contains("2000 succeeded, 0 failed, 0 errored", output);
        Assert.Contains("Application protocol: h2", output);
    }

    [Fact]
    public async Task WebSocket_OverTls_Echoes()
    {
        await using var server = await TestServer.StartAppAsync(app =>
        {
            app.UseWebSockets();
            app.Run(async ctx =>
            {
                using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
                var buffer = new byte[1024];
                var result = await ws.ReceiveAsync(buffer, CancellationToken.None);
                await ws.SendAsync(buffer.AsMemory(0, result.Count), WebSocketMessageType.Text, true, CancellationToken.None);
                await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
            });
        }, c => c.ServerCertificate = TestCertificates.Localhost);
        using var client = new ClientWebSocket();
        client.Options.RemoteCertificateValidationCallback = (_, presented, _, _) =>
            presented?.GetCertHashString() == TestCertificates.Localhost.GetCertHashString();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await client.ConnectAsync(new Uri($"wss://localhost:{server.Port}/ws"), cts.Token);
        await client.SendAsync("hello tls"u8.ToArray(), WebSocketMessageType.Text, true, cts.Token);
        var buffer = new byte[64];
        var received = await client.ReceiveAsync(buffer, cts.Token);
        Assert.Equal("hello tls", Encoding.UTF8.GetString(buffer, 0, received.Count));
        var close = await client.ReceiveAsync(buffer, cts.Token);
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, client.CloseStatus);
    }

    [Fact]
    public async Task WebSocket_OverHttp2_OverTls_Echoes()
    {
        var (server, events) = await StartAsync(async ctx =>
        {
            if (!ctx.WebSockets.IsWebSocketRequest)
            {
                ctx.Response.StatusCode = 400;
                return;
            }
            using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            var result = await ws.ReceiveAsync(buffer, CancellationToken.None);
            await ws.SendAsync(buffer.AsMemory(0, result.Count), WebSocketMessageType.Text, true, CancellationToken.None);
            await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        }, configureApp: app => app.UseWebSockets());
        await using var _s = server;
        using var client = new ClientWebSocket();
        client.Options.HttpVersion = HttpVersion.Version20;
        client.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using var invoker = new HttpMessageInvoker(TestCertificates.TrustingHandler(TestCertificates.Localhost));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await client.ConnectAsync(new Uri($"wss://localhost:{server.Port}/ws"), invoker, cts.Token);
        await client.SendAsync("hello h2 tls"u8.ToArray(), WebSocketMessageType.Text, true, cts.Token);
        var buffer = new byte[64];
        var received = await client.ReceiveAsync(buffer, cts.Token);
        Assert.Equal("hello h2 tls", Encoding.UTF8.GetString(buffer, 0, received.Count));
        var close = await client.ReceiveAsync(buffer, cts.Token);
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token); // completes the close handshake
        await events.WaitUntilAsync(all => all.Any(e => e.Name == "ResponseCompleted" && e.Str("method") == "CONNECT"), "the tunnel's ResponseCompleted");
        var opened = events.Snapshot().First(e => e.Name == "ConnectionOpened");
        Assert.Equal("h2", opened.Str("protocol"));
        Assert.Equal(true, opened["tls"]);
    }
}
