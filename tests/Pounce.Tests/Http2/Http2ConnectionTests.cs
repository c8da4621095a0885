using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.LifecycleE2E;

namespace Pounce.Tests.Http2;

/// <summary>HTTP/2 with prior knowledge (h2c) served to real clients: HttpClient, nghttp, h2load.</summary>
public sealed class Http2ConnectionTests
{
    internal static HttpClient CreateH2Client(TestServer server) => new(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1) })
    {
        BaseAddress = server.BaseAddress,
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };

    [Fact]
    public async Task Get_PriorKnowledge_IsServedOverHttp2()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            var streamId = ctx.Features.Get<IHttp2StreamIdFeature>()!.StreamId;
            ctx.Response.Headers["x-stream"] = streamId.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await ctx.Response.WriteAsync($"{ctx.Request.Protocol} {ctx.Request.Method} {ctx.Request.Path}{ctx.Request.QueryString} {ctx.Request.Host}");
        });
        using var client = CreateH2Client(server);
        using var response = await client.GetAsync("/hello?x=1");
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"HTTP/2 GET /hello?x=1 127.0.0.1:{server.Port}", await response.Content.ReadAsStringAsync());
        Assert.Equal("1", response.Headers.GetValues("x-stream").Single());
        Assert.Equal("pounce", response.Headers.Server.ToString());
        Assert.NotNull(response.Headers.Date);
    }

    [Fact]
    public async Task Http1_StillWorks_WithHttp2Enabled()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync(ctx.Request.Protocol));
        using var client = server.CreateClient();
        using var response = await client.GetAsync("/");
        Assert.Equal("HTTP/1.1", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Http2Disabled_PrefaceIsNotServedAsHttp2()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.Http2Enabled = false);
        using var client = CreateH2Client(server);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync("/"));
    }

    [Fact]
    public async Task ManyConcurrentRequests_ShareOneConnection()
    {
        var connections = new ConcurrentDictionary<string, int>();
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            connections[ctx.Connection.Id] = 1;
            await Task.Delay(10);
            await ctx.Response.WriteAsync("r" + ctx.Request.Path);
        });
        using var client = CreateH2Client(server);
        var tasks = Enumerable.Range(0, 300).Select(async i =>
        {
            using var response = await client.GetAsync("/" + i);
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal("r/" + i, await response.Content.ReadAsStringAsync());
        }).ToArray();
        await Task.WhenAll(tasks);
        Assert.Single(connections);
    }

    [Fact]
    public async Task LargeUploadAndDownload_RespectFlowControl()
    {
        var payload = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 123);
        var expected = SHA256.HashData(payload);
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            if (ctx.Request.Method == "POST")
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[7000];
                long total = 0;
                int n;
                while ((n = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    total += n;
                }
                await ctx.Response.WriteAsync(total + " " + Convert.ToHexString(hash.GetHashAndReset()));
                return;
            }
            for (var offset = 0; offset < payload.Length; offset += 100_000)
                await ctx.Response.Body.WriteAsync(payload.AsMemory(offset, Math.Min(100_000, payload.Length - offset)));
        }, c => c.Http2InitialWindowSize = 65_535);
        using var client = CreateH2Client(server);

        using (var upload = await client.PostAsync("/up", new ByteArrayContent(payload)))
        {
            Assert.Equal(HttpVersion.Version20, upload.Version);
            Assert.Equal(payload.Length + " " + Convert.ToHexString(expected), await upload.Content.ReadAsStringAsync());
        }
        var downloaded = await client.GetByteArrayAsync("/down");
        Assert.Equal(payload.Length, downloaded.Length);
        Assert.Equal(expected, SHA256.HashData(downloaded));
    }

    [Fact]
    public async Task ResponseTrailers_AreSent()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            Assert.True(ctx.Response.SupportsTrailers());
            ctx.Response.DeclareTrailer("grpc-status");
            await ctx.Response.WriteAsync("body");
            ctx.Response.AppendTrailer("grpc-status", "0");
            ctx.Response.AppendTrailer("x-checksum", "abc");
        });
        using var client = CreateH2Client(server);
        using var response = await client.GetAsync("/", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("body", await response.Content.ReadAsStringAsync());
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal("abc", response.TrailingHeaders.GetValues("x-checksum").Single());
    }

    [Fact]
    public async Task RequestTrailers_AreAvailableAfterTheBody()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            var body = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            var trailers = ctx.Features.Get<IHttpRequestTrailersFeature>()!;
            Assert.True(trailers.Available);
            await ctx.Response.WriteAsync(body + ":" + trailers.Trailers["x-t"]);
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, Http2RawClient.Post());
        await raw.SendDataAsync(1, "abc"u8.ToArray(), endStream: false);
        await raw.SendHeadersAsync(1, true, ("x-t", "v"));
        var (headers, body) = await raw.ReadResponseAsync(1);
        Assert.Contains((":status", "200"), headers);
        Assert.Equal("abc:v", System.Text.Encoding.ASCII.GetString(body));
    }

    [Fact]
    public async Task Lifecycle_H2Connection_ReportsStreamsAndGoAwayReason()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("hello"));
        await using (server)
        {
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
            {
                await raw.SendHeadersAsync(1, true, Http2RawClient.Get("/a?secret=1"));
                await raw.ReadResponseAsync(1);
                await raw.SendHeadersAsync(3, true, Http2RawClient.Get("/b"));
                await raw.ReadResponseAsync(3);
                await raw.SendFrameAsync(w => Pounce.Http2.Http2FrameWriter.WriteGoAway(w, 0, Pounce.Http2.Http2ErrorCode.NoError));
                var goAway = await raw.ExpectGoAwayAsync();
                Assert.Equal(Pounce.Http2.Http2ErrorCode.NoError, goAway.GoAwayCode);
                Assert.Equal(3, goAway.GoAwayLastStreamId);
                Assert.True(await raw.WaitForCloseAsync());
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted", "RequestStarted", "ResponseCompleted", "ConnectionCompleted"],
                conn.Select(e => e.Name).ToArray());
            Assert.Equal("h2", conn[0].Str("protocol"));
            var started = conn[1];
            Assert.Equal("2.0", started.Str("http_version"));
            Assert.Equal("/a", started.Str("path"));
            Assert.Equal(1, started.Num("stream_id"));
            Assert.Equal($"{started.ConnectionId}-1", started.RequestId);
            Assert.Equal(3, conn[3].Num("stream_id"));
            Assert.Equal($"{started.ConnectionId}-2", conn[3].RequestId);
            Assert.Equal(200, conn[2].Num("status"));
            Assert.Equal(5, conn[2].Num("bytes_sent"));
            var completed = conn[^1];
            Assert.Equal("complete", completed.Str("reason"));
            Assert.Equal("goaway_received", completed.Str("detail"));
            Assert.Equal("h2", completed.Str("protocol"));
            Assert.Equal(2, completed.Num("requests_served"));
            Assert.Equal(10, completed.Num("total_bytes_sent"));
        }
    }

    [Fact]
    public async Task ClientReset_InFlight_IsClientDisconnected()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/next")
            {
                await ctx.Response.WriteAsync("next");
                return;
            }
            await ctx.Response.WriteAsync("partial");
            started.TrySetResult();
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(20), ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                aborted.TrySetResult();
            }
        });
        await using (server)
        {
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
            {
                await raw.SendHeadersAsync(1, true, Http2RawClient.Get("/slow"));
                await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
                await raw.ExpectAsync(f => f.Type == Pounce.Http2.Http2FrameType.Data, "DATA");
                await raw.SendFrameAsync(w => Pounce.Http2.Http2FrameWriter.WriteRstStream(w, 1, Pounce.Http2.Http2ErrorCode.Cancel));
                await aborted.Task.WaitAsync(TimeSpan.FromSeconds(15));
                // The connection stays usable.
                await raw.SendHeadersAsync(3, true, Http2RawClient.Get("/next"));
                var (_, next) = await raw.ReadResponseAsync(3);
                Assert.Equal("next", System.Text.Encoding.ASCII.GetString(next));
                await events.WaitUntilAsync(e => e.Any(x => x.Name == "ClientDisconnected"), "ClientDisconnected");
            }
            var conn = await events.CompletedConnectionAsync();
            var disconnected = conn.Single(e => e.Name == "ClientDisconnected");
            Assert.Equal(true, disconnected["during_streaming"]);
            Assert.Equal($"{disconnected.ConnectionId}-1", disconnected.RequestId);
            Assert.Equal("complete", conn[^1].Str("reason"));
            Assert.Equal(1, conn[^1].Num("requests_served"));
        }
    }

    [Fact]
    public async Task GracefulShutdown_SendsGoAway_AndFinishesTheStreamInFlight()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            started.TrySetResult();
            await release.Task;
            await ctx.Response.WriteAsync("done");
        });
        await using (server)
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            await raw.SendHeadersAsync(1, true, Http2RawClient.Get("/work"));
            await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
            var stopping = server.StopAsync();
            var goAway = await raw.ExpectGoAwayAsync();
            Assert.Equal(Pounce.Http2.Http2ErrorCode.NoError, goAway.GoAwayCode);
            Assert.Equal(1, goAway.GoAwayLastStreamId);
            release.TrySetResult();
            var (_, body) = await raw.ReadResponseAsync(1);
            Assert.Equal("done", System.Text.Encoding.ASCII.GetString(body));
            await stopping.WaitAsync(TimeSpan.FromSeconds(15));
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("shutdown", conn[^1].Str("reason"));
            Assert.Equal("shutdown_drained", conn[^1].Str("detail"));
            Assert.Equal(1, conn[^1].Num("requests_served"));
        }
    }

    [Fact]
    public async Task Shutdown_IdleConnection_GetsGoAway_AndShutdownIdle()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("x"));
        await using (server)
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
            await raw.ReadResponseAsync(1);
            await events.WaitUntilAsync(e => e.Any(x => x.Name == "ResponseCompleted"), "stream 1's ResponseCompleted");
            var stopping = server.StopAsync();
            var goAway = await raw.ExpectGoAwayAsync();
            Assert.Equal(Pounce.Http2.Http2ErrorCode.NoError, goAway.GoAwayCode);
            Assert.True(await raw.WaitForCloseAsync());
            await stopping.WaitAsync(TimeSpan.FromSeconds(15));
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("shutdown", conn[^1].Str("reason"));
            // Idle unless the stream's last bookkeeping was still running when the stop came (no sleep to rule it out).
            Assert.Contains(conn[^1].Str("detail"), new[] { "shutdown_idle", "shutdown_drained" });
        }
    }

    [Fact]
    public async Task IdleConnection_ClosesWithGoAway_AfterKeepAliveTimeout()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.KeepAliveTimeout = TimeSpan.FromMilliseconds(500));
        await using (server)
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
            await raw.ReadResponseAsync(1);
            await raw.ExpectGoAwayAsync(Pounce.Http2.Http2ErrorCode.NoError);
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("timeout", conn[^1].Str("reason"));
            Assert.Equal("keep_alive_timeout", conn[^1].Str("detail"));
        }
    }

    [Fact]
    public async Task MaxRequestsPerConnection_SendsGoAway_ThenCloses()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.MaxRequestsPerConnection = 2);
        await using (server)
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
            await raw.ReadResponseAsync(1);
            await raw.SendHeadersAsync(3, true, Http2RawClient.Get());
            RawFrame? goAway = null;
            var ended = false;
            while (goAway is null || !ended)
            {
                var frame = await raw.ExpectAsync(f => f.Type == Pounce.Http2.Http2FrameType.GoAway || f.StreamId == 3, "GOAWAY and stream 3");
                if (frame.Type == Pounce.Http2.Http2FrameType.GoAway)
                    goAway = frame;
                else if (frame.Has(Pounce.Http2.Http2FrameFlags.EndStream))
                    ended = true;
            }
            Assert.Equal(Pounce.Http2.Http2ErrorCode.NoError, goAway.GoAwayCode);
            Assert.Equal(3, goAway.GoAwayLastStreamId);
            Assert.True(await raw.WaitForCloseAsync());
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("complete", conn[^1].Str("reason"));
            Assert.Equal("max_requests", conn[^1].Str("detail"));
            Assert.Equal(2, conn[^1].Num("requests_served"));
        }
    }

    [ToolFact("nghttp")]
    public async Task Nghttp_PriorKnowledge_GetsTheResponse()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("from pounce"));
        var (exit, output) = await ExternalTool.RunAsync("nghttp", $"-nv http://127.0.0.1:{server.Port}/x");
        Assert.Equal(0, exit);
        Assert.Contains(":status: 200", output);
        var (exit2, body) = await ExternalTool.RunAsync("nghttp", $"http://127.0.0.1:{server.Port}/x");
        Assert.Equal(0, exit2);
        Assert.Equal("from pounce", body.Trim());
    }

    [ToolFact("h2load")]
    public async Task H2load_ManyStreams_AllSucceed()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"));
        var (exit, output) = await ExternalTool.RunAsync("h2load", $"-n 1000 -c 4 -m 10 http://127.0.0.1:{server.Port}/");
        Assert.Equal(0, exit);
        Assert.Contains("1000 succeeded, 0 failed, 0 errored", output);
    }

    [ToolFact("h2load")]
    public async Task H2load_AtTheConcurrencyLimit_IsNeverRefused()
    {
        // A client keeping exactly SETTINGS_MAX_CONCURRENT_STREAMS streams open opens a new one the moment a response
        // ends: the stream that just finished must not count against it (a finished stream was once briefly counted
        // as open and not yet closed, and 1 to 24 of 50,000 h2load -c1 -m100 requests got REFUSED_STREAM).
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"), c => c.Http2MaxConcurrentStreams = 16);
        var (exit, output) = await ExternalTool.RunAsync("h2load", $"-n 40000 -c 1 -m 16 http://127.0.0.1:{server.Port}/");
        Assert.Equal(0, exit);
        Assert.Contains("40000 succeeded, 0 failed, 0 errored", output);
    }
}
