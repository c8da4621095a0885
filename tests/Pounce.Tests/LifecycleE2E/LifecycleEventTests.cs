using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pounce.Lifecycle;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.LifecycleE2E;

/// <summary>
/// One test per close reason and per event path, driven by real clients over loopback, asserting the exact
/// events and fields of the lifecycle contract.
/// </summary>
public sealed class LifecycleEventTests
{
    internal static Task<(TestServer Server, EventRecorder Events)> StartAsync(RequestDelegate handler, Action<ServerConfig>? configure = null)
        => StartAppAsync(app => app.Run(handler), configure);

    /// <summary>A server for <paramref name="configureApp"/> with lifecycle events at debug, recorded in-process.</summary>
    internal static async Task<(TestServer Server, EventRecorder Events)> StartAppAsync(Action<WebApplication> configureApp,
        Action<ServerConfig>? configure = null)
    {
        var server = await TestServer.StartAppAsync(configureApp, c =>
        {
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
            c.LogFile = Path.Combine(Path.GetTempPath(), "pounce-test-" + Guid.NewGuid().ToString("N") + ".log");
            configure?.Invoke(c);
        });
        var recorder = new EventRecorder();
        server.Services.GetRequiredService<LifecycleEmitter>().AddObserver(recorder);
        return (server, recorder);
    }

    private static string[] Names(IReadOnlyList<RecordedEvent> events) => events.Select(e => e.Name).ToArray();

    private static void AssertCommonFields(RecordedEvent e)
    {
        Assert.Equal(["event", "connection_id", "worker_id", "timestamp", "level"], e.Fields.Take(5).Select(f => f.Key));
        Assert.InRange(e.Num("worker_id"), 1, 2);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", e.Str("timestamp"));
    }

