using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Pounce.Http2;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http2;

/// <summary>
/// Stream states after a stream has left the server's table or while its application is still finishing (RFC 9113
/// 5.1): the states h2spec probes, driven here into one deterministic order each (the h2spec replays cannot choose
/// whether a frame arrives before or after the application finished).
/// </summary>
public sealed class Http2StreamStateTests
{
    private static async Task AssertAliveAsync(Http2RawClient raw)
    {
        await raw.SendFrameAsync(w => Http2FrameWriter.WritePing(w, 42, ack: false));
        var ping = await raw.ExpectAsync(f => f.Type is Http2FrameType.Ping or Http2FrameType.GoAway or Http2FrameType.RstStream, "PING ACK");
        Assert.Equal(Http2FrameType.Ping, ping.Type);
    }

    /// <summary>Opens stream 1 with a body to come; the application answers at once, so the server resets the rest (NO_ERROR).</summary>
    private static async Task<Http2RawClient> EarlyResponseAsync(TestServer server)
    {
        var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, Http2RawClient.Post());
        await raw.ReadResponseAsync(1);
        await raw.ExpectResetAsync(1, Http2ErrorCode.NoError);
        return raw;
    }

    [Fact]
    public async Task AfterOurEarlyReset_AndTheClientsReset_DataIsStreamClosed()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("early"));
        await using var raw = await EarlyResponseAsync(server);
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteRstStream(w, 1, Http2ErrorCode.Cancel));
        await raw.SendDataAsync(1, [1, 2, 3], endStream: true);
        await raw.ExpectResetAsync(1, Http2ErrorCode.StreamClosed);
        await AssertAliveAsync(raw);
    }

    [Fact]
    public async Task AfterOurEarlyReset_AndTheClientsReset_HeadersAreStreamClosed()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("early"));
        await using var raw = await EarlyResponseAsync(server);
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteRstStream(w, 1, Http2ErrorCode.Cancel));
        await raw.SendHeadersAsync(1, true, ("x-trailer", "1"));
        await raw.ExpectResetAsync(1, Http2ErrorCode.StreamClosed);
        // The block was decoded (HPACK in step): the next request is served.
        await raw.SendHeadersAsync(3, true, Http2RawClient.Get());
        await raw.ReadResponseAsync(3);
    }

    [Fact]
    public async Task AfterOurEarlyReset_DataInFlightIsIgnored_AndTrailersWithoutEndStreamAreMalformed()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("early"));
        await using var raw = await EarlyResponseAsync(server);
        // Frames the client had sent before it saw our RST_STREAM: ignored.
        await raw.SendDataAsync(1, [1, 2, 3], endStream: false);
        await raw.SendHeadersAsync(1, true, ("x-trailer", "1"));
        await AssertAliveAsync(raw);
        // A HEADERS without END_STREAM on a stream already open is malformed in any state.
        await raw.SendHeadersAsync(1, false, ("x-trailer", "2"));
        await raw.ExpectResetAsync(1, Http2ErrorCode.ProtocolError);
        await AssertAliveAsync(raw);
    }

    [Fact]
    public async Task ClosedBothWays_WhileOnCompletedRuns_DataIsAConnectionError()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(ctx =>
        {
            ctx.Response.OnCompleted(() => release.Task);
            return ctx.Response.WriteAsync("done");
        });
        try
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
            await raw.ReadResponseAsync(1); // END_STREAM both ways; the application is held in OnCompleted
            await raw.SendDataAsync(1, [1], endStream: true);
            await raw.ExpectGoAwayAsync(Http2ErrorCode.StreamClosed);
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Fact]
    public async Task StreamsClosedForTheClient_DoNotCountAgainstMaxConcurrentStreams_UpToTwiceTheLimit()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(ctx =>
        {
            ctx.Response.OnCompleted(() => release.Task);
            return ctx.Response.WriteAsync("done");
        }, c => c.Http2MaxConcurrentStreams = 2);
        try
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            // Four streams answered in full while their applications stay in OnCompleted: the client sees them
            // closed, so each was within SETTINGS_MAX_CONCURRENT_STREAMS = 2 when it was opened.
            for (var id = 1; id <= 7; id += 2)
            {
                await raw.SendHeadersAsync(id, true, Http2RawClient.Get());
                await raw.ReadResponseAsync(id);
            }
            // Twice the limit of applications still running: the next stream is refused.
            await raw.SendHeadersAsync(9, true, Http2RawClient.Get());
            await raw.ExpectResetAsync(9, Http2ErrorCode.RefusedStream);
            release.TrySetResult();
            // Once they finish, streams are served again. The four finish on pool threads after the release, so a
            // new stream may still be refused for a moment: poll, bounded by a deadline rather than a count (a busy
            // 2-core CI machine took longer than 95 back-to-back attempts).
            var deadline = Stopwatch.StartNew();
            for (var id = 11; ; id += 2)
            {
                await raw.SendHeadersAsync(id, true, Http2RawClient.Get());
                var frame = await raw.ExpectAsync(f => f.StreamId == id && f.Type is Http2FrameType.Headers or Http2FrameType.RstStream, $"stream {id}");
                if (frame.Type == Http2FrameType.Headers)
                    break;
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(15), $"streams still refused 15 s after the applications finished (last stream {id})");
                await Task.Delay(10);
            }
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Fact]
    public async Task AfterGoAway_FramesOnIgnoredNewStreams_DoNotDisturbTheStreamsInFlight()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            started.TrySetResult();
            await release.Task;
            await ctx.Response.WriteAsync("done");
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        var stopping = server.StopAsync();
        var goAway = await raw.ExpectGoAwayAsync();
        Assert.Equal(1, goAway.GoAwayLastStreamId);
        // A request the client had in flight when the GOAWAY came: ignored, body included.
        await raw.SendHeadersAsync(3, false, Http2RawClient.Post());
        await raw.SendDataAsync(3, new byte[1000], endStream: true);
        await AssertAliveAsync(raw);
        release.TrySetResult();
        var (_, body) = await raw.ReadResponseAsync(1);
        Assert.Equal("done", System.Text.Encoding.ASCII.GetString(body));
        await stopping.WaitAsync(TimeSpan.FromSeconds(15));
    }
}
