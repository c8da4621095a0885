using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Pounce.Cli.Tests;

/// <summary>
/// <c>pounce</c> serving for real: the demo app, an unchanged app, graceful shutdown. These need a working Pounce
/// server (they fail while <c>PounceServer</c> is a stub). Every process is started on port 0, its address read from
/// its start-up line, and killed at the end whatever happens.
/// </summary>
public sealed class ServeTests : IDisposable
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("pounce-serve-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] JsonDebugLogging =
        ["--port", "0", "--host", "127.0.0.1", "--lifecycle-logging", "--log-format", "json", "--log-level", "debug"];

    [Fact]
    public async Task Demo_endpoints_produce_lifecycle_events()
    {
        await using var pounce = PounceProcess.Start(
            [.. JsonDebugLogging, "--workers", "1", "--log-slow-requests-threshold", "0.5", "--health-check-path", "/health"], _dir);
        var address = await pounce.WaitForAddressAsync();

        using (var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) })
        {
            var index = await client.GetAsync("/");
            Assert.Equal(HttpStatusCode.OK, index.StatusCode);
            Assert.Contains("pounce", index.Headers.Server.ToString(), StringComparison.OrdinalIgnoreCase);
            Assert.Equal("application/json", index.Content.Headers.ContentType?.MediaType);
            using (var doc = JsonDocument.Parse(await index.Content.ReadAsStringAsync()))
                Assert.True(doc.RootElement.GetProperty("endpoints").GetArrayLength() >= 9);

            Assert.Equal("Hello, World!", await client.GetStringAsync("/plaintext"));
            Assert.Equal("slept 700 ms\n", await client.GetStringAsync("/slow?ms=700"));
            Assert.Equal(1024 * 1024, (await client.GetByteArrayAsync("/download?mb=1")).Length);

            var sse = await client.GetAsync("/sse?count=3&ms=10");
            Assert.Equal("text/event-stream", sse.Content.Headers.ContentType?.MediaType);
            var events = await sse.Content.ReadAsStringAsync();
            Assert.Equal(3, events.Split('\n').Count(l => l.StartsWith("data: ", StringComparison.Ordinal)));

            var echo = await client.PostAsync("/echo", new StringContent("ping pong", Encoding.UTF8, "text/plain"));
            Assert.Equal("ping pong", await echo.Content.ReadAsStringAsync());
            Assert.Equal("text/plain", echo.Content.Headers.ContentType?.MediaType);

            Assert.Equal(HttpStatusCode.InternalServerError, (await client.GetAsync("/throw")).StatusCode);
            Assert.Equal("ok", await client.GetStringAsync("/health"));
        }

        // A client that hangs up in the middle of a large download.
        using (var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
        {
            using var response = await client.GetAsync(new Uri(address, "/download?mb=512"), HttpCompletionOption.ResponseHeadersRead);
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[64 * 1024];
            var read = 0;
            while (read < buffer.Length)
                read += await body.ReadAsync(buffer.AsMemory(read));
        }

        var all = await pounce.WaitForAsync(p =>
        {
            var events = Events(p);
            var done = Completed(events, "/") && Completed(events, "/plaintext") && Completed(events, "/slow") && Completed(events, "/download")
                && Completed(events, "/sse") && Completed(events, "/echo") && Completed(events, "/throw")
                && events.Any(e => Name(e) == "ClientDisconnected")
                && events.Count(e => Name(e) == "ConnectionCompleted") >= 2
                && events.Count(e => Name(e) == "ConnectionCompleted") == events.Count(e => Name(e) == "ConnectionOpened");
            return done ? events : null;
        }, PounceProcess.EventTimeout, "ResponseCompleted for every demo endpoint, a ClientDisconnected, and a ConnectionCompleted for every ConnectionOpened");

        foreach (var e in all)
        {
            Assert.True(e.TryGetProperty("connection_id", out _), $"no connection_id: {e}");
            Assert.Equal(1, e.GetProperty("worker_id").GetInt32());
            Assert.True(e.TryGetProperty("timestamp", out _), $"no timestamp: {e}");
            Assert.True(e.TryGetProperty("level", out _), $"no level: {e}");
            if (e.TryGetProperty("path", out var path))
                Assert.NotEqual("/health", path.GetString());
        }

        var slow = Response(all, "/slow");
        Assert.True(slow.GetProperty("slow").GetBoolean());
        Assert.Equal("info", slow.GetProperty("level").GetString());
        Assert.False(Response(all, "/plaintext").TryGetProperty("slow", out _));
        Assert.Equal(500, Response(all, "/throw").GetProperty("status").GetInt32());
        Assert.Equal(1024 * 1024, Response(all, "/download").GetProperty("bytes_sent").GetInt64());
        Assert.Equal(9, Response(all, "/echo").GetProperty("bytes_sent").GetInt64());
        Assert.False(Response(all, "/sse").TryGetProperty("slow", out _));

        var disconnected = all.First(e => Name(e) == "ClientDisconnected");
        Assert.True(disconnected.GetProperty("during_streaming").GetBoolean());
        Assert.Equal("warning", disconnected.GetProperty("level").GetString());

        foreach (var started in all.Where(e => Name(e) == "RequestStarted"))
        {
            var id = started.GetProperty("request_id").GetString();
            Assert.Single(all, e => Name(e) is "ResponseCompleted" or "ClientDisconnected"
                && e.TryGetProperty("request_id", out var rid) && rid.GetString() == id);
        }

        Assert.All(pounce.StdoutLines, line => AssertJsonObject(line));

        await pounce.SignalAsync("TERM");
        Assert.Equal(0, await pounce.WaitForExitAsync(ExitTimeout));
    }

    [Fact]
    public async Task Ssl_certfile_and_keyfile_serve_the_demo_over_https_with_h2()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=localhost", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certFile = Path.Combine(_dir, "cert.pem");
        var keyFile = Path.Combine(_dir, "key.pem");
        await File.WriteAllTextAsync(certFile, certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(keyFile, key.ExportPkcs8PrivateKeyPem());

        await using var pounce = PounceProcess.Start([.. JsonDebugLogging, "--ssl-certfile", certFile, "--ssl-keyfile", keyFile], _dir);
        var address = await pounce.WaitForAddressAsync();
        Assert.Equal("https", address.Scheme);

        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) =>
            presented?.GetCertHashString() == certificate.GetCertHashString();
        using (var client = new HttpClient(handler) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) })
        {
            using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/plaintext")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(HttpVersion.Version20, response.Version);
        }

        var events = await pounce.WaitForAsync(p => Events(p) is var all && all.Any(e => Name(e) == "ConnectionCompleted") ? all : null,
            PounceProcess.EventTimeout, "the HTTPS connection's ConnectionCompleted");
        var opened = events.First(e => Name(e) == "ConnectionOpened");
        Assert.True(opened.GetProperty("tls").GetBoolean());
        Assert.Equal("h2", opened.GetProperty("protocol").GetString());

        await pounce.SignalAsync("TERM");
        Assert.Equal(0, await pounce.WaitForExitAsync(ExitTimeout));
    }

    [Fact]
    public async Task Demo_websocket_echo_is_an_upgraded_connection()
    {
        await using var pounce = PounceProcess.Start(JsonDebugLogging, _dir);
        var address = await pounce.WaitForAddressAsync();

        using (var socket = new ClientWebSocket())
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await socket.ConnectAsync(new Uri($"ws://{address.Authority}/ws"), cts.Token);
            await socket.SendAsync("hello pounce"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, cts.Token);
            var buffer = new byte[1024];
            var result = await socket.ReceiveAsync(buffer, cts.Token);
            Assert.Equal("hello pounce", Encoding.UTF8.GetString(buffer, 0, result.Count));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
        }

        var events = await pounce.WaitForAsync(p => Events(p) is var all && all.Any(e => Name(e) == "ConnectionCompleted") ? all : null,
            PounceProcess.EventTimeout, "the WebSocket connection's ConnectionCompleted");
        var completed = events.First(e => Name(e) == "ConnectionCompleted");
        var upgraded = Assert.Single(events, e => Name(e) == "ConnectionUpgraded");
        Assert.Equal("websocket", upgraded.GetProperty("protocol").GetString());
        Assert.Equal("websocket", completed.GetProperty("protocol").GetString());

        await pounce.SignalAsync("TERM");
        Assert.Equal(0, await pounce.WaitForExitAsync(ExitTimeout));
    }

    [Fact]
    public async Task Demo_metrics_endpoint_serves_the_pounce_meter_for_prometheus()
    {
        await using var pounce = PounceProcess.Start(["--port", "0", "--host", "127.0.0.1", "--otel-service-name", "demo-under-test"], _dir);
        var address = await pounce.WaitForAddressAsync();

        // One connection that closes (its duration is recorded with reason "complete"), then scrapes on another.
        using (var closing = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) })
        {
            closing.DefaultRequestHeaders.ConnectionClose = true;
            Assert.Equal("Hello, World!", await closing.GetStringAsync("/plaintext"));
        }
        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        string text;
        while (true)
        {
            using var response = await client.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            text = await response.Content.ReadAsStringAsync();
            if (text.Contains("pounce_connection_duration_seconds_count{", StringComparison.Ordinal) || DateTime.UtcNow > deadline)
                break;
            await Task.Delay(100);
        }
        var lines = text.Split('\n');
        string Sample(string prefix) => lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"no {prefix} sample in /metrics:\n{text}");
        double Value(string line) => double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

        Assert.Contains("service_name=\"demo-under-test\"", Sample("target_info{"), StringComparison.Ordinal);
        var duration = Sample("pounce_connection_duration_seconds_count{");
        Assert.Contains("reason=\"complete\"", duration, StringComparison.Ordinal);
        Assert.Contains("network_protocol_version=\"1.1\"", duration, StringComparison.Ordinal);
        Assert.Contains($"server_port=\"{address.Port}\"", duration, StringComparison.Ordinal);
        Assert.Equal(1, Value(duration));
        // The scraping connection is open and its request is in flight while the exporter reads the counters.
        Assert.Equal(1, Value(Sample("pounce_active_connections{")));
        Assert.Equal(1, Value(Sample("pounce_active_requests{")));
        Assert.True(Value(Sample("pounce_response_body_sent_bytes_total{")) >= "Hello, World!".Length);
        Assert.Contains(lines, l => l.StartsWith("http_server_request_duration_seconds_count{", StringComparison.Ordinal));

        await pounce.SignalAsync("TERM");
        Assert.Equal(0, await pounce.WaitForExitAsync(ExitTimeout));
    }

    [Fact]
    public async Task An_unchanged_app_is_served_by_pounce_with_the_commands_settings()
    {
        Assert.True(File.Exists(PounceProcess.HelloAppDll), $"the HelloApp sample is not built at {PounceProcess.HelloAppDll}");
        // Run from elsewhere: the app must still find its own appsettings.json (content root = its directory).
        // ASPNETCORE_URLS names an address this machine cannot bind: --host/--port must win over the app's own URLs.
        await using var pounce = PounceProcess.Start(
            [PounceProcess.HelloAppDll, .. JsonDebugLogging, "--server-header", "pounce-hello-test", "--", "--HelloApp:FromArgs=passed through"], _dir,
            new Dictionary<string, string> { ["ASPNETCORE_URLS"] = "http://192.0.2.1:9" });
        var address = await pounce.WaitForAddressAsync();
        Assert.Equal("127.0.0.1", address.Host);

        using (var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) })
        {
            var hello = await client.GetAsync("/");
            Assert.Equal("Hello from HelloApp!", await hello.Content.ReadAsStringAsync());
            Assert.Equal("pounce-hello-test", hello.Headers.Server.ToString());

            using (var greet = JsonDocument.Parse(await client.GetStringAsync("/greet/ann")))
                Assert.Equal("Hello, ann!", greet.RootElement.GetProperty("message").GetString());

            using (var config = JsonDocument.Parse(await client.GetStringAsync("/config")))
            {
                Assert.Equal("Hello from HelloApp's appsettings.json", config.RootElement.GetProperty("greeting").GetString());
                Assert.Equal("HelloApp", config.RootElement.GetProperty("applicationName").GetString());
                Assert.Equal("passed through", config.RootElement.GetProperty("fromArgs").GetString());
                var appDirectory = System.IO.Path.GetDirectoryName(PounceProcess.HelloAppDll)!;
                Assert.Equal(appDirectory, System.IO.Path.TrimEndingDirectorySeparator(config.RootElement.GetProperty("contentRoot").GetString()!));
                Assert.Equal(appDirectory, System.IO.Path.TrimEndingDirectorySeparator(config.RootElement.GetProperty("baseDirectory").GetString()!));
            }

            var reversed = await client.PostAsync("/reverse", new StringContent("pounce"));
            Assert.Equal("ecnuop", await reversed.Content.ReadAsStringAsync());

            // (While the connection is still open: what a client closing it does is the shutdown test's business.)
            await pounce.WaitForAsync(p => Completed(Events(p), "/") && Completed(Events(p), "/greet/ann") && Completed(Events(p), "/reverse") ? "" : null,
                PounceProcess.EventTimeout, "ResponseCompleted events for the app's requests");
        }
        // The app's own log line ("Greeting ann") goes through Pounce's writer, as JSON like everything else.
        await pounce.WaitForAsync(p => p.StdoutLines.FirstOrDefault(l => l.Contains("ann", StringComparison.Ordinal) && l.Contains("Greeting", StringComparison.Ordinal)),
            PounceProcess.EventTimeout, "the app's own 'Greeting ann' log line");
        Assert.All(pounce.StdoutLines, line => AssertJsonObject(line));

        await pounce.SignalAsync("TERM");
        Assert.Equal(0, await pounce.WaitForExitAsync(ExitTimeout));
    }

    [Fact]
    public async Task Sigterm_lets_an_in_flight_slow_request_finish_then_exits_0()
    {
        await using var pounce = PounceProcess.Start(JsonDebugLogging, _dir);
        var address = await pounce.WaitForAddressAsync();

        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        var slow = client.GetAsync("/slow?ms=2000");
        await pounce.WaitForAsync(p => Events(p).Any(e => Name(e) == "RequestStarted" && PathOf(e) == "/slow") ? "" : null,
            PounceProcess.EventTimeout, "RequestStarted for /slow");

        await pounce.SignalAsync("TERM");

        var response = await slow;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("slept 2000 ms\n", await response.Content.ReadAsStringAsync());
        Assert.Equal(0, await pounce.WaitForExitAsync(ExitTimeout));
        Assert.True(Completed(Events(pounce), "/slow"), "no ResponseCompleted for the drained /slow request\n" + pounce.Tail());
        Assert.Contains(Events(pounce), e => Name(e) == "ConnectionCompleted");
    }

    [Fact]
    public async Task Text_startup_line_names_address_workers_protocols_and_logging()
    {
        await using var pounce = PounceProcess.Start(["--port", "0", "--workers", "2", "--lifecycle-logging"], _dir);
        var address = await pounce.WaitForAddressAsync();
        Assert.Equal("127.0.0.1", address.Host);
        Assert.NotEqual(0, address.Port);

        // The command's own start-up line (category Pounce.Cli), not the server's.
        var line = await pounce.WaitForAsync(p => p.StdoutLines.FirstOrDefault(l => l.Contains("Pounce.Cli", StringComparison.Ordinal)
                && l.Contains("listening on", StringComparison.Ordinal)),
            PounceProcess.EventTimeout, "the Pounce.Cli start-up line");
        Assert.Contains("workers=2", line, StringComparison.Ordinal);
        Assert.Contains("protocols=h1", line, StringComparison.Ordinal);
        Assert.Contains("serving demo", line, StringComparison.Ordinal);
        Assert.Contains("lifecycle_logging=on", line, StringComparison.Ordinal);
        Assert.Contains("log_format=text", line, StringComparison.Ordinal);
        Assert.False(line.TrimStart().StartsWith('{'), "text format, yet the start-up line is JSON: " + line);

        await pounce.SignalAsync("INT");
        Assert.Equal(0, await pounce.WaitForExitAsync(ExitTimeout));
        // Written once: through Pounce's writer, not a second time by Pounce's logger provider.
        Assert.Single(pounce.StdoutLines, l => l.Contains("Pounce.Cli", StringComparison.Ordinal) && l.Contains("serving demo", StringComparison.Ordinal));
    }

    private static List<JsonElement> Events(PounceProcess pounce)
    {
        var events = new List<JsonElement>();
        foreach (var line in pounce.StdoutLines)
        {
            if (!line.StartsWith('{'))
                continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("event", out _))
                    events.Add(doc.RootElement.Clone());
            }
            catch (JsonException)
            {
                // reported by AssertJsonObject
            }
        }
        return events;
    }

    private static string? Name(JsonElement e) => e.TryGetProperty("event", out var name) ? name.GetString() : null;

    private static string? PathOf(JsonElement e) => e.TryGetProperty("path", out var path) ? path.GetString() : null;

    private static bool Completed(List<JsonElement> events, string path)
        => events.Any(e => Name(e) == "ResponseCompleted" && PathOf(e) == path);

    private static JsonElement Response(List<JsonElement> events, string path)
        => events.First(e => Name(e) == "ResponseCompleted" && PathOf(e) == path);

    private static void AssertJsonObject(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            Assert.True(doc.RootElement.ValueKind == JsonValueKind.Object, "not a JSON object: " + line);
        }
        catch (JsonException e)
        {
            Assert.Fail($"with --log-format json, every line on standard output must be a JSON object; this one is not ({e.Message}): {line}");
        }
    }
}
