using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pounce.Logging;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.Lifecycle;
using static Pounce.Tests.Lifecycle.LifecycleTestKit;

namespace Pounce.Tests.Logging;

/// <summary>
/// The access log over real sockets: exactly one line per request that reached the server, whoever ended it (the
/// application, the server's own answers, a client that went away), with the correlation fields, in JSON and text;
/// and the health-check rule.
/// </summary>
public sealed class AccessLogTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    /// <summary>A server whose lines (lifecycle, access, ILogger) all go to <paramref name="sink"/>.</summary>
    internal static Task<TestServer> StartAsync(RequestDelegate handler, SinkStream sink, LogFormat format = LogFormat.Json,
        Action<ServerConfig>? configure = null)
        => TestServer.StartAppAsync(app => app.Run(handler), c =>
        {
            c.AccessLog = true;
            c.LogFormat = format;
            configure?.Invoke(c);
        }, services => services.AddSingleton(_ => new LogLineWriter(sink, format, 4096, ownsStream: false)));

    /// <summary>Waits (bounded) until the sink holds lines matching <paramref name="match"/>, <paramref name="count"/> of them.</summary>
    internal static async Task<JsonElement[]> WaitForJsonAsync(SinkStream sink, Func<JsonElement, bool> match, int count, string what)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var lines = ParseLines(sink.Written).Where(match).ToArray();
            if (lines.Length >= count)
                return lines;
            if (watch.Elapsed > Wait)
                throw new TimeoutException($"{what}: {lines.Length} of {count} lines after {Wait.TotalSeconds} s. Output:\n{Encoding.UTF8.GetString(sink.Written)}");
            await Task.Delay(20);
        }
    }

    internal static async Task<string[]> WaitForTextAsync(SinkStream sink, Func<string, bool> match, int count, string what)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var lines = Lines(sink.Written).Where(match).ToArray();
            if (lines.Length >= count)
                return lines;
            if (watch.Elapsed > Wait)
                throw new TimeoutException($"{what}: {lines.Length} of {count} lines after {Wait.TotalSeconds} s. Output:\n{Encoding.UTF8.GetString(sink.Written)}");
            await Task.Delay(20);
        }
    }

    private static bool IsAccess(JsonElement e) => e.TryGetProperty("category", out var c) && c.GetString() == "Pounce.Access";

    private static readonly string[] AccessKeys =
        ["timestamp", "level", "category", "connection_id", "worker_id", "request_id", "client_addr", "method", "path",
         "http_version", "status", "bytes_sent", "duration_ms", "user_agent"];

    [Fact]
    public async Task An_abandoned_request_has_one_access_line_with_499_and_during_streaming()
    {
        var sink = new SinkStream();
        var server = await StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/started")
            {
                await ctx.Response.WriteAsync(new string('s', 3000));
                await ctx.Response.Body.FlushAsync();
            }
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
        }, sink, configure: c =>
        {
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
        });
        await using (server)
        {
            await using (var before = await server.ConnectAsync())
            {
                await before.SendAsync("GET /waiting HTTP/1.1\r\nHost: x\r\nUser-Agent: probe/1\r\n\r\n");
                await WaitForJsonAsync(sink, e => e.TryGetProperty("event", out var n) && n.GetString() == "RequestStarted", 1, "RequestStarted");
                before.Reset();
            }
            await using (var during = await server.ConnectAsync())
            {
                await during.SendAsync("GET /started HTTP/1.1\r\nHost: x\r\n\r\n");
                Assert.True(await during.Socket.ReceiveAsync(new byte[256], System.Net.Sockets.SocketFlags.None) > 0);
                during.Reset();
            }
            var access = await WaitForJsonAsync(sink, IsAccess, 2, "access lines");
            var disconnects = await WaitForJsonAsync(sink, e => e.TryGetProperty("event", out var n) && n.GetString() == "ClientDisconnected", 2, "ClientDisconnected");
            Assert.Equal(2, access.Length);
            foreach (var line in access)
            {
                Assert.Equal([.. AccessKeys, "during_streaming"], Keys(line));
                Assert.Equal(499, line.GetProperty("status").GetInt32());
                var ending = Assert.Single(disconnects, d => d.GetProperty("request_id").GetString() == line.GetProperty("request_id").GetString());
                Assert.Equal(ending.GetProperty("during_streaming").GetBoolean(), line.GetProperty("during_streaming").GetBoolean());
                Assert.Equal(ending.GetProperty("connection_id").GetInt64(), line.GetProperty("connection_id").GetInt64());
            }
            var waiting = Assert.Single(access, l => l.GetProperty("path").GetString() == "/waiting");
            Assert.False(waiting.GetProperty("during_streaming").GetBoolean());
            Assert.Equal("probe/1", waiting.GetProperty("user_agent").GetString());
            Assert.Equal("1.1", waiting.GetProperty("http_version").GetString());
            var started = Assert.Single(access, l => l.GetProperty("path").GetString() == "/started");
            Assert.True(started.GetProperty("during_streaming").GetBoolean());
            Assert.True(started.GetProperty("bytes_sent").GetInt64() > 0);
        }
    }

    public static TheoryData<string, string, int> ServerAnswers => new()
    {
        { "malformed header line", "GET /bad HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", 400 },
        { "request line too long", "GET /" + new string('a', 300) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414 },
        { "head too large", "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + new string('b', 600) + "\r\n\r\n", 431 },
        { "declared body too large", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413 },
        { "unsupported version", "GET / HTTP/1.7\r\nHost: x\r\n\r\n", 505 },
    };

    [Theory]
    [MemberData(nameof(ServerAnswers))]
    public async Task Each_answer_the_server_gives_itself_has_one_access_line_with_its_status(string what, string request, int status)
    {
        var sink = new SinkStream();
        var server = await StartAsync(async ctx =>
        {
            await ctx.Request.Body.CopyToAsync(Stream.Null); // a body over MaxRequestBodySize: the server answers 413
            await ctx.Response.WriteAsync("app");
        }, sink, configure: c =>
        {
            c.MaxRequestLineSize = 256;
            c.MaxHeaderSize = 512;
            c.MaxRequestBodySize = 1000;
        });
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync(request);
            Assert.Equal(status, (await raw.ReadResponseAsync()).Status);
            var line = Assert.Single(await WaitForJsonAsync(sink, IsAccess, 1, what));
            Assert.Equal(status, line.GetProperty("status").GetInt32());
            Assert.Equal(AccessKeys, Keys(line));
            Assert.True(line.GetProperty("connection_id").GetInt64() > 0);
            Assert.Equal(line.GetProperty("connection_id").GetInt64() + "-1", line.GetProperty("request_id").GetString());
            Assert.Equal("127.0.0.1", line.GetProperty("client_addr").GetString());
        }
        Assert.Single(ParseLines(sink.Written), IsAccess);
    }

    [Fact]
    public async Task A_header_timeout_408_has_its_access_line_in_text()
    {
        var sink = new SinkStream();
        var server = await StartAsync(ctx => ctx.Response.WriteAsync("app"), sink, LogFormat.Text,
            c => c.HeaderTimeout = TimeSpan.FromMilliseconds(300));
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET /slowloris HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            Assert.Equal(408, (await raw.ReadResponseAsync(timeout: Wait)).Status);
            var line = Assert.Single(await WaitForTextAsync(sink, l => l.Contains("\" 408 ", StringComparison.Ordinal), 1, "408 access line"));
            Assert.Matches(@"^127\.0\.0\.1 - - \[[^\]]+\] ""GET /slowloris HTTP/1\.1"" 408 - ""-"" ""-"" \d+\.\d{3} request_id=(\d+)-1 connection_id=\1 worker_id=[12]$", line);
        }
    }

    [Fact]
    public async Task A_503_at_MaxConnections_has_one_access_line()
    {
        var sink = new SinkStream();
        var server = await StartAsync(ctx => ctx.Response.WriteAsync("x"), sink, configure: c => c.MaxConnections = 1);
        await using (server)
        {
            await using var first = await server.ConnectAsync();
            await first.SendAsync("GET /admitted HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal(200, (await first.ReadResponseAsync()).Status);
            await using var second = await server.ConnectAsync();
            Assert.Equal(503, (await second.ReadResponseAsync()).Status);
            var lines = await WaitForJsonAsync(sink, IsAccess, 2, "access lines");
            var refused = Assert.Single(lines, l => l.GetProperty("status").GetInt32() == 503);
            Assert.Equal("", refused.GetProperty("method").GetString());
            Assert.Equal(refused.GetProperty("connection_id").GetInt64() + "-1", refused.GetProperty("request_id").GetString());
            Assert.Single(lines, l => l.GetProperty("path").GetString() == "/admitted" && l.GetProperty("status").GetInt32() == 200);
        }
    }

    [Fact]
    public async Task Health_checks_that_succeed_are_silent_and_one_that_fails_is_logged_in_both_logs()
    {
        var sink = new SinkStream();
        var healthy = true;
        var server = await StartAsync(ctx =>
        {
            if (ctx.Request.Path == "/health" && !Volatile.Read(ref healthy))
                ctx.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return ctx.Response.WriteAsync("h");
        }, sink, configure: c =>
        {
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
            c.HealthCheckPath = "/health";
        });
        await using (server)
        {
            await using (var probe = await server.ConnectAsync())
            {
                await probe.SendAsync("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
                Assert.Equal(200, (await probe.ReadResponseAsync()).Status);
                Volatile.Write(ref healthy, false);
                await probe.SendAsync("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
                Assert.Equal(503, (await probe.ReadResponseAsync()).Status);
                await probe.SendAsync("GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                Assert.Equal(200, (await probe.ReadResponseAsync()).Status);
            }
            await WaitForJsonAsync(sink, e => e.TryGetProperty("event", out var n) && n.GetString() == "ConnectionCompleted", 1, "ConnectionCompleted");
            var lines = await WaitForJsonAsync(sink, IsAccess, 2, "access lines");
            Assert.Equal(2, lines.Length);
            var failed = Assert.Single(lines, l => l.GetProperty("path").GetString() == "/health");
            Assert.Equal(503, failed.GetProperty("status").GetInt32());
            Assert.EndsWith("-2", failed.GetProperty("request_id").GetString(), StringComparison.Ordinal);

            var events = ParseLines(sink.Written).Where(e => e.TryGetProperty("event", out _)).ToArray();
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted", "RequestStarted", "ResponseCompleted", "ConnectionCompleted"],
                events.Select(e => e.GetProperty("event").GetString()!).ToArray());
            Assert.Equal("/health", events[1].GetProperty("path").GetString());
            Assert.Equal(503, events[2].GetProperty("status").GetInt32());
            Assert.Equal(events[1].GetProperty("request_id").GetString(), events[2].GetProperty("request_id").GetString());
            Assert.Equal(3, events[5].GetProperty("requests_served").GetInt32()); // the silent health check is counted
        }
    }

    [Fact]
    public async Task The_access_line_is_timed_at_the_response_end()
    {
        // Its time is mapped from the end timestamp the protocol took (no clock read of its own) once the last byte was
        // handed to the socket: it must fall after the request was sent (1 ms for rounding), and before the line was
        // seen. Not before the response was read: the client may read it while the server's thread, preempted just
        // after its send, has not yet taken the timestamp (seen once on the 2-core VM: 1.3 ms past the read).
        var sink = new SinkStream();
        var server = await StartAsync(ctx => ctx.Response.WriteAsync("timed"), sink);
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            var sent = DateTime.UtcNow;
            await raw.SendAsync("GET /timed HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
            var line = Assert.Single(await WaitForJsonAsync(sink, IsAccess, 1, "access line"));
            var seen = DateTime.UtcNow;
            var at = line.GetProperty("timestamp").GetDateTime().ToUniversalTime();
            Assert.InRange(at, sent - TimeSpan.FromMilliseconds(1), seen + TimeSpan.FromMilliseconds(1));
        }
    }
}

/// <summary>Access-log tests that start a process-wide <see cref="ActivityListener"/>: alone, as the telemetry tests.</summary>
[Collection(Pounce.Tests.Telemetry.ProcessWideListenersCollection.Name)]
public sealed class AccessLogTraceTests
{
    [Fact]
    public async Task Access_lines_carry_the_request_trace_context_and_text_lines_have_every_correlation_field()
    {
        const string traceId = "0af7651916cd43dd8448eb211c80319c";
        var sink = new SinkStream();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
        };
        ActivitySource.AddActivityListener(listener);
        var server = await AccessLogTests.StartAsync(ctx => ctx.Response.WriteAsync("traced"), sink, LogFormat.Text);
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync($"GET /traced HTTP/1.1\r\nHost: x\r\ntraceparent: 00-{traceId}-b7ad6b7169203331-01\r\n\r\n");
            Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
            var line = Assert.Single(await AccessLogTests.WaitForTextAsync(sink, l => l.Contains("/traced", StringComparison.Ordinal), 1, "access line"));
            Assert.Matches($@" 200 6 ""-"" ""-"" \d+\.\d{{3}} request_id=\d+-1 connection_id=\d+ worker_id=[12] trace_id={traceId} span_id=[0-9a-f]{{16}}$", line);
        }
    }
}