    [Fact]
    public async Task KeepAlive_ThenClientCloses_IsComplete()
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("hello"));
        await using (server)
        {
            await using (var raw = await server.ConnectAsync())
            {
                await raw.SendAsync("GET /a?secret=1 HTTP/1.1\r\nHost: x\r\n\r\n");
                await raw.ReadResponseAsync();
                await raw.SendAsync("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
                await raw.ReadResponseAsync();
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted", "RequestStarted", "ResponseCompleted", "ConnectionCompleted"], Names(conn));
            foreach (var e in conn)
                AssertCommonFields(e);
            var opened = conn[0];
            Assert.Equal("debug", opened.Str("level"));
            Assert.Equal("127.0.0.1", opened.Str("client_addr"));
            Assert.Equal(server.Port, opened.Num("server_port"));
            Assert.Equal("h1", opened.Str("protocol"));
            Assert.Equal(false, opened["tls"]);

            var started = conn[1];
            Assert.Equal("GET", started.Str("method"));
            Assert.Equal("/a", started.Str("path"));
            Assert.Equal("1.1", started.Str("http_version"));
            Assert.Equal($"{opened.ConnectionId}-1", started.RequestId);

            var completed = conn[2];
            Assert.Equal(200, completed.Num("status"));
            Assert.Equal(5, completed.Num("bytes_sent"));
            Assert.Null(completed["slow"]);
            Assert.Equal(started.RequestId, completed.RequestId);
            Assert.Equal($"{opened.ConnectionId}-2", conn[3].RequestId);

            var closed = conn[5];
            Assert.Equal("complete", closed.Str("reason"));
            Assert.Equal("client_closed", closed.Str("detail"));
            Assert.Equal(2, closed.Num("requests_served"));
            Assert.Equal(5 + 5, closed.Num("total_bytes_sent"));
            Assert.Equal("h1", closed.Str("protocol"));
            Assert.True(Convert.ToDouble(closed["duration_ms"], System.Globalization.CultureInfo.InvariantCulture) > 0);
        }
    }

    [Fact]
    public async Task ConnectionClose_IsComplete()
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("x"));
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            await raw.ReadResponseAsync();
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("complete", conn[^1].Str("reason"));
            Assert.Equal("connection_close", conn[^1].Str("detail"));
        }
    }

    [Fact]
    public async Task KeepAliveTimeout_IsTimeout()
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.KeepAliveTimeout = TimeSpan.FromMilliseconds(300));
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            await raw.ReadResponseAsync();
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("timeout", conn[^1].Str("reason"));
            Assert.Equal("keep_alive_timeout", conn[^1].Str("detail"));
            Assert.Equal(1, conn[^1].Num("requests_served"));
        }
    }

    [Fact]
    public async Task HeaderTimeout_IsTimeout_WithoutRequestEvents()
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.HeaderTimeout = TimeSpan.FromMilliseconds(300));
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: dri");
            Assert.Equal(408, (await raw.ReadResponseAsync()).Status);
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal(["ConnectionOpened", "ConnectionCompleted"], Names(conn));
            Assert.Equal("timeout", conn[^1].Str("reason"));
            Assert.Equal("header_timeout", conn[^1].Str("detail"));
            Assert.Equal(0, conn[^1].Num("requests_served"));
        }
    }

    [Theory]
    [InlineData("GET /\r\n\r\n", "bad_request_line")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", "obs_fold")]
    [InlineData("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "conflicting_framing")]
    public async Task MalformedRequest_IsError_WithItsDetail(string request, string detail)
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("x"));
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync(request);
            Assert.Equal(400, (await raw.ReadResponseAsync()).Status);
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("error", conn[^1].Str("reason"));
            Assert.Equal(detail, conn[^1].Str("detail"));
        }
    }

    [Fact]
    public async Task ClientResetBeforeTheResponse_IsClientDisconnected_NotDuringStreaming()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, events) = await StartAsync(async ctx =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
        });
        await using (server)
        {
            var raw = await server.ConnectAsync();
            await raw.SendAsync("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
            await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
            raw.Reset();
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ClientDisconnected", "ConnectionCompleted"], Names(conn));
            var gone = conn[2];
            Assert.Equal("warning", gone.Str("level"));
            Assert.Equal(false, gone["during_streaming"]);
            Assert.Equal("127.0.0.1", gone.Str("client_addr"));
            Assert.Equal("GET", gone.Str("method"));
            Assert.Equal("/wait", gone.Str("path"));
            Assert.Equal(conn[1].RequestId, gone.RequestId);
            Assert.Equal(0, gone.Num("bytes_sent"));
            Assert.Equal("client_disconnect", conn[^1].Str("reason"));
            Assert.Equal(0, conn[^1].Num("requests_served"));
        }
    }

    [Fact]
    public async Task ClientResetMidResponse_IsClientDisconnected_DuringStreaming()
    {
        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, events) = await StartAsync(async ctx =>
        {
            await ctx.Response.WriteAsync("first part");
            await ctx.Response.Body.FlushAsync();
            flushed.TrySetResult();
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
        });
        await using (server)
        {
            var raw = await server.ConnectAsync();
            await raw.SendAsync("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
            await flushed.Task.WaitAsync(TimeSpan.FromSeconds(10));
            raw.Reset();
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ClientDisconnected", "ConnectionCompleted"], Names(conn));
            Assert.Equal(true, conn[2]["during_streaming"]);
            Assert.Equal(10, conn[2].Num("bytes_sent"));
            Assert.Equal("client_disconnect", conn[^1].Str("reason"));
            Assert.Equal(10, conn[^1].Num("total_bytes_sent"));
        }
    }

    [Fact]
    public async Task MaxConnectionsExceeded_IsBackpressure()
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.MaxConnections = 1);
        await using (server)
        {
            await using var first = await server.ConnectAsync();
            await first.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            await first.ReadResponseAsync();
            await using var second = await server.ConnectAsync();
            Assert.Equal(503, (await second.ReadResponseAsync()).Status);
            var conn = await events.CompletedConnectionAsync(e => e.Str("reason") == "backpressure");
            Assert.Equal(["ConnectionOpened", "ConnectionCompleted"], Names(conn));
            Assert.Equal("unknown", conn[0].Str("protocol"));
            Assert.Equal("max_connections", conn[1].Str("detail"));
            Assert.Equal(0, conn[1].Num("requests_served"));
        }
    }

    [Fact]
    public async Task GracefulShutdown_WithARequestInFlight_IsShutdown()
    {
        // One gate per request: the first handler may start after the test moved on, and must not wait on the second's.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, events) = await StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/")
            {
                started.TrySetResult();
                await release.Task;
            }
            await ctx.Response.WriteAsync("finished");
        });
        await using (server)
        {
            await using var idle = await server.ConnectAsync();
            await idle.SendAsync("GET /idle HTTP/1.1\r\nHost: x\r\n\r\n");
            await idle.ReadResponseAsync();

            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
            var stop = server.StopAsync();
            // The idle connection closing shows the server has asked every connection to stop.
            Assert.True(await idle.IsClosedByServerAsync());
            release.SetResult();
            Assert.Equal("finished", (await raw.ReadResponseAsync()).BodyText);
            await stop.WaitAsync(TimeSpan.FromSeconds(15));
            var conn = await events.CompletedConnectionAsync(e => e.Str("detail") == "shutdown_drained");
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted", "ConnectionCompleted"], Names(conn));
            Assert.Equal("shutdown", conn[^1].Str("reason"));
            var idleEvents = await events.CompletedConnectionAsync(e => e.Str("detail") == "shutdown_idle");
            Assert.Equal("shutdown", idleEvents[^1].Str("reason"));
        }
    }

    [Fact]
    public async Task HealthCheckOnlyConnection_IsSilent_ButCounted()
    {
        var (server, events) = await StartAsync(ctx => ctx.Response.WriteAsync("ok"), c => c.HealthCheckPath = "/health");
        await using (server)
        {
            await using (var health = await server.ConnectAsync())
            {
                await health.SendAsync("GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                await health.ReadResponseAsync();
                await health.ReadResponseAsync();
                Assert.True(await health.IsClosedByServerAsync());
            }
            await using (var mixed = await server.ConnectAsync())
            {
                await mixed.SendAsync("GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /real HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                await mixed.ReadResponseAsync();
                await mixed.ReadResponseAsync();
            }
            var conn = await events.CompletedConnectionAsync();
            // Only the mixed connection appears, without the health check's request events.
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted", "ConnectionCompleted"], Names(conn));
            Assert.Equal("/real", conn[1].Str("path"));
            Assert.Equal(2, conn[^1].Num("requests_served"));
            Assert.Single(events.Snapshot(), e => e.Name == "ConnectionOpened");
        }
    }

    [Fact]
    public async Task SlowRequest_IsLoggedAtInfo_WithSlowTrue_AndFastRequestsAreFilteredAtInfo()
    {
        var (server, events) = await StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/slow")
                await Task.Delay(300);
            await ctx.Response.WriteAsync("x");
        }, c =>
        {
            c.LogLevel = LogLevel.Information;
            c.LogSlowRequestsThreshold = 0.2;
        });
        await using (server)
        {
            await using (var raw = await server.ConnectAsync())
            {
                await raw.SendAsync("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
                await raw.ReadResponseAsync();
                await raw.SendAsync("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
                await raw.ReadResponseAsync();
            }
            await events.WaitUntilAsync(e => e.Any(x => x.Name == "ResponseCompleted"), "the slow ResponseCompleted");
            // Let the connection finish too: nothing else may appear at info.
            await server.StopAsync();
            var all = events.Snapshot();
            var slow = Assert.Single(all);
            Assert.Equal("ResponseCompleted", slow.Name);
            Assert.Equal("info", slow.Str("level"));
            Assert.Equal(true, slow["slow"]);
            Assert.Equal("/slow", slow.Str("path"));
            Assert.True(Convert.ToDouble(slow["duration_ms"], System.Globalization.CultureInfo.InvariantCulture) >= 200);
        }
    }

    [Fact]
    public async Task ServerSentEvents_AreNeverSlow()
    {
        var (server, events) = await StartAsync(async ctx =>
        {
            ctx.Response.ContentType = "text/event-stream";
            await ctx.Response.WriteAsync("data: 1\n\n");
            await ctx.Response.Body.FlushAsync();
            await Task.Delay(300);
            await ctx.Response.WriteAsync("data: 2\n\n");
        }, c => c.LogSlowRequestsThreshold = 0.1);
        await using (server)
        {
            await using (var raw = await server.ConnectAsync())
            {
                await raw.SendAsync("GET /sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                await raw.ReadResponseAsync();
            }
            var conn = await events.CompletedConnectionAsync();
            var completed = conn.Single(e => e.Name == "ResponseCompleted");
            Assert.Null(completed["slow"]);
            Assert.Equal("debug", completed.Str("level"));
        }
    }

    [Fact]
    public async Task ConnectionClosedBeforeAnyByte_HasProtocolUnknown()
    {
        var (server, events) = await StartAsync(ctx => Task.CompletedTask);
        await using (server)
        {
            var raw = await server.ConnectAsync();
            await raw.DisposeAsync();
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal(["ConnectionOpened", "ConnectionCompleted"], Names(conn));
            Assert.Equal("unknown", conn[0].Str("protocol"));
            Assert.Equal("unknown", conn[1].Str("protocol"));
            Assert.Equal("complete", conn[1].Str("reason"));
        }
    }
}

/// <summary>A client that reads the whole response and hangs up at once has not disconnected early.</summary>
public sealed class CompleteThenHangUpTests
{
    [Fact]
    public async Task ClientClosingRightAfterAFullResponse_IsResponseCompleted()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            await Task.Yield();
            ctx.Response.ContentLength = 5;
            await ctx.Response.WriteAsync("hello");
            try
            {
                // Still running when the client hangs up.
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
        });
        await using (server)
        {
            var raw = await server.ConnectAsync();
            await raw.SendAsync("GET /full HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal("hello", (await raw.ReadResponseAsync()).BodyText);
            raw.Reset();
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted", "ConnectionCompleted"], conn.Select(e => e.Name).ToArray());
            Assert.Equal(5, conn[2].Num("bytes_sent"));
            Assert.Equal(1, conn[^1].Num("requests_served"));
        }
    }
}

/// <summary>Lifecycle events of a request carry its trace ids when it has an activity.</summary>
public sealed class TraceIdTests
{
    [Fact]
    public async Task RequestEvents_CarryTheW3CTraceIdOfTheRequest()
    {
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        string? seenByApp = null;
        var (server, events) = await LifecycleEventTests.StartAsync(ctx =>
        {
            seenByApp = System.Diagnostics.Activity.Current?.TraceId.ToString();
            return ctx.Response.WriteAsync("traced");
        });
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nConnection: close\r\n\r\n");
            await raw.ReadResponseAsync();
            var conn = await events.CompletedConnectionAsync();
            var started = conn.Single(e => e.Name == "RequestStarted");
            var completed = conn.Single(e => e.Name == "ResponseCompleted");
            Assert.Equal("0af7651916cd43dd8448eb211c80319c", seenByApp);
            Assert.Equal("0af7651916cd43dd8448eb211c80319c", completed.Str("trace_id"));
            Assert.Equal(completed.Str("trace_id"), started.Str("trace_id"));
            Assert.Matches("^[0-9a-f]{16}$", completed.Str("span_id"));
            Assert.Null(conn.Single(e => e.Name == "ConnectionCompleted")["trace_id"]);
        }
    }
}

/// <summary>The same trace ids on an HTTP/2 stream.</summary>
public sealed class Http2TraceIdTests
{
    [Fact]
    public async Task Http2StreamEvents_CarryTheW3CTraceId()
    {
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("traced"));
        await using (server)
        {
            using var client = new HttpClient { BaseAddress = server.BaseAddress };
            using var request = new HttpRequestMessage(HttpMethod.Get, "/h2")
            {
                Version = System.Net.HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            request.Headers.TryAddWithoutValidation("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
            using var response = await client.SendAsync(request);
            Assert.Equal(System.Net.HttpVersion.Version20, response.Version);
            await events.WaitUntilAsync(e => e.Any(x => x.Name == "ResponseCompleted"), "the HTTP/2 ResponseCompleted");
            var completed = events.Snapshot().Single(e => e.Name == "ResponseCompleted");
            var started = events.Snapshot().Single(e => e.Name == "RequestStarted");
            Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", completed.Str("trace_id"));
            Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", started.Str("trace_id"));
            Assert.Equal("2.0", started.Str("http_version"));
        }
    }
}
