using System.Text;
using Microsoft.AspNetCore.Http;
using Pounce.Tests.Infrastructure;
using Xunit;

namespace Pounce.Tests.Http1;

/// <summary>
/// A flush of an unfinished response may wait for the rest of the response (one send), but never for the client: what
/// an application flushed reaches the client while the application waits, blocks or reads the request body.
/// </summary>
public sealed class HeldSendTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    /// <summary>Reads until <paramref name="expected"/> has arrived (bounded).</summary>
    private static async Task<string> ReadUntilAsync(RawClient raw, string expected)
    {
        var seen = new StringBuilder();
        var deadline = DateTime.UtcNow + Bound;
        while (!seen.ToString().Contains(expected, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"'{expected}' never arrived; got: {seen}");
            var bytes = await raw.ReadAvailableAsync(Bound);
            Assert.True(bytes.Length > 0, $"the server closed before '{expected}' arrived; got: {seen}");
            seen.Append(Encoding.Latin1.GetString(bytes));
        }
        return seen.ToString();
    }

    [Fact]
    public async Task FlushedChunk_ReachesTheClient_WhileTheApplicationAwaitsIt()
    {
        var clientSawChunk = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            await ctx.Response.WriteAsync("first-chunk");
            await clientSawChunk.Task.WaitAsync(Bound); // the response's end waits for the client to see the chunk
            await ctx.Response.WriteAsync("second-chunk");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        await ReadUntilAsync(raw, "first-chunk");
        clientSawChunk.SetResult();
        await ReadUntilAsync(raw, "0\r\n\r\n");
    }

    [Fact]
    public async Task FlushedChunks_ReachTheClient_OnEveryLaterWait()
    {
        // After its first wait the application's flushes send at once (a stream of events).
        var gates = Enumerable.Range(0, 3).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            for (var i = 0; i < gates.Length; i++)
            {
                await ctx.Response.WriteAsync($"event-{i};");
                await gates[i].Task.WaitAsync(Bound);
            }
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        for (var i = 0; i < gates.Length; i++)
        {
            await ReadUntilAsync(raw, $"event-{i};");
            gates[i].SetResult();
        }
        await ReadUntilAsync(raw, "0\r\n\r\n");
    }

    [Fact]
    public async Task FlushedChunk_ReachesTheClient_WhileTheApplicationBlocksItsThread()
    {
        // An application that blocks its thread after a flush (never waits): the heartbeat sends what it held.
        using var clientSawChunk = new ManualResetEventSlim();
        await using var server = await TestServer.StartAsync(ctx =>
        {
            var write = ctx.Response.WriteAsync("blocked-chunk");
            Assert.True(write.IsCompleted);
            clientSawChunk.Wait(Bound);
            return ctx.Response.WriteAsync(clientSawChunk.IsSet ? "released" : "timed-out");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        await ReadUntilAsync(raw, "blocked-chunk");
        clientSawChunk.Set();
        var rest = await ReadUntilAsync(raw, "0\r\n\r\n");
        Assert.Contains("released", rest, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FlushedChunk_ReachesTheClient_BeforeTheApplicationReadsTheBody()
    {
        // An interactive exchange: the client sends the rest of its body only after it has seen the prompt.
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            await ctx.Response.WriteAsync("prompt;");
            var buffer = new byte[64];
            var total = 0;
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(buffer.AsMemory(total))) > 0)
                total += n;
            await ctx.Response.WriteAsync("got:" + Encoding.ASCII.GetString(buffer, 0, total));
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n");
        await ReadUntilAsync(raw, "prompt;");
        await raw.SendAsync("answer");
        var rest = await ReadUntilAsync(raw, "0\r\n\r\n");
        Assert.Contains("got:answer", rest, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HeadChunkAndEnd_OfAResponseThatNeverWaits_ArriveInOneSend()
    {
        // The coalescing itself: one send, so the client's first read has the whole response (loopback delivers one
        // send in one segment; before, the head and chunk went in one send and the end in another).
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            await ctx.Response.WriteAsync("hello");
            await ctx.Response.Body.FlushAsync();
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var first = Encoding.Latin1.GetString(await raw.ReadAvailableAsync(Bound));
        Assert.EndsWith("0\r\n\r\n", first, StringComparison.Ordinal);
    }
}
