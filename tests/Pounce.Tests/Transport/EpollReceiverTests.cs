using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Pounce.Transport;
using Xunit;

namespace Pounce.Tests.Transport;

/// <summary>
/// The readiness engine's receive: a receive runs only after an edge, a short receive ends the readiness, and the next
/// bytes, the peer's FIN or reset, and the server's own close each wake a waiting receive.
/// </summary>
public sealed class EpollReceiverTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>The engine exists on Linux (where the suite runs); elsewhere these tests have nothing to test.</summary>
    internal static EpollEngine? Engine()
    {
        var engine = EpollEngine.Shared;
        if (OperatingSystem.IsLinux())
            Assert.True(engine is not null, "on Linux the readiness engine must start");
        return engine;
    }

    /// <summary>A connected loopback pair: the client's end and the server's accepted end.</summary>
    internal static async Task<(Socket Client, Socket Server)> PairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        var server = await listener.AcceptAsync();
        return (client, server);
    }

    /// <summary>A connected pair whose server end is registered with the engine; null where there is no engine.</summary>
    private sealed class RegisteredPair(Socket client, Socket server, EpollReceiver receiver) : IDisposable
    {
        public Socket Client { get; } = client;
        public Socket Server { get; } = server;
        public EpollReceiver Receiver { get; } = receiver;

        /// <summary>Receives once, finding nothing (the socket is drained), then starts the wait for the next edge.</summary>
        public Task WaitAfterDrain(byte[] buffer)
        {
            Assert.Equal(-1, Receiver.Receive(buffer));
            Assert.False(Receiver.IsReady);
            return Receiver.WaitAsync().AsTask();
        }

        public void Dispose()
        {
            Receiver.Close();
            Client.Dispose();
            Server.Dispose();
        }
    }

    private static async Task<RegisteredPair?> RegisteredPairAsync()
    {
        if (Engine() is not { } engine)
            return null;
        var (client, server) = await PairAsync();
        var receiver = engine.TryRegister(server);
        Assert.NotNull(receiver);
        return new RegisteredPair(client, server, receiver);
    }

    private static int ReceiveOnce(EpollReceiver receiver, byte[] buffer) => receiver.Receive(buffer);

    [Fact]
    public async Task ShortReceive_EndsReadiness_AndTheNextBytesWakeTheWait()
    {
        using var pair = await RegisteredPairAsync();
        if (pair is null)
            return;
        var (client, server, receiver) = (pair.Client, pair.Server, pair.Receiver);
        var buffer = new byte[64];

        Assert.False(receiver.IsReady); // a new socket waits for its first edge
        Assert.Equal(-1, ReceiveOnce(receiver, buffer)); // (and a receive would have found nothing)
        Assert.False(receiver.IsReady);

        var wait = receiver.WaitAsync().AsTask();
        Assert.False(wait.IsCompleted);
        await client.SendAsync(Encoding.ASCII.GetBytes("hello"));
        await wait.WaitAsync(Wait);
        Assert.True(receiver.IsReady);
        Assert.Equal(5, ReceiveOnce(receiver, buffer));
        Assert.False(receiver.IsReady); // room was left: drained

        // More than the buffer: the full receive keeps the readiness, the short one after it ends it.
        await client.SendAsync(new byte[100]);
        await receiver.WaitAsync().AsTask().WaitAsync(Wait);
        var first = ReceiveOnce(receiver, buffer);
        Assert.Equal(64, first);
        Assert.True(receiver.IsReady);
        var second = ReceiveOnce(receiver, buffer);
        if (second < 0)
        {
            // The last 36 bytes were still on their way: their edge comes.
            await receiver.WaitAsync().AsTask().WaitAsync(Wait);
            second = ReceiveOnce(receiver, buffer);
        }
        Assert.Equal(36, second);
        Assert.False(receiver.IsReady);
        receiver.Close();
    }

    [Fact]
    public async Task PingPong_ManySocketsAtOnce_NoEdgeIsLost()
    {
        // The edge of the client's next byte arrives while the server heads into its wait: the moment a wake-up can be
        // lost (it was, once: the waiting flag was a plain store, reordered after the edge count's read). A lost edge
        // leaves a wait that never completes; each is bounded.
        if (Engine() is not { } engine)
            return;
        const int Sockets = 8;
        const int Rounds = 12000;
        var lost = 0;
        var tasks = new List<Task>();
        for (var p = 0; p < Sockets; p++)
        {
            var (client, server) = await PairAsync();
            var receiver = engine.TryRegister(server)!;
            tasks.Add(Task.Run(async () =>
            {
                using var _c = client;
                using var _s = server;
                var one = new byte[1];
                var buffer = new byte[64];
                for (var i = 0; i < Rounds; i++)
                {
                    await client.SendAsync(one);
                    var n = -1;
                    while (n < 0)
                    {
                        if (!receiver.IsReady)
                        {
                            var wait = receiver.WaitAsync().AsTask();
                            if (await Task.WhenAny(wait, Task.Delay(Wait)) != wait)
                            {
                                Interlocked.Increment(ref lost);
                                return;
                            }
                        }
                        n = receiver.Receive(buffer);
                    }
                    Assert.Equal(1, n);
                    await server.SendAsync(one);
                    Assert.Equal(1, await client.ReceiveAsync(one.AsMemory()));
                }
                receiver.Close();
            }));
        }
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(lost == 0, $"{lost} of {Sockets} sockets waited {Wait.TotalSeconds} s for bytes that had arrived: an edge was lost");
    }

    [Fact]
    public async Task BytesThatArrivedBeforeTheSocketJoined_AreReportedAsAnEdge()
    {
        if (Engine() is not { } engine)
            return;
        var (client, server) = await PairAsync();
        using var _c = client;
        using var _s = server;
        await client.SendAsync(Encoding.ASCII.GetBytes("early"));
        // Give the bytes time to land in the server's socket before it joins the epoll set (a bounded poll, not a sleep).
        Assert.True(server.Poll(TimeSpan.FromSeconds(10), SelectMode.SelectRead), "the client's bytes never reached the server");
        var receiver = engine.TryRegister(server)!;
        await receiver.WaitAsync().AsTask().WaitAsync(Wait);
        var buffer = new byte[64];
        Assert.Equal(5, ReceiveOnce(receiver, buffer));
        receiver.Close();
    }

    [Fact]
    public async Task AnEdge_WhileDrained_MakesTheSocketReadyAgain_AndAnEmptyLookEndsIt()
    {
        using var pair = await RegisteredPairAsync();
        if (pair is null)
            return;
        var (client, server, receiver) = (pair.Client, pair.Server, pair.Receiver);
        var buffer = new byte[64];
        Assert.Equal(-1, ReceiveOnce(receiver, buffer));
        Assert.False(receiver.IsReady);
        // An edge the receive did not see (as when bytes arrive during it, and it took them): look again, find nothing.
        receiver.OnReadable(onPoller: false);
        Assert.True(receiver.IsReady);
        Assert.Equal(-1, ReceiveOnce(receiver, buffer));
        Assert.False(receiver.IsReady);
        receiver.Close();
    }

    [Fact]
    public async Task PeerFin_WakesTheWait_AndReceivesZero()
    {
        using var pair = await RegisteredPairAsync();
        if (pair is null)
            return;
        var (client, server, receiver) = (pair.Client, pair.Server, pair.Receiver);
        var buffer = new byte[64];
        var wait = pair.WaitAfterDrain(buffer);
        client.Shutdown(SocketShutdown.Send);
        await wait.WaitAsync(Wait);
        Assert.Equal(0, ReceiveOnce(receiver, buffer));
        Assert.True(receiver.IsReady); // the end of the stream stays readable
        receiver.Close();
    }

    [Fact]
    public async Task PeerReset_WakesTheWait_AndFailsAsConnectionReset()
    {
        using var pair = await RegisteredPairAsync();
        if (pair is null)
            return;
        var (client, receiver) = (pair.Client, pair.Receiver);
        var buffer = new byte[64];
        var wait = pair.WaitAfterDrain(buffer);
        client.LingerState = new LingerOption(true, 0);
        client.Close(); // RST
        await wait.WaitAsync(Wait);
        var ex = Assert.Throws<SocketException>(() => ReceiveOnce(receiver, buffer));
        Assert.Equal(SocketError.ConnectionReset, ex.SocketErrorCode);
        receiver.Close();
    }

    [Fact]
    public async Task Close_WakesAWaitingReceive_WhichFailsAsAborted()
    {
        using var pair = await RegisteredPairAsync();
        if (pair is null)
            return;
        var (client, server, receiver) = (pair.Client, pair.Server, pair.Receiver);
        var buffer = new byte[64];
        var wait = pair.WaitAfterDrain(buffer);
        Assert.False(wait.IsCompleted);
        receiver.Close();
        await wait.WaitAsync(Wait);
        var ex = Assert.Throws<SocketException>(() => ReceiveOnce(receiver, buffer));
        Assert.Equal(SocketError.OperationAborted, ex.SocketErrorCode);
    }

    [Fact]
    public async Task FreedSlots_AreReused_AndEachNewSocketStillGetsItsEdges()
    {
        if (Engine() is not { } engine)
            return;
        var slots = new HashSet<int>();
        for (var i = 0; i < 40; i++)
        {
            var (client, server) = await PairAsync();
            using var _c = client;
            using var _s = server;
            var receiver = engine.TryRegister(server)!;
            slots.Add(receiver.Slot);
            var buffer = new byte[64];
            Assert.Equal(-1, ReceiveOnce(receiver, buffer));
            var wait = receiver.WaitAsync().AsTask();
            await client.SendAsync(new byte[] { (byte)i });
            await wait.WaitAsync(Wait);
            Assert.Equal(1, ReceiveOnce(receiver, buffer));
            Assert.Equal((byte)i, buffer[0]);
            receiver.Close();
        }
        // Other tests register sockets at the same time, so not one slot; but far fewer than 40.
        Assert.True(slots.Count < 40, $"{slots.Count} slots for 40 sockets one after the other: freed slots are not reused");
    }

    [Fact]
    public async Task DirectSend_TakesWhatFits_ReturnsZeroWhenFull_OutlivesTheReceive_AndFailsOnceTheSocketIsDisposed()
    {
        using var pair = await RegisteredPairAsync();
        if (pair is null)
            return;
        var (client, server, receiver) = (pair.Client, pair.Server, pair.Receiver);
        var chunk = new byte[64 * 1024];
        long sent = 0;
        int n;
        // The client reads nothing: the socket's buffers fill, and a send then takes nothing instead of waiting.
        while ((n = receiver.Send(chunk)) > 0)
        {
            sent += n;
            Assert.True(sent < 512L * 1024 * 1024, "512 MB went into a socket nobody reads: the send never reports a full buffer");
        }
        Assert.Equal(0, n);
        Assert.True(sent > 0);
        // Once the client reads, the socket takes bytes again.
        var drain = new byte[1024 * 1024];
        long read = 0;
        while (read < sent)
            read += await client.ReceiveAsync(drain.AsMemory()).AsTask().WaitAsync(Wait);
        Assert.Equal(sent, read);
        Assert.True(receiver.Send(chunk) > 0, "the drained socket must take bytes again");
        // Closing the receiver (the receive ended, say at the peer's FIN) leaves sending to the socket possible.
        receiver.Close();
        Assert.True(receiver.Send(new byte[10]) > 0, "a response must still go out after the receive ended");
        // Once the socket itself is disposed, a send fails as aborted.
        server.Dispose();
        var ex = Assert.Throws<SocketException>(() => receiver.Send(chunk));
        Assert.Equal(SocketError.OperationAborted, ex.SocketErrorCode);
    }

    [Fact]
    public async Task DirectSend_ToAPeerThatReset_FailsAsAPeerFailure()
    {
        using var pair = await RegisteredPairAsync();
        if (pair is null)
            return;
        var (client, receiver) = (pair.Client, pair.Receiver);
        client.LingerState = new LingerOption(true, 0);
        client.Close(); // RST
        var buffer = new byte[16];
        var ex = Assert.Throws<SocketException>(() =>
        {
            // The reset may still be on its way: the first sends can succeed; one fails once it is in.
            var deadline = DateTime.UtcNow + Wait;
            while (DateTime.UtcNow < deadline)
                receiver.Send(buffer);
        });
        Assert.Contains(ex.SocketErrorCode, new[] { SocketError.ConnectionReset, SocketError.Shutdown });
        Assert.True(SocketTransport.IsPeerOrAbortFailure(ex), "a send to a peer that reset is the peer's doing, not a fault");
        receiver.Close();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Transport_SendsALargeReplyWhole_ToAPeerThatReadsLate(bool withEngine)
    {
        var engine = withEngine ? Engine() : null;
        if (withEngine && engine is null)
            return;
        var (client, server) = await PairAsync();
        using var _c = client;
        var transport = new SocketTransport(server, engine);
        transport.Start();
        // Larger than the socket buffers: the direct send takes part, the rest waits for the peer to read.
        var reply = new byte[8 * 1024 * 1024];
        Random.Shared.NextBytes(reply);
        var write = transport.Output.WriteAsync(reply).AsTask();
        var received = new byte[reply.Length];
        var got = 0;
        while (got < received.Length)
            got += await client.ReceiveAsync(received.AsMemory(got)).AsTask().WaitAsync(Wait);
        await write.WaitAsync(Wait);
        Assert.True(reply.AsSpan().SequenceEqual(received), "the 8 MB reply arrived changed");
        Assert.Equal(reply.Length, transport.BytesSent);
        await transport.CloseAsync(TimeSpan.FromSeconds(1), TimeSpan.Zero).AsTask().WaitAsync(Wait);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Transport_CarriesBytesBothWays_AndReportsTheFin_WithAndWithoutTheEngine(bool withEngine)
    {
        var engine = withEngine ? Engine() : null;
        if (withEngine && engine is null)
            return;
        var (client, server) = await PairAsync();
        using var _c = client;
        var transport = new SocketTransport(server, engine);
        transport.Start();

        await client.SendAsync(Encoding.ASCII.GetBytes("first;"));
        Assert.Equal("first;", await ReadAsync(transport.Input, "first;".Length));
        // The server drained the socket and waits: the next bytes are a new edge.
        await client.SendAsync(Encoding.ASCII.GetBytes("second;"));
        Assert.Equal("second;", await ReadAsync(transport.Input, "second;".Length));
        // A body larger than one receive buffer arrives whole.
        var big = new byte[300_000];
        Random.Shared.NextBytes(big);
        var sendBig = client.SendAsync(big);
        var received = await ReadBytesAsync(transport.Input, big.Length);
        await sendBig;
        Assert.True(big.AsSpan().SequenceEqual(received), "the 300 kB body arrived changed");

        await transport.Output.WriteAsync(Encoding.ASCII.GetBytes("reply"));
        var reply = new byte[5];
        var got = 0;
        while (got < 5)
            got += await client.ReceiveAsync(reply.AsMemory(got)).AsTask().WaitAsync(Wait);
        Assert.Equal("reply", Encoding.ASCII.GetString(reply));

        client.Shutdown(SocketShutdown.Send);
        var end = await transport.Input.ReadAsync().AsTask().WaitAsync(Wait);
        Assert.True(end.IsCompleted && end.Buffer.IsEmpty, "the peer's FIN must complete the input");
        transport.Input.AdvanceTo(end.Buffer.End);
        Assert.Equal(PeerClose.Fin, transport.PeerClose);
        // The peer only half-closed: an answer written after its FIN still reaches it.
        await transport.Output.WriteAsync(Encoding.ASCII.GetBytes("after-fin"));
        var late = new byte[9];
        got = 0;
        while (got < late.Length)
        {
            var n = await client.ReceiveAsync(late.AsMemory(got)).AsTask().WaitAsync(Wait);
            Assert.True(n > 0, "the server closed before sending what it wrote after the peer's FIN");
            got += n;
        }
        Assert.Equal("after-fin", Encoding.ASCII.GetString(late));
        await transport.CloseAsync(TimeSpan.FromSeconds(1), TimeSpan.Zero).AsTask().WaitAsync(Wait);
    }

    [Fact]
    public async Task Transport_Abort_EndsAReceiveWaitingOnTheEngine()
    {
        var (client, server) = await PairAsync();
        using var _c = client;
        var transport = new SocketTransport(server, Engine());
        transport.Start();
        var read = transport.Input.ReadAsync().AsTask();
        Assert.False(read.IsCompleted);
        transport.Abort();
        var result = await read.WaitAsync(Wait);
        Assert.True(result.IsCompleted, "an aborted transport's input must complete");
        Assert.Equal(PeerClose.Aborted, transport.PeerClose);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Server_AnswersKeepAliveRequestsAndLargeBodies_WithEitherSocketPath(bool epollSockets)
    {
        await using var server = await Pounce.Tests.Infrastructure.TestServer.StartAsync(async context =>
        {
            var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var reply = new byte[body.Length * 2]; // a reply larger than what came
            body.ToArray().CopyTo(reply, 0);
            await context.Response.Body.WriteAsync(reply);
        }, config => config.EpollSockets = epollSockets);
        using var client = server.CreateClient();
        for (var i = 0; i < 50; i++)
        {
            var payload = new byte[i * 997];
            Random.Shared.NextBytes(payload);
            using var response = await client.PostAsync(server.BaseAddress, new ByteArrayContent(payload)).WaitAsync(Wait);
            var reply = await response.Content.ReadAsByteArrayAsync();
            Assert.Equal(payload.Length * 2, reply.Length);
            Assert.True(payload.AsSpan().SequenceEqual(reply.AsSpan(0, payload.Length)), $"request {i}: the body came back changed");
        }
        var big = new byte[3 * 1024 * 1024];
        Random.Shared.NextBytes(big);
        using (var response = await client.PostAsync(server.BaseAddress, new ByteArrayContent(big)).WaitAsync(Wait))
        {
            var reply = await response.Content.ReadAsByteArrayAsync();
            Assert.Equal(big.Length * 2, reply.Length);
            Assert.True(big.AsSpan().SequenceEqual(reply.AsSpan(0, big.Length)), "the 3 MB body came back changed");
        }
    }

    private static async Task<string> ReadAsync(PipeReader input, int length) => Encoding.ASCII.GetString(await ReadBytesAsync(input, length));

    private static async Task<byte[]> ReadBytesAsync(PipeReader input, int length)
    {
        var bytes = new byte[length];
        var got = 0;
        while (got < length)
        {
            var result = await input.ReadAsync().AsTask().WaitAsync(Wait);
            var take = (int)Math.Min(result.Buffer.Length, length - got);
            result.Buffer.Slice(0, take).CopyTo(bytes.AsSpan(got));
            got += take;
            input.AdvanceTo(result.Buffer.GetPosition(take));
            Assert.False(result.IsCompleted && got < length, "the input ended early");
        }
        return bytes;
    }
}
