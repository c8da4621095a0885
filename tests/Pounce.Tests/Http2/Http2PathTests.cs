using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Pounce.Http2;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http2;

/// <summary>
/// The HTTP/2 <c>:path</c> is held to the HTTP/1.1 request-target rules (RFC 9113 8.3.1, RFC 9112 3.2): visible ASCII,
/// no fragment, no <c>%00</c> in the path. Anything else is a malformed request: RST_STREAM(PROTOCOL_ERROR) (RFC 9113
/// 8.1.1), and the connection goes on. The header blocks are written byte by byte (HPACK literals without indexing, no
/// Huffman), so the raw octets reach the server as they are.
/// </summary>
public sealed class Http2PathTests
{
    /// <summary>
    /// A request header block: <c>:method GET</c> and <c>:scheme http</c> (static table entries 2 and 6), then
    /// <c>:path</c> (static name 4) and <c>:authority</c> (static name 1) as literals without indexing, raw octets.
    /// </summary>
    private static byte[] Block(byte[] path)
    {
        Assert.True(path.Length < 127, "the test writes one-byte string lengths");
        var block = new List<byte> { 0x82, 0x86, 0x04, (byte)path.Length };
        block.AddRange(path);
        block.AddRange([0x01, 9, .. "localhost"u8.ToArray()]);
        return [.. block];
    }

    private static byte[] Octets(string latin1) => Encoding.Latin1.GetBytes(latin1);

    public static TheoryData<string, byte[]> MalformedPaths => new()
    {
        { "raw UTF-8 (/café)", Octets("/caf\u00C3\u00A9") },
        { "overlong UTF-8 slash", Octets("/\u00C0\u00AF") },
        { "raw 0xFE in the query", Octets("/a?q=\u00FE") },
        { "raw 0x80", Octets("/\u0080") },
        { "space", Octets("/a b") },
        { "tab", Octets("/a\tb") },
        { "control 0x01", Octets("/a\u0001b") },
        { "DEL", Octets("/a\u007Fb") },
        { "fragment", Octets("/page#section") },
        { "fragment alone", Octets("/#") },
        { "%00 in the path", Octets("/a%00b") },
        { "%00 at the end of the path", Octets("/a%00?x=1") },
    };

    [Theory]
    [MemberData(nameof(MalformedPaths))]
    public async Task MalformedPath_IsStreamProtocolError_AndTheConnectionGoesOn(string what, byte[] path)
    {
        var served = 0;
        await using var server = await TestServer.StartAsync(ctx =>
        {
            Interlocked.Increment(ref served);
            return ctx.Response.WriteAsync("ok");
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        var block = Block(path);
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteHeaders(w, 1, block, endStream: true, endHeaders: true));
        var answer = await raw.ExpectAsync(f => f.StreamId == 1 || f.Type == Http2FrameType.GoAway, $"an answer on stream 1 ({what})");
        Assert.True(answer.Type == Http2FrameType.RstStream && answer.RstCode == Http2ErrorCode.ProtocolError,
            $"{what}: expected RST_STREAM(PROTOCOL_ERROR), got {answer}");
        Assert.Equal(0, Volatile.Read(ref served));
        // A stream error: the next request on the connection is served.
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteHeaders(w, 3, Block("/next"u8.ToArray()), endStream: true, endHeaders: true));
        var (headers, body) = await raw.ReadResponseAsync(3);
        Assert.Contains((":status", "200"), headers);
        Assert.Equal("ok", Encoding.ASCII.GetString(body));
    }

    [Theory]
    [InlineData("/a%20b/%C3%A9", "/a b/\u00e9", "")]
    [InlineData("/x%2Fy/z?q=%FE&r=%00", "/x%2Fy/z", "?q=%FE&r=%00")]
    [InlineData("/~user/file.txt;v=1?a=b/c?d", "/~user/file.txt;v=1", "?a=b/c?d")]
    public async Task ValidPath_WithPercentEncoding_IsServed(string path, string expectedPath, string expectedQuery)
    {
        await using var server = await TestServer.StartAsync(ctx =>
            ctx.Response.WriteAsync($"{ctx.Request.Path.Value}|{ctx.Request.QueryString.Value}|{ctx.Features.Get<IHttpRequestFeature>()!.RawTarget}"));
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteHeaders(w, 1, Block(Encoding.ASCII.GetBytes(path)), endStream: true, endHeaders: true));
        var (headers, body) = await raw.ReadResponseAsync(1);
        Assert.Contains((":status", "200"), headers);
        Assert.Equal($"{expectedPath}|{expectedQuery}|{path}", Encoding.UTF8.GetString(body));
    }
}
