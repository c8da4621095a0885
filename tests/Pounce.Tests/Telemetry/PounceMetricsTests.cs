using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;
using Pounce.Logging;
using Pounce.Telemetry;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.Lifecycle;

namespace Pounce.Tests.Telemetry;

/// <summary>
/// The <c>Pounce</c> meter, read with a <see cref="MeterListener"/> scoped to one server's meter: the counters move
/// with real connections and requests over loopback (lifecycle logging off: metrics do not depend on it), and the
/// close reason tags the connection duration.
/// </summary>
public sealed class PounceMetricsTests
{
    private const string ActiveConnections = "pounce.active_connections";
    private const string ConnectionDuration = "pounce.connection.duration";
    private const string RejectedConnections = "pounce.rejected_connections";
    private const string UpgradedConnections = "pounce.upgraded_connections";
    private const string TlsHandshakeDuration = "pounce.tls_handshake.duration";
    private const string ActiveRequests = "pounce.active_requests";
    private const string BytesSent = "pounce.response.body.sent";

    private static async Task<(TestServer Server, MetricsRecorder Metrics)> StartAsync(RequestDelegate handler, Action<ServerConfig>? configure = null)
    {
        var server = await TestServer.StartAsync(handler, c =>
        {
            c.LifecycleLogging = false;
            configure?.Invoke(c);
        });
        return (server, new MetricsRecorder(server.Services.GetRequiredService<PounceMetrics>().Meter));
    }

    private static void AssertEndpointTags(Measurement m, int port)
    {
        Assert.Equal("tcp", m.Tag("network.transport"));
        Assert.Equal("ipv4", m.Tag("network.type"));
        Assert.Equal("127.0.0.1", m.Tag("server.address"));
        Assert.Equal(port, Assert.IsType<int>(m.Tags["server.port"]));
    }

    [Fact]
    public async Task KeepAliveConnection_CountsTheConnectionAndItsRequests_ThenItsDurationWithReasonComplete()
    {
        var (server, metrics) = await StartAsync(ctx => ctx.Response.WriteAsync("hello"));
        await using (server)
        using (metrics)
        {
            await using (var raw = await server.ConnectAsync())
            {
                await raw.SendAsync("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
                await raw.ReadResponseAsync();
                await raw.SendAsync("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
                await raw.ReadResponseAsync();
                await metrics.WaitUntilAsync(m => m.Of(ActiveRequests).Count(x => x.Value < 0) == 2, "both requests to end");
                Assert.Equal(1, metrics.Sum(ActiveConnections));
                Assert.Equal(0, metrics.Sum(ActiveRequests));
                Assert.Empty(metrics.Of(ConnectionDuration));
            }
            await metrics.WaitUntilAsync(m => m.Of(ConnectionDuration).Count == 1, "the connection's duration");

            var opened = Assert.Single(metrics.Of(ActiveConnections), x => x.Value > 0);
            AssertEndpointTags(opened, server.Port);
            Assert.Equal(0, metrics.Sum(ActiveConnections));

            Assert.Equal([1, -1, 1, -1], metrics.Of(ActiveRequests).Select(x => x.Value));
            foreach (var request in metrics.Of(ActiveRequests))
            {
                Assert.Equal("http", request.Tag("network.protocol.name"));
                Assert.Equal("1.1", request.Tag("network.protocol.version"));
                Assert.Equal("http", request.Tag("url.scheme"));
            }
            Assert.Equal(10, metrics.Sum(BytesSent, x => x.Tag("network.protocol.version") == "1.1"));

            var duration = Assert.Single(metrics.Of(ConnectionDuration));
            AssertEndpointTags(duration, server.Port);
            Assert.Equal("complete", duration.Tag("reason"));
            Assert.Null(duration.Tag("error.type"));
            Assert.Equal("http", duration.Tag("network.protocol.name"));
            Assert.Equal("1.1", duration.Tag("network.protocol.version"));
            Assert.InRange(duration.Value, 0.000001, 60);
            Assert.Empty(metrics.Of(RejectedConnections));
            Assert.Empty(metrics.Of(TlsHandshakeDuration));
        }
    }

    [Fact]
    public async Task KeepAliveTimeout_IsReasonTimeout_WithItsDetailAsErrorType()
    {
        var (server, metrics) = await StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.KeepAliveTimeout = TimeSpan.FromMilliseconds(300));
        await using (server)
        using (metrics)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            await raw.ReadResponseAsync();
            await metrics.WaitUntilAsync(m => m.Of(ConnectionDuration).Count == 1, "the timed-out connection's duration");
            var duration = Assert.Single(metrics.Of(ConnectionDuration));
            Assert.Equal("timeout", duration.Tag("reason"));
            Assert.Equal("keep_alive_timeout", duration.Tag("error.type"));
            Assert.InRange(duration.Value, 0.2, 60);
            Assert.Equal(0, metrics.Sum(ActiveConnections));
        }
    }

