using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Pounce.Tests.Infrastructure;
using Pounce.Transport;
using Xunit;

namespace Pounce.Tests.Transport;

/// <summary>
/// Inline scheduling: a receive registered inline completes on the poller that saw the edge, one registered otherwise
/// on the thread pool, and receives that block their poller do not hold up the others (the watchdog hands the events
/// waiting behind them to the thread pool and adds a poller when every one is stuck).
/// </summary>
public sealed class InlineSchedulingTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private static EpollEngine? Engine() => EpollReceiverTests.Engine();

    private static Task<(Socket Client, Socket Server)> PairAsync() => EpollReceiverTests.PairAsync();

    /// <summary>Registers the server end, drains it and starts the wait, so that the next bytes make the edge.</summary>
    private static ValueTask Armed(EpollEngine engine, Socket server, bool inline, out EpollReceiver receiver)
    {
        receiver = engine.TryRegister(server, inline)!;
        Assert.NotNull(receiver);
        Assert.Equal(-1, receiver.Receive(new byte[16]));
        return receiver.WaitAsync();
    }

    private static bool OnPoller() => Thread.CurrentThread.Name?.StartsWith("Pounce epoll", StringComparison.Ordinal) == true
        && Thread.CurrentThread.Name != "Pounce epoll watchdog";

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Receive_CompletesOnThePoller_OnlyWhenInline(bool inline)
    {
        if (Engine() is not { } engine)
            return;
        var (client, server) = await PairAsync();
        using var _c = client;
        using var _s = server;
        var wait = Armed(engine, server, inline, out var receiver);
        try
        {
            var ran = new TaskCompletionSource<(bool OnPoller, bool Pool)>(TaskCreationOptions.RunContinuationsAsynchronously);
            // Registered before the bytes are sent, so the continuation runs where the receive completes.
            wait.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(() => ran.SetResult((OnPoller(), Thread.CurrentThread.IsThreadPoolThread)));
            await client.SendAsync("x"u8.ToArray(), SocketFlags.None);
            var (onPoller, pool) = await ran.Task.WaitAsync(Wait);
            Assert.Equal(inline, onPoller);
            Assert.Equal(!inline, pool);
        }
        finally
        {
            receiver.Close();
        }
    }

    [Fact]
    public async Task ReceivesThatBlockEveryPoller_DoNotHoldUpTheRest()
    {
        if (Engine() is not { } engine)
            return;
        // More blocking receives than there are pollers: with no watchdog the ones past the pollers' count (and any
        // event batched behind a blocked one) would wait until the gate opens.
        var count = engine.Pollers + 2;
        using var gate = new ManualResetEventSlim(false);
        using var started = new CountdownEvent(count);
        var onPoller = 0;
        using var finished = new CountdownEvent(count);
        var pairs = new List<(Socket Client, Socket Server, EpollReceiver Receiver)>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var (client, server) = await PairAsync();
                var wait = Armed(engine, server, inline: true, out var receiver);
                pairs.Add((client, server, receiver));
                wait.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(Block);
            }
            foreach (var (client, _, _) in pairs)
                await client.SendAsync("x"u8.ToArray(), SocketFlags.None);
            var all = await Task.Run(() => started.Wait(Wait));
            Assert.True(all, $"{count - started.CurrentCount} of {count} blocking receives ran while the gate was shut: a blocked poller held the others up");
            Assert.True(Volatile.Read(ref onPoller) >= 1, "no receive ran on a poller: inline receives are not inline");
        }
        finally
        {
            gate.Set();
            Assert.True(await Task.Run(() => finished.Wait(Wait)), "a blocked receive did not end once the gate opened");
            // Extra pollers, if the watchdog added any, end once no poller is blocked (a bounded wait).
            var deadline = DateTime.UtcNow + Wait;
            while (engine.Pollers > engine.BasePollers && DateTime.UtcNow < deadline)
                await Task.Delay(50);
            Assert.True(engine.Pollers == engine.BasePollers, $"{engine.Pollers - engine.BasePollers} extra pollers still run after every blocked handler returned");
            foreach (var (client, server, receiver) in pairs)
            {
                receiver.Close();
                client.Dispose();
                server.Dispose();
            }
        }

        void Block()
        {
            if (OnPoller())
                Interlocked.Increment(ref onPoller);
            started.Signal();
            // Blocks the thread it runs on (a poller, when inline), as a handler doing synchronous I/O does.
            gate.Wait(Wait);
            finished.Signal();
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Server_WithBlockingHandlers_StillAnswersOthers(bool inline)
    {
        if (Engine() is null)
            return;
        using var gate = new ManualResetEventSlim(false);
        var blocking = Environment.ProcessorCount + 2;
        using var started = new CountdownEvent(blocking);
        var handlersOnPoller = 0;
        await using var server = await TestServer.StartAsync(context =>
        {
            if (OnPoller())
                Interlocked.Increment(ref handlersOnPoller);
            if (context.Request.Path == "/block")
            {
                started.Signal();
                gate.Wait(Wait); // synchronous, as a handler calling a blocking API is
            }
            return context.Response.WriteAsync("ok");
        }, config => config.InlineScheduling = inline);
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < blocking; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                clients.Add(client);
                await client.ConnectAsync(IPAddress.Loopback, server.Port);
                // A first request, so that the connection's receive waits on the engine when /block arrives.
                Assert.EndsWith("ok", await RequestAsync(client, "/plain"));
            }
            foreach (var client in clients)
                await client.SendAsync(Encoding.ASCII.GetBytes("GET /block HTTP/1.1\r\nHost: x\r\n\r\n"), SocketFlags.None);
            var all = await Task.Run(() => started.Wait(Wait));
            Assert.True(all, $"{blocking - started.CurrentCount} of {blocking} blocking handlers started while the gate was shut");
            using var other = server.CreateClient();
            Assert.Equal("ok", await other.GetStringAsync("/plain").WaitAsync(Wait));
            gate.Set();
            foreach (var client in clients)
                Assert.EndsWith("ok", await ReadResponseAsync(client));
            if (!inline)
                Assert.Equal(0, Volatile.Read(ref handlersOnPoller));
        }
        finally
        {
            gate.Set();
            foreach (var client in clients)
                client.Dispose();
        }
    }

    private static async Task<string> RequestAsync(Socket client, string path)
    {
        await client.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"), SocketFlags.None);
        return await ReadResponseAsync(client);
    }

    /// <summary>One chunked "ok" response: read until its last chunk.</summary>
    private static async Task<string> ReadResponseAsync(Socket client)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!text.ToString().EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal) && !text.ToString().EndsWith("\r\n\r\nok", StringComparison.Ordinal))
        {
            var n = await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Wait);
            Assert.True(n > 0, "the server closed the connection: " + text);
            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        var s = text.ToString();
        return s.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal) ? s[..^7].TrimEnd('\r', '\n').Split("\r\n")[^1] : s;
    }
}
