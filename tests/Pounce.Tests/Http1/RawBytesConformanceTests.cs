using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Pounce.Http;
using Pounce.Http1;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http1;

/// <summary>
/// The last RFC 9112 gaps, each sent as raw bytes over a real socket: request-target octets (3.2), fragments, an
/// encoded NUL in the path, chunk extensions (7.1.1), Host values (3.2), and garbage that cannot start a request line.
/// </summary>
public sealed class RawBytesConformanceTests
{
    private static Task Echo(HttpContext context)
    {
        context.Response.Headers["X-Path"] = Uri.EscapeDataString(context.Request.Path.Value ?? "");
        return context.Request.Body.CopyToAsync(context.Response.Body);
    }

    public static TheoryData<string, byte[]> Refused => new()
    {
        { "raw UTF-8 in the path", Bytes("GET /caf\xC3\xA9 HTTP/1.1\r\nHost: x\r\n\r\n") },
        { "overlong slash", Bytes("GET /\xC0\xAF HTTP/1.1\r\nHost: x\r\n\r\n") },
        { "raw 0xFE in the query", Bytes("GET /a?b=\xFE HTTP/1.1\r\nHost: x\r\n\r\n") },
        { "raw DEL in the path", Bytes("GET /a\x7F HTTP/1.1\r\nHost: x\r\n\r\n") },
        { "fragment", Bytes("GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n") },
        { "fragment in absolute form", Bytes("GET http://x/a#f HTTP/1.1\r\nHost: x\r\n\r\n") },
        { "encoded NUL in the path", Bytes("GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n") },
        { "encoded NUL in absolute form", Bytes("GET http://x/%00 HTTP/1.1\r\nHost: x\r\n\r\n") },
        { "chunk extension without a name", Bytes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n") },
        { "chunk extension with a bad name", Bytes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;bad[=x\r\nhello\r\n0\r\n\r\n") },
        { "chunk extension with an unterminated quote", Bytes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n") },
        { "chunk extension with an empty value", Bytes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n") },
        { "chunk size with trailing space", Bytes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n") },
        { "empty host on origin form", Bytes("GET / HTTP/1.1\r\nHost: \r\n\r\n") },
        { "host with a comma", Bytes("GET / HTTP/1.1\r\nHost: x,\r\n\r\n") },
        { "host with userinfo", Bytes("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n") },
        { "host with a bad port", Bytes("GET / HTTP/1.1\r\nHost: x:8o\r\n\r\n") },
        { "host with a long port", Bytes("GET / HTTP/1.1\r\nHost: x:123456\r\n\r\n") },
        { "host of only a port", Bytes("GET / HTTP/1.1\r\nHost: :80\r\n\r\n") },
        { "host with junk in an IP literal", Bytes("GET / HTTP/1.1\r\nHost: [::1/]\r\n\r\n") },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task Refused_With400_AndTheConnectionCloses(string shape, byte[] request)
    {
        await using var server = await TestServer.StartAsync(Echo);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync(request);
        var response = await raw.ReadResponseAsync();
        Assert.True(response.Status == 400, $"{shape}: expected 400, got {response.Status}");
        Assert.True(await raw.IsClosedByServerAsync(), $"{shape}: the connection stayed open");
    }

    public static TheoryData<string, byte[], string> Accepted => new()
    {
        { "chunk extension with a token value", Bytes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n"), "hello" },
        { "chunk extension with a quoted value", Bytes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n0\r\n\r\n"), "hello" },
        { "chunk extensions with escapes and whitespace", Bytes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a = \"b \\\"c\\\";d\" ;e\r\nhello\r\n0\r\n\r\n"), "hello" },
        { "percent-encoded UTF-8 in the path", Bytes("GET /caf%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n"), "" },
        { "host with a port", Bytes("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"), "" },
        { "host as an IPv6 literal", Bytes("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), "" },
        { "empty host on HTTP/1.0", Bytes("GET / HTTP/1.0\r\nHost: \r\n\r\n"), "" },
        { "empty host with an absolute-form target", Bytes("GET http://example.com/ HTTP/1.1\r\nHost: \r\n\r\n"), "" },
        { "encoded NUL in the query", Bytes("GET /a?b=%00 HTTP/1.1\r\nHost: x\r\n\r\n"), "" },
    };

    [Theory]
    [MemberData(nameof(Accepted))]
    public async Task Accepted_AndAnswered(string shape, byte[] request, string body)
    {
        await using var server = await TestServer.StartAsync(Echo);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync(request);
        var response = await raw.ReadResponseAsync();
        Assert.True(response.Status == 200, $"{shape}: expected 200, got {response.Status}");
        Assert.Equal(body, response.BodyText);
    }

    [Fact]
    public async Task PercentEncodedUtf8_DecodesInPath()
    {
        await using var server = await TestServer.StartAsync(Echo);
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /caf%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        Assert.Equal("/café", Uri.UnescapeDataString(response.Header("X-Path")!));
    }

    [Theory]
    [InlineData("G\0")]
    [InlineData("\0OPTI")]
    [InlineData("\x16\x03\x01\x02\x00")]
    [InlineData("GET /a\x01")]
    [InlineData("GET  /")]
    [InlineData(" GET")]
    public async Task ByteThatCannotStartARequestLine_Is400AtOnce(string garbage)
    {
        // A header timeout far beyond the bounded wait: an answer can only come from the first bytes.
        await using var server = await TestServer.StartAsync(Echo, c => c.HeaderTimeout = TimeSpan.FromMinutes(5));
        await using var raw = await server.ConnectAsync();
        var started = Stopwatch.GetTimestamp();
        await raw.SendAsync(Bytes(garbage));
        var response = await raw.ReadResponseAsync(timeout: TimeSpan.FromSeconds(10));
        Assert.Equal(400, response.Status);
        Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(10));
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task AValidRequestLineArrivingByteByByte_IsServed()
    {
        await using var server = await TestServer.StartAsync(Echo);
        await using var raw = await server.ConnectAsync();
        raw.Socket.NoDelay = true;
        foreach (var b in Bytes("GET /some/long/path/that/goes/past/thirty-two/bytes?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"))
            await raw.SendAsync([b]);
        Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("G", true)]
    [InlineData("GET", true)]
    [InlineData("GET ", true)]
    [InlineData("GET /a", true)]
    [InlineData("GET /a HTTP/1.1", true)]
    [InlineData("\r", true)]
    [InlineData("G\0", false)]
    [InlineData("\0", false)]
    [InlineData(" ", false)]
    [InlineData("GET  ", false)]
    [InlineData("GET /\u00e9", false)]
    [InlineData("GET /#", false)]
    public void CanStartRequestLine(string prefix, bool expected)
        => Assert.Equal(expected, HttpCharacters.CanStartRequestLine(Bytes(prefix)));

    [Theory]
    [InlineData("", true)]
    [InlineData(";a", true)]
    [InlineData(";a=b", true)]
    [InlineData(";a=\"b\"", true)]
    [InlineData(" ;a ; b=\"x\\\"y\"", true)]
    [InlineData(";a=\"\"", true)]
    [InlineData(";", false)]
    [InlineData(";bad[=x", false)]
    [InlineData(";a=", false)]
    [InlineData(";a=\"b", false)]
    [InlineData(";a=\"b\\", false)]
    [InlineData(";a ", false)]
    [InlineData(" ", false)]
    [InlineData("x", false)]
    [InlineData(";a=b c", false)]
    [InlineData(";a=\"\x01\"", false)]
    public void ChunkExtensionGrammar(string ext, bool expected)
        => Assert.Equal(expected, ChunkExtension.IsValid(Bytes(ext)));

    private static byte[] Bytes(string latin1) => System.Text.Encoding.Latin1.GetBytes(latin1);
}