    [Fact]
    public async Task MalformedRequest_IsReasonError_AndEndsNoRequest()
    {
        var (server, metrics) = await StartAsync(ctx => ctx.Response.WriteAsync("x"));
        await using (server)
        using (metrics)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1 junk\r\nHost: x\r\n\r\n");
            Assert.Equal(400, (await raw.ReadResponseAsync()).Status);
            await metrics.WaitUntilAsync(m => m.Of(ConnectionDuration).Count == 1, "the bad connection's duration");
            var duration = Assert.Single(metrics.Of(ConnectionDuration));
            Assert.Equal("error", duration.Tag("reason"));
            Assert.Equal("bad_request_line", duration.Tag("error.type"));
            Assert.Equal(0, metrics.Sum(ActiveRequests));
        }
    }

    [Fact]
    public async Task ConnectionOverMaxConnections_IsRejected_AndItsDurationHasReasonBackpressure()
    {
        var (server, metrics) = await StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.MaxConnections = 1);
        await using (server)
        using (metrics)
        {
            await using var first = await server.ConnectAsync();
            await first.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal(200, (await first.ReadResponseAsync()).Status);
            await using (var second = await server.ConnectAsync())
            {
                Assert.Equal(503, (await second.ReadResponseAsync()).Status);
                Assert.True(await second.IsClosedByServerAsync());
            }
            await metrics.WaitUntilAsync(m => m.Of(ConnectionDuration).Count == 1, "the refused connection's duration");
            var rejected = Assert.Single(metrics.Of(RejectedConnections));
            Assert.Equal(1, rejected.Value);
            AssertEndpointTags(rejected, server.Port);
            var duration = Assert.Single(metrics.Of(ConnectionDuration));
            Assert.Equal("backpressure", duration.Tag("reason"));
            Assert.Equal("max_connections", duration.Tag("error.type"));
            // The admitted connection is still open; the refused one came and went.
            Assert.Equal(1, metrics.Sum(ActiveConnections));
        }
    }

    [Fact]
    public async Task WebSocket_CountsAsUpgradedUntilItCloses_AndItsBytesAreCounted()
    {
        var (server, _) = await WebSockets.WebSocketTests.StartEchoAsync();
        var metrics = new MetricsRecorder(server.Services.GetRequiredService<PounceMetrics>().Meter);
        await using (server)
        using (metrics)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using (var socket = new ClientWebSocket())
            {
                await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{server.Port}/ws"), cts.Token);
                await metrics.WaitUntilAsync(m => m.Sum(UpgradedConnections) == 1, "the upgraded connection");
                AssertEndpointTags(Assert.Single(metrics.Of(UpgradedConnections)), server.Port);
                var message = new byte[1000];
                await socket.SendAsync(message, WebSocketMessageType.Binary, true, cts.Token);
                var back = new byte[2000];
                var received = await socket.ReceiveAsync(back, cts.Token);
                Assert.Equal(1000, received.Count);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
            }
            await metrics.WaitUntilAsync(m => m.Of(ConnectionDuration).Count == 1, "the WebSocket connection's duration");
            Assert.Equal(0, metrics.Sum(UpgradedConnections));
            Assert.Equal(0, metrics.Sum(ActiveRequests));
            var duration = Assert.Single(metrics.Of(ConnectionDuration));
            Assert.Equal("web_sockets", duration.Tag("network.protocol.name"));
            Assert.Equal("complete", duration.Tag("reason"));
            // At least the echoed message and the close frame, as the application wrote them.
            Assert.InRange(metrics.Sum(BytesSent, x => x.Tag("network.protocol.name") == "web_sockets"), 1000 + 2 + 2, 1100);
        }
    }

    [Fact]
    public async Task Http2Requests_AreCountedWithProtocolVersion2()
    {
        var (server, metrics) = await StartAsync(ctx => ctx.Response.WriteAsync("over h2"));
        await using (server)
        using (metrics)
        {
            using (var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) })
            {
                for (var i = 0; i < 3; i++)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, "/h2")
                    {
                        Version = System.Net.HttpVersion.Version20,
                        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                    };
                    using var response = await client.SendAsync(request);
                    Assert.Equal(System.Net.HttpVersion.Version20, response.Version);
                }
            }
            await metrics.WaitUntilAsync(m => m.Of(ConnectionDuration).Count == 1, "the HTTP/2 connection's duration");
            var requests = metrics.Of(ActiveRequests);
            Assert.Equal(6, requests.Count);
            Assert.All(requests, r => Assert.Equal("2", r.Tag("network.protocol.version")));
            Assert.Equal(0, metrics.Sum(ActiveRequests));
            Assert.Equal(3 * 7, metrics.Sum(BytesSent, x => x.Tag("network.protocol.version") == "2"));
            Assert.Equal("2", Assert.Single(metrics.Of(ConnectionDuration)).Tag("network.protocol.version"));
        }
    }

    [Fact]
    public async Task LogLines_WrittenByTheServer_AreObservable()
    {
        var logFile = Path.Combine(Path.GetTempPath(), "pounce-metrics-" + Guid.NewGuid().ToString("N") + ".log");
        var (server, metrics) = await StartAsync(ctx => ctx.Response.WriteAsync("x"), c =>
        {
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
            c.LogFile = logFile;
        });
        await using (server)
        using (metrics)
        {
            await using (var raw = await server.ConnectAsync())
            {
                await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                await raw.ReadResponseAsync();
            }
            var writer = server.Services.GetRequiredService<LogLineWriter>();
            await metrics.WaitUntilAsync(_ => writer.WrittenLines >= 4, "the four lifecycle lines to be written");
            metrics.Observe();
            Assert.True(metrics.Of("pounce.log.lines_written").Single().Value >= 4);
            Assert.Equal(0, metrics.Of("pounce.log.lines_dropped").Single().Value);
        }
    }

    [Fact]
    public async Task DroppedLogLines_AreObservable()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var blocked = new BlockingStream();
        await using var writer = new LogLineWriter(blocked, LogFormat.Json, capacity: 16, ownsStream: false);
        var metrics = new PounceMetrics(services.GetRequiredService<IMeterFactory>(), writer);
        using var recorder = new MetricsRecorder(metrics.Meter);
        try
        {
            // The writer thread takes the first line and blocks writing it; then the queue (16 lines) fills and the
            // rest are dropped.
            Assert.True(writer.TryEnqueue("{\"line\":0}\n"u8));
            Assert.True(blocked.Writing.Wait(TimeSpan.FromSeconds(20)), "the writer thread never wrote");
            for (var i = 0; i < 200; i++)
                writer.TryEnqueue("{\"line\":1}\n"u8);
            recorder.Observe();
            Assert.Equal(200 - 16, recorder.Of("pounce.log.lines_dropped").Single().Value);
            Assert.Equal(1, recorder.Of("pounce.log.lines_written").Single().Value);
        }
        finally
        {
            blocked.Release();
        }
    }

    // ---------------- the emitter's hooks, without sockets ----------------

    private static (LifecycleEmitter Emitter, MetricsRecorder Recorder, ServiceProvider Services) Emitter(bool lifecycle = false)
    {
        var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new PounceMetrics(services.GetRequiredService<IMeterFactory>());
        var emitter = new LifecycleEmitter(LifecycleTestKit.Config(lifecycle: lifecycle), null, null, null, metrics);
        return (emitter, new MetricsRecorder(metrics.Meter), services);
    }

    [Fact]
    public void TlsHandshake_IsMeasuredWhenTheConnectionOpens_WithItsVersion()
    {
        var (emitter, recorder, services) = Emitter();
        using (services)
        using (recorder)
        {
            var c = LifecycleTestKit.Connection();
            c.Tls = true;
            c.TlsHandshakeMs = 12.5;
            c.TlsProtocolVersion = "1.3";
            emitter.ConnectionOpened(c);
            var handshake = Assert.Single(recorder.Of(TlsHandshakeDuration));
            Assert.Equal(0.0125, handshake.Value, 9);
            Assert.Equal("1.3", handshake.Tag("tls.protocol.version"));
            Assert.Null(handshake.Tag("error.type"));

            c.ReportEnd(ConnectionEnd.ClientClosedIdle);
            c.ClosedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
            emitter.ConnectionCompleted(c);
            Assert.Single(recorder.Of(TlsHandshakeDuration));
            var duration = Assert.Single(recorder.Of(ConnectionDuration));
            Assert.Equal("1.3", duration.Tag("tls.protocol.version"));
            Assert.Equal("complete", duration.Tag("reason"));
        }
    }

    [Fact]
    public async Task RealTlsHandshakes_AreMeasured_WithVersionOrErrorType()
    {
        var (server, metrics) = await StartAsync(ctx => ctx.Response.WriteAsync("ok"), c => c.ServerCertificate = Tls.TestCertificates.Localhost);
        await using (server)
        using (metrics)
        {
            using (var client = new HttpClient(Tls.TestCertificates.TrustingHandler(Tls.TestCertificates.Localhost))
            {
                DefaultRequestVersion = System.Net.HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            })
            {
                Assert.Equal("ok", await client.GetStringAsync($"https://localhost:{server.Port}/"));
            }
            await using (var raw = await server.ConnectAsync())
            {
                await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); // plaintext on the HTTPS port
                await raw.ReadToEndAsync(TimeSpan.FromSeconds(10));
            }
            await metrics.WaitUntilAsync(m => m.Of(TlsHandshakeDuration).Count >= 2, "two TLS handshake measurements");
            var handshakes = metrics.Of(TlsHandshakeDuration);
            var ok = Assert.Single(handshakes, h => h.Tag("error.type") is null);
            Assert.True(ok.Tag("tls.protocol.version") is "1.3" or "1.2", ok.ToString());
            Assert.True(ok.Value > 0, ok.ToString());
            var failed = Assert.Single(handshakes, h => h.Tag("error.type") is not null);
            Assert.Equal("tls_handshake_failed", failed.Tag("error.type"));
            Assert.Null(failed.Tag("tls.protocol.version"));
        }
    }

    [Theory]
    [InlineData(ConnectionEnd.TlsHandshakeFailed, "error", "tls_handshake_failed")]
    [InlineData(ConnectionEnd.TlsHandshakeTimeout, "timeout", "tls_handshake_timeout")]
    public void FailedTlsHandshake_IsMeasuredWhenTheConnectionCloses_WithErrorType(ConnectionEnd end, string reason, string errorType)
    {
        var (emitter, recorder, services) = Emitter();
        using (services)
        using (recorder)
        {
            var c = LifecycleTestKit.Connection(protocol: ConnectionProtocol.Unknown);
            c.Tls = true;
            c.TlsHandshakeMs = 3;
            c.ReportEnd(end);
            emitter.ConnectionOpened(c);
            Assert.Empty(recorder.Of(TlsHandshakeDuration));
            c.ClosedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
            emitter.ConnectionCompleted(c);

            var handshake = Assert.Single(recorder.Of(TlsHandshakeDuration));
            Assert.Equal(0.003, handshake.Value, 9);
            Assert.Equal(errorType, handshake.Tag("error.type"));
            Assert.Null(handshake.Tag("tls.protocol.version"));
            var duration = Assert.Single(recorder.Of(ConnectionDuration));
            Assert.Equal(reason, duration.Tag("reason"));
            Assert.Equal(errorType, duration.Tag("error.type"));
            Assert.Null(duration.Tag("network.protocol.name"));
            Assert.Equal(0, recorder.Sum(ActiveConnections));
        }
    }

    [Theory]
    [InlineData(ConnectionEnd.ShutdownDrained, null)]
    [InlineData(ConnectionEnd.ShutdownIdle, null)]
    [InlineData(ConnectionEnd.ShutdownAborted, "shutdown_timeout")]
    [InlineData(ConnectionEnd.PeerReset, "peer_reset")]
    public void GracefulShutdownIsNoError_AnAbortedOneIs(ConnectionEnd end, string? errorType)
    {
        var (emitter, recorder, services) = Emitter();
        using (services)
        using (recorder)
        {
            var c = LifecycleTestKit.Connection();
            emitter.ConnectionOpened(c);
            c.ReportEnd(end);
            c.ClosedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
            emitter.ConnectionCompleted(c);
            var duration = Assert.Single(recorder.Of(ConnectionDuration));
            Assert.Equal(ConnectionEnds.Name(ConnectionEnds.Describe(end).Reason), duration.Tag("reason"));
            Assert.Equal(errorType, duration.Tag("error.type"));
        }
    }

    [Fact]
    public void ConnectionsAndRequestsOpenedBeforeTheListener_AreNotTakenAwayFromIt()
    {
        var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using (services)
        {
            var metrics = new PounceMetrics(services.GetRequiredService<IMeterFactory>());
            var emitter = new LifecycleEmitter(LifecycleTestKit.Config(), null, null, null, metrics);
            var early = LifecycleTestKit.Connection();
            emitter.ConnectionOpened(early);
            var earlyRequest = LifecycleTestKit.Request(early);
            emitter.RequestStarted(early, earlyRequest);

            using var recorder = new MetricsRecorder(metrics.Meter);
            var late = LifecycleTestKit.Connection();
            emitter.ConnectionOpened(late);
            LifecycleTestKit.Serve(emitter, late, LifecycleTestKit.Request(late));
            emitter.ResponseCompleted(early, earlyRequest);
            foreach (var c in new[] { early, late })
            {
                c.ReportEnd(ConnectionEnd.ClientClosedIdle);
                c.ClosedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
                emitter.ConnectionCompleted(c);
                emitter.ConnectionCompleted(c); // a repeated fact counts once
            }

            Assert.Equal([1, -1], recorder.Of(ActiveConnections).Select(m => m.Value));
            Assert.Equal([1, -1], recorder.Of(ActiveRequests).Select(m => m.Value));
            Assert.Equal(2, recorder.Of(ConnectionDuration).Count);
            Assert.Equal(2 * 123, recorder.Sum(BytesSent));
        }
    }

    [Fact]
    public void UpgradedConnection_AndRequestEnds_AreCountedOnce_WhateverTheLogLevel()
    {
        var (emitter, recorder, services) = Emitter(lifecycle: false);
        using (services)
        using (recorder)
        {
            var c = LifecycleTestKit.Connection();
            emitter.ConnectionOpened(c);
            var upgrade = LifecycleTestKit.Request(c);
            LifecycleTestKit.Serve(emitter, c, upgrade);
            emitter.ConnectionUpgraded(c, upgrade);
            c.TotalBytesSent += 500;
            emitter.ClientDisconnected(c, upgrade); // after its ResponseCompleted: ends nothing twice
            c.ReportEnd(ConnectionEnd.UpgradeCompleted);
            c.ClosedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
            emitter.ConnectionCompleted(c);

            Assert.Equal([1, -1], recorder.Of(ActiveConnections).Select(m => m.Value));
            Assert.Equal([1, -1], recorder.Of(UpgradedConnections).Select(m => m.Value));
            Assert.Equal([1, -1], recorder.Of(ActiveRequests).Select(m => m.Value));
            Assert.Equal(123, recorder.Sum(BytesSent, m => m.Tag("network.protocol.name") == "http"));
            Assert.Equal(500, recorder.Sum(BytesSent, m => m.Tag("network.protocol.name") == "web_sockets"));
        }
    }

    /// <summary>A stream whose writes block until released (a stuck log destination).</summary>
    private sealed class BlockingStream : Stream
    {
        private readonly ManualResetEventSlim _released = new();

        public ManualResetEventSlim Writing { get; } = new();

        public void Release() => _released.Set();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Writing.Set();
            _released.Wait(TimeSpan.FromSeconds(30));
        }

        public override void Flush() { }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => 0;

        public override long Position { get => 0; set { } }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            _released.Set();
            if (disposing)
            {
                _released.Dispose();
                Writing.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
