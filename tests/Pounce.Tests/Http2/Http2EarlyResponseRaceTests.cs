using Microsoft.AspNetCore.Http;
using Pounce.Http2;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http2;

/// <summary>
/// The two races of an application that answers before the request ended (RFC 9113 8.1): frames the client sent with
/// its request are checked against the open stream's rules even when the response ended first, because the server's
/// RST_STREAM(NO_ERROR) is written only after the frames already received; and DATA beyond <c>content-length</c> is a
/// stream PROTOCOL_ERROR even after that reset. Each case runs many streams, so both orders of application and read
/// loop are exercised; the verdict must not depend on the order.
/// </summary>
public sealed class Http2EarlyResponseRaceTests
{
    private const int Rounds = 25;

    private static Task<TestServer> StartEarlyAsync() => TestServer.StartAsync(ctx => ctx.Response.WriteAsync("early"));

    private static async Task AssertAliveAsync(Http2RawClient raw)
    {
        await raw.SendFrameAsync(w => Http2FrameWriter.WritePing(w, 42, ack: false));
        var ping = await raw.ExpectAsync(f => f.Type is Http2FrameType.Ping or Http2FrameType.GoAway or Http2FrameType.RstStream, "PING ACK");
        Assert.Equal(Http2FrameType.Ping, ping.Type);
    }

    /// <summary>
    /// A request on the next stream whose many new fields take the read loop a while to decode: sent between the
    /// request and the frame under test, it gives the application time to finish first in most rounds.
    /// </summary>
    /// <remarks>
    /// Small enough (about 3 KB) that the request, this block and the frame under test, sent in one write, arrive in
    /// one read of the server's transport (4 KiB): the promise under test is about frames received with the request.
    /// A larger block is split across reads, and a frame read after the server's early RST_STREAM(NO_ERROR) is one
    /// that RFC 9113 5.1 lets the server ignore (WINDOW_UPDATE) or answer after that reset (DATA).
    /// </remarks>
    private static byte[] SlowToDecode(Http2RawClient raw, int round)
    {
        var fields = new List<(string, string)>(Http2RawClient.Get());
        for (var f = 0; f < 36; f++)
            fields.Add(($"x-filler-{round}-{f}", new string((char)('a' + f % 26), 64)));
        var block = raw.Encode([.. fields]);
        Assert.True(block.Length < 3300, $"the filler block is {block.Length} bytes: it must leave the whole write under one 4 KiB read");
        return block;
    }

    [Fact]
    public async Task WindowUpdateOverflow_SentWithTheRequest_IsFlowControlError_WhicheverEndsFirst()
    {
        await using var server = await StartEarlyAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        for (var i = 0; i < Rounds; i++)
        {
            var id = 4 * i + 1;
            var block = raw.Encode(Http2RawClient.Post());
            var filler = SlowToDecode(raw, i);
            // One write: the server reads every frame before it can have said anything about the stream.
            await raw.SendFrameAsync(w =>
            {
                Http2FrameWriter.WriteHeaders(w, id, block, endStream: false, endHeaders: true);
                Http2FrameWriter.WriteHeaders(w, id + 2, filler, endStream: true, endHeaders: true);
                Http2FrameWriter.WriteWindowUpdate(w, id, int.MaxValue);
            });
            await raw.ExpectResetAsync(id, Http2ErrorCode.FlowControlError);
        }
        await AssertAliveAsync(raw);
    }

    [Fact]
    public async Task DataBeyondContentLength_SentWithTheRequest_IsProtocolError_WhicheverEndsFirst()
    {
        await using var server = await StartEarlyAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        for (var i = 0; i < Rounds; i++)
        {
            var id = 4 * i + 1;
            var block = raw.Encode([.. Http2RawClient.Post(), ("content-length", "1")]);
            var filler = SlowToDecode(raw, i);
            await raw.SendFrameAsync(w =>
            {
                Http2FrameWriter.WriteHeaders(w, id, block, endStream: false, endHeaders: true);
                Http2FrameWriter.WriteHeaders(w, id + 2, filler, endStream: true, endHeaders: true);
                Http2FrameWriter.WriteData(w, id, "test"u8, endStream: true);
            });
            await raw.ExpectResetAsync(id, Http2ErrorCode.ProtocolError);
        }
        await AssertAliveAsync(raw);
    }

    [Fact]
    public async Task DataBeyondContentLength_AfterOurEarlyReset_IsStillProtocolError()
    {
        await using var server = await StartEarlyAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, [.. Http2RawClient.Post(), ("content-length", "1")]);
        await raw.ReadResponseAsync(1);
        await raw.ExpectResetAsync(1, Http2ErrorCode.NoError);
        await raw.SendDataAsync(1, "test"u8.ToArray(), endStream: true);
        await raw.ExpectResetAsync(1, Http2ErrorCode.ProtocolError);
        await AssertAliveAsync(raw);
    }

    [Fact]
    public async Task DataShortOfContentLength_EndedByTrailers_AfterOurEarlyReset_IsProtocolError()
    {
        await using var server = await StartEarlyAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, [.. Http2RawClient.Post(), ("content-length", "10")]);
        await raw.ReadResponseAsync(1);
        await raw.ExpectResetAsync(1, Http2ErrorCode.NoError);
        await raw.SendDataAsync(1, [1, 2, 3], endStream: false);
        await raw.SendHeadersAsync(1, true, ("x-trailer", "1"));
        await raw.ExpectResetAsync(1, Http2ErrorCode.ProtocolError);
        // The trailer block was decoded (HPACK in step): the next request is served.
        await raw.SendHeadersAsync(3, true, Http2RawClient.Get());
        await raw.ReadResponseAsync(3);
    }

    [Fact]
    public async Task DataMatchingContentLength_AfterOurEarlyReset_IsIgnored()
    {
        await using var server = await StartEarlyAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, [.. Http2RawClient.Post(), ("content-length", "4")]);
        await raw.ReadResponseAsync(1);
        await raw.ExpectResetAsync(1, Http2ErrorCode.NoError);
        await raw.SendDataAsync(1, "test"u8.ToArray(), endStream: true);
        await AssertAliveAsync(raw);
    }

    [Fact]
    public async Task WindowUpdateOverflow_AfterOurEarlyReset_IsIgnored()
    {
        // Once our RST_STREAM is out, the stream is closed for us: frames the client sent meanwhile are ignored (RFC 9113 5.1).
        await using var server = await StartEarlyAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, Http2RawClient.Post());
        await raw.ReadResponseAsync(1);
        await raw.ExpectResetAsync(1, Http2ErrorCode.NoError);
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteWindowUpdate(w, 1, int.MaxValue));
        await AssertAliveAsync(raw);
    }
}
