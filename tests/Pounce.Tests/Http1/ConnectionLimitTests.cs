using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http1;

/// <summary>Timeouts, MaxConnections and graceful shutdown, observed from the client side.</summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task KeepAliveTimeout_ClosesAnIdleConnection()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.KeepAliveTimeout = TimeSpan.FromMilliseconds(300));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
        var watch = Stopwatch.StartNew();
        Assert.True(await raw.IsClosedByServerAsync(TimeSpan.FromSeconds(10)), "the idle connection was not closed");
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(200), $"closed too early: {watch.Elapsed}");
    }

    [Fact]
    public async Task HeaderTimeout_AnswersSlowLorisWith408AndCloses()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.HeaderTimeout = TimeSpan.FromMilliseconds(400));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
        var response = await raw.ReadResponseAsync(timeout: TimeSpan.FromSeconds(10));
        Assert.Equal(408, response.Status);
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task HeaderTimeout_AppliesToAPartHeadPipelinedBehindAWholeOne()
    {
        // The second head is already partly received when the first response is done: the connection never waits idle
        // for it, and the rest of it still has HeaderTimeout (not the far longer keep-alive timeout).
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("x"), c =>
        {
            c.HeaderTimeout = TimeSpan.FromMilliseconds(400);
            c.KeepAliveTimeout = TimeSpan.FromMinutes(5);
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
        Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
        var response = await raw.ReadResponseAsync(timeout: TimeSpan.FromSeconds(10));
        Assert.Equal(408, response.Status);
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task BodyReadTimeout_AnswersAStalledUploadWith408()
    {
        await using var server = await TestServer.StartAsync(async ctx => await ctx.Response.WriteAsync(await new StreamReader(ctx.Request.Body).ReadToEndAsync()),
            c => c.BodyReadTimeout = TimeSpan.FromMilliseconds(400));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a little");
        var response = await raw.ReadResponseAsync(timeout: TimeSpan.FromSeconds(10));
        Assert.Equal(408, response.Status);
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task ResponseWriteTimeout_AbortsAClientThatStopsReading()
    {
        var finished = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            var chunk = new byte[256 * 1024];
            try
            {
                for (var i = 0; i < 4096 && !ctx.RequestAborted.IsCancellationRequested; i++)
                    await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted);
                finished.TrySetResult(null);
            }
            catch (Exception ex)
            {
                finished.TrySetResult(ex);
            }
        }, c => c.ResponseWriteTimeout = TimeSpan.FromMilliseconds(500));
        await using var raw = await server.ConnectAsync();
        raw.Socket.ReceiveBufferSize = 4096;
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        // The client never reads: the server must give up on its own, well before writing 1 GiB.
        await finished.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var received = await raw.ReadToEndAsync(TimeSpan.FromSeconds(10));
        Assert.True(received.Length < 1024L * 1024 * 1024);
    }

    [Fact]
    public async Task MaxConnections_RefusesTheExtraConnectionWith503()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.MaxConnections = 1);
        await using var first = await server.ConnectAsync();
        await first.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(200, (await first.ReadResponseAsync()).Status);

        await using var second = await server.ConnectAsync();
        var refused = await second.ReadResponseAsync();
        Assert.Equal(503, refused.Status);
        Assert.Equal("1", refused.Header("Retry-After"));
        Assert.True(await second.IsClosedByServerAsync());

        // The admitted connection is unaffected.
        await first.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(200, (await first.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task GracefulShutdown_ClosesIdleConnections_AndFinishesTheRequestInFlight()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = await TestServer.StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/slow")
            {
                started.TrySetResult();
                await release.Task;
            }
            await ctx.Response.WriteAsync("done " + ctx.Request.Path);
        }, c => c.ShutdownTimeout = TimeSpan.FromSeconds(20));
        await using (server)
        {
            await using var idle = await server.ConnectAsync();
            await idle.SendAsync("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal(200, (await idle.ReadResponseAsync()).Status);

            await using var busy = await server.ConnectAsync();
            await busy.SendAsync("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
            await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

            var stop = server.StopAsync();
            Assert.True(await idle.IsClosedByServerAsync(TimeSpan.FromSeconds(10)), "the idle connection was not closed at once");
            Assert.False(stop.IsCompleted, "stop finished while a request was in flight");

            // New connections are no longer accepted.
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await using var late = await server.ConnectAsync();
                await late.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
                await late.ReadResponseAsync(timeout: TimeSpan.FromSeconds(5));
            });

            release.SetResult();
            var response = await busy.ReadResponseAsync();
            Assert.Equal("done /slow", response.BodyText);
            Assert.Equal("close", response.Header("Connection"));
            Assert.True(await busy.IsClosedByServerAsync());
            await stop.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task GracefulShutdown_AbortsWhatIsLeftAfterTheTimeout()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = await TestServer.StartAsync(async ctx =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
        }, c => c.ShutdownTimeout = TimeSpan.FromMilliseconds(300));
        await using (server)
        {
            await using var busy = await server.ConnectAsync();
            await busy.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await server.StopAsync().WaitAsync(TimeSpan.FromSeconds(15));
            Assert.True(await busy.IsClosedByServerAsync(TimeSpan.FromSeconds(5)));
        }
    }

    [Fact]
    public async Task InvalidSetting_FailsAtStartWithItsName()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => TestServer.StartAsync(ctx => Task.CompletedTask, c => c.MaxHeaders = 0));
        Assert.Contains("MaxHeaders", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EverySetting_IsValidated()
    {
        void Bad(Action<ServerConfig> change, string name)
        {
            var config = new ServerConfig();
            change(config);
            var ex = Assert.Throws<InvalidOperationException>(config.Validate);
            Assert.Contains(name, ex.Message, StringComparison.Ordinal);
        }
        new ServerConfig().Validate();
        Bad(c => c.Port = 70000, "Port");
        Bad(c => c.Workers = 0, "Workers");
        Bad(c => c.Backlog = 0, "Backlog");
        Bad(c => c.MaxConnections = 0, "MaxConnections");
        Bad(c => c.MaxRequestLineSize = 1, "MaxRequestLineSize");
        Bad(c => c.MaxHeaderSize = 1, "MaxHeaderSize");
        Bad(c => c.MaxRequestBodySize = -1, "MaxRequestBodySize");
        Bad(c => c.MaxRequestsPerConnection = -1, "MaxRequestsPerConnection");
        Bad(c => c.KeepAliveTimeout = TimeSpan.Zero, "KeepAliveTimeout");
        Bad(c => c.HeaderTimeout = TimeSpan.FromSeconds(-1), "HeaderTimeout");
        Bad(c => c.ShutdownTimeout = TimeSpan.FromSeconds(-1), "ShutdownTimeout");
        Bad(c => c.ServerHeader = "a\r\nb", "ServerHeader");
        Bad(c => c.LogSlowRequestsThreshold = 0, "LogSlowRequestsThreshold");
        Bad(c => c.LogSlowRequestsThreshold = double.NaN, "LogSlowRequestsThreshold");
        Bad(c => c.HealthCheckPath = "health", "HealthCheckPath");
    }

    [Fact]
    public async Task Workers_EachAcceptConnections()
    {
        // With SO_REUSEPORT the kernel spreads connections; either way every connection is served.
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"), c => c.Workers = 4);
        var tasks = Enumerable.Range(0, 32).Select(async _ =>
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            return (await raw.ReadResponseAsync()).Status;
        });
        Assert.All(await Task.WhenAll(tasks), s => Assert.Equal(200, s));
    }

    [Fact]
    public async Task ClientResetMidRequest_DoesNotDisturbOthers()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Request.Body.CopyToAsync(ctx.Response.Body));
        for (var i = 0; i < 20; i++)
        {
            var raw = await server.ConnectAsync();
            await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial");
            raw.Reset();
        }
        await using var ok = await server.ConnectAsync();
        await ok.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok");
        Assert.Equal("ok", (await ok.ReadResponseAsync()).BodyText);
    }
}
