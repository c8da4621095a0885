using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http1;

/// <summary>HTTP/1.1 behaviour over real loopback sockets, with HttpClient and hand-written bytes.</summary>
public sealed class Http1ProtocolTests
{
    private static Task Echo(HttpContext context) => context.Request.Body.CopyToAsync(context.Response.Body);

    [Fact]
    public async Task KeepAlive_ReusesOneConnection()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync(ctx.Connection.Id));
        using var client = server.CreateClient();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
            ids.Add(await client.GetStringAsync("/"));
        Assert.Single(ids.Distinct());
    }

    [Fact]
    public async Task Pipelining_ThreeRequestsInOneWrite_AnsweredInOrder()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("path=" + ctx.Request.Path));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("path=/one", (await raw.ReadResponseAsync()).BodyText);
        Assert.Equal("path=/two", (await raw.ReadResponseAsync()).BodyText);
        Assert.Equal("path=/three", (await raw.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task Pipelining_HeadsAcrossReceiveSegments_AreParsedAlike()
    {
        // 300 requests in one write, with header values from 0 to 3 KB: many heads straddle the receive buffer's
        // segments (the sequence path, lines copied whole), the others sit in one (the span path); both parse alike.
        await using var server = await TestServer.StartAsync(ctx =>
            ctx.Response.WriteAsync($"{ctx.Request.Path}|{ctx.Request.Headers["X-Pad"].ToString().Length}|{ctx.Request.Headers.Count}"));
        await using var raw = await server.ConnectAsync();
        const int Requests = 300;
        var batch = new StringBuilder();
        for (var i = 0; i < Requests; i++)
            batch.Append($"GET /r{i} HTTP/1.1\r\nHost: x\r\nX-Pad: {new string('p', i * 37 % 3000)}\r\nX-N: {i}\r\n\r\n");
        await raw.SendAsync(batch.ToString());
        for (var i = 0; i < Requests; i++)
        {
            var response = await raw.ReadResponseAsync();
            Assert.Equal(200, response.Status);
            Assert.Equal($"/r{i}|{i * 37 % 3000}|3", response.BodyText);
        }
    }

    [Fact]
    public async Task RequestAborted_AskedAfterAnAbort_IsCancelled_AndFreshOnTheNextRequest()
    {
        // The token's source is made only when asked for: one asked for after the abort is already cancelled; one
        // asked for on the next keep-alive request (after a request that used it) is not.
        var afterAbort = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/abort")
            {
                ctx.Abort();
                var fired = false;
                using (ctx.RequestAborted.Register(() => fired = true))
                    afterAbort.TrySetResult($"cancelled={ctx.RequestAborted.IsCancellationRequested} fired={fired}");
                return;
            }
            var token = ctx.RequestAborted;
            await ctx.Response.WriteAsync($"cancelled={token.IsCancellationRequested}");
        });
        await using (var raw = await server.ConnectAsync())
        {
            for (var i = 0; i < 3; i++)
            {
                await raw.SendAsync("GET /token HTTP/1.1\r\nHost: x\r\n\r\n");
                Assert.Equal("cancelled=False", (await raw.ReadResponseAsync()).BodyText);
            }
        }
        await using (var raw = await server.ConnectAsync())
        {
            await raw.SendAsync("GET /abort HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal("cancelled=True fired=True", await afterAbort.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        }
    }

    [Fact]
    public async Task ChunkedRequest_WithTrailers_IsDecoded()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            var body = await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            var trailers = ctx.Features.Get<IHttpRequestTrailersFeature>()!;
            await ctx.Response.WriteAsync(body + "|" + trailers.Trailers["X-Sum"]);
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        Assert.Equal("hello world|42", response.BodyText);
    }

    [Fact]
    public async Task ChunkedResponse_WhenLengthUnknown_AndContentLengthWhenAppFinishesFirst()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/stream")
            {
                await ctx.Response.WriteAsync("part1,");
                await ctx.Response.Body.FlushAsync();
                await ctx.Response.WriteAsync("part2");
            }
            else
            {
                var writer = ctx.Response.BodyWriter;
                writer.Write("buffered"u8);
            }
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
        var streamed = await raw.ReadResponseAsync();
        Assert.Equal("chunked", streamed.Header("Transfer-Encoding"));
        Assert.Equal("part1,part2", streamed.BodyText);
        await raw.SendAsync("GET /buffered HTTP/1.1\r\nHost: x\r\n\r\n");
        var buffered = await raw.ReadResponseAsync();
        Assert.Equal("8", buffered.Header("Content-Length"));
        Assert.Null(buffered.Header("Transfer-Encoding"));
        Assert.Equal("buffered", buffered.BodyText);
    }

    [Fact]
    public async Task Expect100Continue_IsSentWhenTheAppReadsTheBody()
    {
        await using var server = await TestServer.StartAsync(Echo);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
        var interim = await raw.ReadResponseAsync();
        Assert.Equal(100, interim.Status);
        await raw.SendAsync("ping");
        var final = await raw.ReadResponseAsync();
        Assert.Equal(200, final.Status);
        Assert.Equal("ping", final.BodyText);
    }

    [Fact]
    public async Task Expect100Continue_NotReadByApp_ClosesWithoutWaitingForTheBody()
    {
        await using var server = await TestServer.StartAsync(ctx => { ctx.Response.StatusCode = 403; return Task.CompletedTask; });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        Assert.Equal(403, response.Status);
        Assert.Equal("close", response.Header("Connection"));
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Head_HasNoBody_AndTheConnectionStaysUsable()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("twelve bytes"));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
        var head = await raw.ReadResponseAsync(head: true);
        Assert.Equal(200, head.Status);
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var get = await raw.ReadResponseAsync();
        Assert.Equal("twelve bytes", get.BodyText);
    }

    [Theory]
    [InlineData(204)]
    [InlineData(304)]
    public async Task BodilessStatuses_SendNoBodyAndNoChunking(int status)
    {
        await using var server = await TestServer.StartAsync(ctx => { ctx.Response.StatusCode = status; return Task.CompletedTask; });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var first = await raw.ReadResponseAsync();
        Assert.Equal(status, first.Status);
        Assert.Null(first.Header("Transfer-Encoding"));
        if (status == 204)
            Assert.Null(first.Header("Content-Length"));
        Assert.Equal(status, (await raw.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task Http10_WithoutKeepAlive_IsCloseDelimited()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            await ctx.Response.WriteAsync("old");
            await ctx.Response.Body.FlushAsync();
            await ctx.Response.WriteAsync(" client");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.0\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        Assert.Null(response.Header("Transfer-Encoding"));
        Assert.Equal("close", response.Header("Connection"));
        Assert.Equal("old client", response.BodyText);
    }

    [Fact]
    public async Task Http10_WithKeepAlive_KeepsTheConnection()
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            ctx.Response.ContentLength = 2;
            return ctx.Response.WriteAsync("hi");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        var first = await raw.ReadResponseAsync();
        Assert.Equal("keep-alive", first.Header("Connection"));
        Assert.Equal("2", first.Header("Content-Length"));
        await raw.SendAsync("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        Assert.Equal("hi", (await raw.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task ConnectionClose_FromClient_IsHonoured()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("bye"));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        Assert.Equal("close", response.Header("Connection"));
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task ConnectionClose_FromApp_IsHonoured()
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            ctx.Response.Headers.Connection = "close";
            return ctx.Response.WriteAsync("bye");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("bye", (await raw.ReadResponseAsync()).BodyText);
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task LargeBodies_BothWays_WithHttpClient()
    {
        var payload = RandomNumberGenerator.GetBytes(6 * 1024 * 1024);
        await using var server = await TestServer.StartAsync(Echo, c => c.MaxRequestBodySize = 64 * 1024 * 1024);
        using var client = server.CreateClient();
        using var content = new ByteArrayContent(payload);
        using var response = await client.PostAsync("/", content);
        var echoed = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));

        // Chunked upload (no length known to the client).
        using var chunked = new StreamContent(new MemoryStream(payload));
        chunked.Headers.ContentLength = null;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        using var response2 = await client.SendAsync(request);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(await response2.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task ResponseTrailers_ReachHttpClient()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            ctx.Response.DeclareTrailer("X-Checksum");
            await ctx.Response.WriteAsync("data");
            ctx.Response.AppendTrailer("X-Checksum", "abc123");
        });
        using var client = server.CreateClient();
        using var response = await client.GetAsync("/");
        Assert.Equal("data", await response.Content.ReadAsStringAsync());
        Assert.Equal("abc123", response.TrailingHeaders.GetValues("X-Checksum").Single());
    }

    [Fact]
    public async Task AbsoluteFormTarget_UsesItsAuthorityAsHost()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync($"{ctx.Request.Host}|{ctx.Request.Path}|{ctx.Request.QueryString}"));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
        Assert.Equal("example.com:8080|/a/b|?x=1", (await raw.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task Path_IsPercentDecoded_DotSegmentsRemoved_EncodedSlashKept()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync(ctx.Request.Path.Value + "|" + ctx.Features.Get<IHttpRequestFeature>()!.RawTarget));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /a%20b/../c%2Fd/./%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("/c%2Fd/é|/a%20b/../c%2Fd/./%C3%A9", (await raw.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task UnhandledException_BeforeStart_Is500_AndConnectionStaysUsable()
    {
        await using var server = await TestServer.StartAsync(ctx =>
            ctx.Request.Path == "/boom" ? throw new InvalidOperationException("boom") : ctx.Response.WriteAsync("fine"));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /boom HTTP/1.1\r\nHost: x\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        Assert.Equal(500, response.Status);
        Assert.Equal("0", response.Header("Content-Length"));
        await raw.SendAsync("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("fine", (await raw.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task UnhandledException_AfterStart_AbortsTheConnection()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            await ctx.Response.WriteAsync("partial");
            await ctx.Response.Body.FlushAsync();
            throw new InvalidOperationException("late boom");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var bytes = Encoding.Latin1.GetString(await raw.ReadToEndAsync());
        Assert.Contains("partial", bytes, StringComparison.Ordinal);
        Assert.DoesNotContain("0\r\n\r\n", bytes, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAborted_FiresWhenTheClientGoesAway()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            ctx.RequestAborted.Register(() => aborted.TrySetResult());
            started.TrySetResult();
            await aborted.Task;
        });
        var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        raw.Reset();
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task MaxRequestsPerConnection_ClosesAfterTheLimit()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.MaxRequestsPerConnection = 2);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Null((await raw.ReadResponseAsync()).Header("Connection"));
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("close", (await raw.ReadResponseAsync()).Header("Connection"));
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task ServerAndDateHeaders_FollowTheSettings()
    {
        await using var server = await TestServer.StartAsync(ctx => Task.CompletedTask, c => { c.ServerHeader = ""; c.DateHeader = false; });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        Assert.Null(response.Header("Server"));
        Assert.Null(response.Header("Date"));
        Assert.Equal("0", response.Header("Content-Length"));

        await using var server2 = await TestServer.StartAsync(ctx => Task.CompletedTask);
        await using var raw2 = await server2.ConnectAsync();
        await raw2.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var response2 = await raw2.ReadResponseAsync();
        Assert.Equal("pounce", response2.Header("Server"));
        Assert.True(DateTimeOffset.TryParse(response2.Header("Date"), out _));
    }

    [Fact]
    public async Task ResponseHeaderInjection_IsRefusedWith500()
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            ctx.Response.Headers["X-Evil"] = "a\r\nSet-Cookie: injected=1";
            return ctx.Response.WriteAsync("never");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        Assert.Equal(500, response.Status);
        Assert.Null(response.Header("Set-Cookie"));
    }

    [Fact]
    public async Task PortZero_ReportsTheRealAddress()
    {
        await using var server = await TestServer.StartAsync(ctx => Task.CompletedTask);
        Assert.NotEqual(0, server.Port);
        Assert.Equal("127.0.0.1", server.BaseAddress.Host);
        using var client = server.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/")).StatusCode);
    }
}
