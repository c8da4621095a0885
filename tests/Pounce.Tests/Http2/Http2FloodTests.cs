using System.Buffers;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Pounce.Http2;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.LifecycleE2E;
using Xunit.Abstractions;

namespace Pounce.Tests.Http2;

/// <summary>
/// The flood tests measure the process's allocations, so they run alone (after the parallel tests), where the
/// numbers belong to the flood.
/// </summary>
[CollectionDefinition(nameof(FloodCollection), DisableParallelization = true)]
public sealed class FloodCollection;

/// <summary>
/// Each flood is sent without end until the server gives up on it, so a server without the protection would go on
/// reading: the test then fails on the protocol-level bound (frames the server answered or streams it started,
/// bytes it took) instead of hanging. When the server ends the connection (GOAWAY with the right code, the close,
/// <c>reason: error</c> with a specific detail), the test also checks what the flood cost in allocations (the whole
/// process: server and client), and that the server goes on serving another connection.
/// </summary>
[Collection(nameof(FloodCollection))]
public sealed class Http2FloodTests(ITestOutputHelper output)
{
    /// <summary>A server still reading after this much flood has no protection: fail rather than go on.</summary>
    private const long FloodByteCap = 64L << 20;

    private sealed record FloodResult(RawFrame GoAway, int Counted, long BytesSent, long Allocated);

    private static byte[] Frames(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Sends what <paramref name="nextChunk"/> gives (batches of flood frames, in reused buffers so the client adds
    /// little to the allocations measured; null: nothing more to send) while reading what the server answers, until
    /// its GOAWAY; fails when more than <paramref name="maxCounted"/> answers match <paramref name="counted"/>, or when
    /// <see cref="FloodByteCap"/> bytes went out without a GOAWAY.
    /// </summary>
    private static async Task<FloodResult> FloodUntilGoAwayAsync(Http2RawClient raw, Func<ReadOnlyMemory<byte>?> nextChunk,
        Func<RawFrame, bool>? counted = null, int maxCounted = int.MaxValue)
    {
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        using var stop = new CancellationTokenSource();
        long sent = 0;
        var writer = Task.Run(async () =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    if (sent >= FloodByteCap)
                        throw new Xunit.Sdk.XunitException($"The server was still reading after {sent} bytes of flood.");
                    if (nextChunk() is not { } chunk)
                        return;
                    await raw.SendAsync(chunk);
                    sent += chunk.Length;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
            {
                // The server closed the connection under the flood.
            }
        });
        var reader = Task.Run(async () =>
        {
            var count = 0;
            while (true)
            {
                var frame = await raw.ReadFrameAsync();
                if (frame.Type == Http2FrameType.GoAway)
                    return (frame, count);
                if (counted is not null && counted(frame) && ++count > maxCounted)
                    throw new Xunit.Sdk.XunitException($"The server answered more than {maxCounted} flood frames ({frame}) without ending the connection.");
            }
        });
        var first = await Task.WhenAny(writer, reader);
        if (first == writer && writer.IsFaulted)
            await writer; // the cap: throws
        var (goAway, answered) = await reader;
        stop.Cancel();
        Assert.True(await raw.WaitForCloseAsync(), "the server did not close the connection after its GOAWAY");
        await writer.WaitAsync(Http2RawClient.Timeout);
        return new FloodResult(goAway, answered, sent, GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore);
    }

    /// <summary>Batches of 500 new streams, each a HEADERS with <paramref name="block"/> (and an RST_STREAM), in one reused buffer.</summary>
    private static Func<ReadOnlyMemory<byte>?> NewStreams(byte[] block, bool reset)
    {
        var next = 1;
        var buffer = new ArrayBufferWriter<byte>(65536);
        return () =>
        {
            buffer.ResetWrittenCount();
            for (var i = 0; i < 500; i++, next += 2)
            {
                Http2FrameWriter.WriteHeaders(buffer, next, block, endStream: true, endHeaders: true);
                if (reset)
                    Http2FrameWriter.WriteRstStream(buffer, next, Http2ErrorCode.Cancel);
            }
            return buffer.WrittenMemory;
        };
    }

    private async Task AssertEndedAndStillServingAsync(TestServer server, EventRecorder events, FloodResult result,
        Http2ErrorCode code, string detail, long allocationBudget)
    {
        output.WriteLine($"{detail}: GOAWAY {result.GoAway.GoAwayCode}, {result.Counted} answers counted, {result.BytesSent} bytes sent, {result.Allocated} bytes allocated");
        Assert.Equal(code, result.GoAway.GoAwayCode);
        var conn = await events.CompletedConnectionAsync();
        Assert.Equal("error", conn[^1].Str("reason"));
        Assert.Equal(detail, conn[^1].Str("detail"));
        Assert.True(result.Allocated < allocationBudget,
            $"The flood cost {result.Allocated} bytes of allocations, over the budget of {allocationBudget}.");

        // The server stays up and serves another connection.
        using var client = Http2ConnectionTests.CreateH2Client(server);
        Assert.Equal("ok", await client.GetStringAsync("/"));
    }

    [Fact]
    public async Task RapidReset_StartsABoundedNumberOfStreams_ThenEndsWithEnhanceYourCalm()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            try
            {
                // The flood's streams would run long; the client resets them.
                if (ctx.Request.Path == "/flood")
                    await Task.Delay(TimeSpan.FromSeconds(10), ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
            await ctx.Response.WriteAsync("ok");
        });
        await using (server)
        {
            FloodResult result;
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
            {
                result = await FloodUntilGoAwayAsync(raw, NewStreams(raw.Encode(Http2RawClient.Get("/flood")), reset: true));
            }
            await AssertEndedAndStillServingAsync(server, events, result, Http2ErrorCode.EnhanceYourCalm, "rapid_reset", allocationBudget: 16 << 20);
            // The state the flood could build up is streams: the server started at most its reset limit of them.
            var conn = await events.CompletedConnectionAsync();
            var started = conn.Count(e => e.Name == "RequestStarted");
            output.WriteLine($"rapid_reset: {started} streams started");
            Assert.InRange(started, 1, 201);
        }
    }

