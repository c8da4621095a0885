using Microsoft.AspNetCore.Http;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http1;

/// <summary>Every malformed or smuggling-shaped request gets its status code and the connection closed.</summary>
public sealed class Http1RejectionTests
{
    private static Task Echo(HttpContext context) => context.Request.Body.CopyToAsync(context.Response.Body);

    public static TheoryData<string, string, int> Shapes => new()
    {
        { "content-length and transfer-encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
        { "duplicate content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400 },
        { "content-length list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400 },
        { "invalid content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400 },
        { "signed content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400 },
        { "overflowing content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400 },
        { "transfer-encoding not chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400 },
        { "chunked not final", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400 },
        { "chunked twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
        { "unknown coding before chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501 },
        { "transfer-encoding on http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
        { "obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n", 400 },
        { "bare LF in request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400 },
        { "bare LF ending a header", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400 },
        { "bare CR in a header", "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400 },
        { "whitespace before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-Bad : y\r\n\r\n", 400 },
        { "invalid character in name", "GET / HTTP/1.1\r\nHost: x\r\nX(Bad): y\r\n\r\n", 400 },
        { "control character in value", "GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n", 400 },
        { "NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\n\r\n", 400 },
        { "chunk size overflow", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n", 400 },
        { "chunk size junk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n", 400 },
        { "chunk size missing", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", 400 },
        { "chunk data without CRLF", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400 },
        { "chunk size with bare LF", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400 },
        { "missing host on 1.1", "GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400 },
        { "two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
        { "invalid host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400 },
        { "host with userinfo", "GET / HTTP/1.1\r\nHost: user@evil\r\n\r\n", 400 },
        { "unsupported version", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505 },
        { "garbage version", "GET / HTTP/one\r\nHost: x\r\n\r\n", 400 },
        { "two spaces in request line", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "control character in target", "GET /a\u0001b HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "authority-form target", "GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "asterisk-form not OPTIONS", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "invalid method", "G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task MalformedRequest_GetsItsStatus_AndTheConnectionCloses(string shape, string request, int status)
    {
        await using var server = await TestServer.StartAsync(Echo);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync(request);
        var response = await raw.ReadResponseAsync();
        Assert.True(status == response.Status, $"{shape}: expected {status}, got {response.Status}");
        Assert.Equal("close", response.Header("Connection"));
        Assert.True(await raw.IsClosedByServerAsync(), $"{shape}: the connection stayed open");

        // The server keeps serving others.
        await using var other = await server.ConnectAsync();
        await other.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(200, (await other.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task LongRequestLine_Is414()
    {
        await using var server = await TestServer.StartAsync(Echo, c => c.MaxRequestLineSize = 1024);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /" + new string('a', 2000) + " HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(414, (await raw.ReadResponseAsync()).Status);
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task LongRequestLine_WithoutLineEnd_Is414()
    {
        await using var server = await TestServer.StartAsync(Echo, c => c.MaxRequestLineSize = 1024);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /" + new string('a', 4000));
        Assert.Equal(414, (await raw.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task TooManyHeaders_Is431()
    {
        await using var server = await TestServer.StartAsync(Echo, c => c.MaxHeaders = 10);
        await using var raw = await server.ConnectAsync();
        var headers = string.Concat(Enumerable.Range(0, 11).Select(i => $"X-H{i}: v\r\n"));
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n");
        Assert.Equal(431, (await raw.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task LargeHeaderSection_Is431()
    {
        await using var server = await TestServer.StartAsync(Echo, c => c.MaxHeaderSize = 4096);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + new string('b', 5000) + "\r\n\r\n");
        Assert.Equal(431, (await raw.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task BodyOverTheLimit_Is413_ForContentLength()
    {
        await using var server = await TestServer.StartAsync(Echo, c => c.MaxRequestBodySize = 1000);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + new string('z', 2000));
        var response = await raw.ReadResponseAsync();
        Assert.Equal(413, response.Status);
        Assert.Equal("close", response.Header("Connection"));
    }

    [Fact]
    public async Task BodyOverTheLimit_Is413_ForChunked()
    {
        await using var server = await TestServer.StartAsync(Echo, c => c.MaxRequestBodySize = 1000);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7D0\r\n" + new string('z', 2000) + "\r\n0\r\n\r\n");
        Assert.Equal(413, (await raw.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task BodyLimit_CanBeRaisedPerRequestByTheApp()
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = 5000;
            return Echo(ctx);
        }, c => c.MaxRequestBodySize = 1000);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + new string('z', 2000));
        var response = await raw.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        Assert.Equal(2000, response.Body.Length);
    }

    [Fact]
    public async Task UnreadBody_IsDrained_SoTheNextRequestWorks()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ignored the body"));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
        Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
        Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task SmugglingAttempt_DoesNotReachTheAppAsASecondRequest()
    {
        var paths = new List<string>();
        await using var server = await TestServer.StartAsync(ctx =>
        {
            lock (paths)
                paths.Add(ctx.Request.Path.Value!);
            return ctx.Response.WriteAsync("ok");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(400, (await raw.ReadResponseAsync()).Status);
        Assert.True(await raw.IsClosedByServerAsync());
        lock (paths)
            Assert.Empty(paths);
    }
}