    [Fact]
    public async Task MalformedStreamFlood_EndsWithEnhanceYourCalm()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("ok"));
        await using (server)
        {
            FloodResult result;
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
            {
                var malformed = raw.Encode((":method", "GET"), (":path", "/")); // no :scheme
                result = await FloodUntilGoAwayAsync(raw, NewStreams(malformed, reset: false), f => f.Type == Http2FrameType.RstStream, maxCounted: 200);
            }
            await AssertEndedAndStillServingAsync(server, events, result, Http2ErrorCode.EnhanceYourCalm, "rapid_reset", allocationBudget: 8 << 20);
            Assert.DoesNotContain(await events.CompletedConnectionAsync(), e => e.Name == "RequestStarted");
        }
    }

    /// <summary>
    /// A flood of one batch of frames sent again and again (after <paramref name="open"/>, if any), on a server
    /// answering "ok" (or <paramref name="app"/>).
    /// </summary>
    private async Task RunRepeatedFloodAsync(byte[] chunk, Func<RawFrame, bool>? counted, int maxCounted, string detail,
        Func<Http2RawClient, Task>? open = null, RequestDelegate? app = null)
    {
        var (server, events) = await LifecycleEventTests.StartAsync(app ?? (ctx => ctx.Response.WriteAsync("ok")));
        await using (server)
        {
            FloodResult result;
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
            {
                if (open is not null)
                    await open(raw);
                result = await FloodUntilGoAwayAsync(raw, () => chunk, counted, maxCounted);
            }
            await AssertEndedAndStillServingAsync(server, events, result, Http2ErrorCode.EnhanceYourCalm, detail, allocationBudget: 8 << 20);
        }
    }

    [Fact]
    public Task ContinuationFlood_EndsWithinItsFrameLimit() => RunRepeatedFloodAsync(
        // Empty fragments: nothing to decode, no header list growth, so only the count of CONTINUATION frames in one
        // block can stop it.
        Frames(w =>
        {
            for (var i = 0; i < 4096; i++)
                Http2FrameWriter.WriteContinuation(w, 1, [], endHeaders: false);
        }), counted: null, maxCounted: 0, "continuation_flood",
        open: raw => raw.SendFrameAsync(w => Http2FrameWriter.WriteHeaders(w, 1, raw.Encode(Http2RawClient.Get("/")), endStream: true, endHeaders: false)));

    [Fact]
    public Task SettingsFlood_IsAcknowledgedAtMost100Times() => RunRepeatedFloodAsync(
        Frames(w =>
        {
            for (var i = 0; i < 4096; i++)
                Http2FrameWriter.WriteSettings(w, []);
        }),
        // The handshake's SETTINGS and the 100 allowed in a window are acknowledged; the next one ends it.
        f => f.Type == Http2FrameType.Settings && f.Has(Http2FrameFlags.Ack), maxCounted: 101, "settings_flood");

    [Fact]
    public Task PingFlood_IsAnsweredAtMost500Times() => RunRepeatedFloodAsync(
        Frames(w =>
        {
            for (var i = 0; i < 2048; i++)
                Http2FrameWriter.WritePing(w, (ulong)i, ack: false);
        }), f => f.Type == Http2FrameType.Ping, maxCounted: 500, "ping_flood");

    [Fact]
    public Task EmptyDataFlood_IsReadAtMost500Frames() => RunRepeatedFloodAsync(
        // 50 empty DATA frames, then a PING: each PING ACK proves the server read the 50 before it. Past 500 empty
        // frames the connection must end: at most 10 ACKs.
        Frames(w =>
        {
            for (var batch = 0; batch < 64; batch++)
            {
                for (var i = 0; i < 50; i++)
                    Http2FrameWriter.WriteData(w, 1, [], endStream: false);
                Http2FrameWriter.WritePing(w, 7, ack: false);
            }
        }), f => f.Type == Http2FrameType.Ping, maxCounted: 10, "empty_data_flood",
        open: raw => raw.SendHeadersAsync(1, false, Http2RawClient.Post()),
        app: async ctx =>
        {
            try
            {
                await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            }
            catch (IOException)
            {
            }
            await ctx.Response.WriteAsync("ok");
        });

    [Fact]
    public async Task HpackBomb_IsStoppedAtTheHeaderListLimit_NotExpanded()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("ok"));
        await using (server)
        {
            FloodResult result;
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
            {
                // One 4000-byte entry inserted into the dynamic table, then referenced 4000 times (one octet each): a
                // block of 20 KB that expands to 16 MB of fields, 32 MB as strings. The limit (32 KiB) stops it after
                // eight of them.
                var block = new ArrayBufferWriter<byte>();
                var encoder = new HpackEncoder();
                encoder.BeginHeaderBlock(block);
                foreach (var (name, value) in Http2RawClient.Get("/"))
                    encoder.EncodeHeader(System.Text.Encoding.ASCII.GetBytes(name), System.Text.Encoding.ASCII.GetBytes(value), block);
                block.Write<byte>([0x40, 0x06]);
                block.Write("x-bomb"u8);
                var length = new byte[8];
                block.Write(length.AsSpan(0, HpackInteger.Encode(4000, 7, 0, length)));
                block.Write(Enumerable.Repeat((byte)'a', 4000).ToArray());
                for (var i = 0; i < 4000; i++)
                    block.Write<byte>([0x80 | 62]); // indexed: the newest dynamic entry
                var bomb = Frames(w => Http2FrameWriter.WriteHeaderBlock(w, 1, block.WrittenSpan, true, 16_384));
                var sent = false;
                result = await FloodUntilGoAwayAsync(raw, () =>
                {
                    if (sent)
                        return null;
                    sent = true;
                    return bomb;
                });
            }
            // The 16 MB of fields would cost at least 32 MB of strings; a few MB covers the connection and the client.
            await AssertEndedAndStillServingAsync(server, events, result, Http2ErrorCode.CompressionError, "hpack_bomb", allocationBudget: 8 << 20);
        }
    }

    [Fact]
    public async Task ZeroWindowStall_HoldsOneWriteOfTheApplication_ThenEndsWithEnhanceYourCalm()
    {
        var writesDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/")
            {
                await ctx.Response.WriteAsync("ok");
                return;
            }
            // 16 MB in 16 KiB writes to a client whose window stays at 0: each write waits for window, so the server
            // holds one write's bytes at a time, never the 16 MB; after the stall the rest is dropped.
            var chunk = new byte[16_384];
            try
            {
                for (var i = 0; i < 1024; i++)
                    await ctx.Response.Body.WriteAsync(chunk);
            }
            finally
            {
                writesDone.TrySetResult();
            }
        }, c => c.ResponseWriteTimeout = TimeSpan.FromSeconds(1));
        await using (server)
        {
            long allocated;
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port, handshake: false))
            {
                var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
                await raw.SendAsync(Http2Connection.ClientPreface.ToArray());
                await raw.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, [new Http2Setting(Http2SettingId.InitialWindowSize, 0)]));
                await raw.SendHeadersAsync(1, true, Http2RawClient.Get("/stall"));
                var goAway = await raw.ExpectGoAwayAsync();
                Assert.Equal(Http2ErrorCode.EnhanceYourCalm, goAway.GoAwayCode);
                Assert.True(await raw.WaitForCloseAsync());
                await writesDone.Task.WaitAsync(TimeSpan.FromSeconds(15));
                allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            }
            output.WriteLine($"flow_control_stall: {allocated} bytes allocated");
            // Buffering the 16 MB would allocate at least that much.
            Assert.True(allocated < 8 << 20, $"The stalled response cost {allocated} bytes of allocations.");
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("error", conn[^1].Str("reason"));
            Assert.Equal("flow_control_stall", conn[^1].Str("detail"));
            // The server cut the response (the client withheld its window): answered, with the cause, and nothing counted
            // that the client did not get (its window was 0).
            var ending = Assert.Single(conn, e => e.Name is "ResponseCompleted" or "ClientDisconnected");
            Assert.True(ending.Name == "ResponseCompleted", string.Join("\n", conn));
            Assert.Equal("flow_control_stall", ending.Str("aborted"));
            Assert.Equal(0, ending.Num("bytes_sent"));
            using var client = Http2ConnectionTests.CreateH2Client(server);
            Assert.Equal("ok", await client.GetStringAsync("/"));
        }
    }

    [Fact]
    public async Task UnacknowledgedSettings_EndWithSettingsTimeout()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("ok"),
            c => c.HeaderTimeout = TimeSpan.FromMilliseconds(500));
        await using (server)
        {
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port, handshake: false))
            {
                await raw.SendAsync(Http2Connection.ClientPreface.ToArray());
                await raw.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, []));
                // Never ACK the server's SETTINGS.
                await raw.ExpectGoAwayAsync(Http2ErrorCode.SettingsTimeout);
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("timeout", conn[^1].Str("reason"));
            Assert.Equal("settings_timeout", conn[^1].Str("detail"));
        }
    }
}
