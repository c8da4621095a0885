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
    private static EpollEngine? Engine()
    {
        var engine = EpollEngine.Shared;
        if (OperatingSystem.IsLinux())
            Assert.True(engine is not null, "on Linux the readiness engine must start");
        return engine;
    }

    /// <summary>A connected loopback pair: the client's end and the server's accepted end.</summary>
    private static async Task<(Socket Client, Socket Server)> PairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        var server = await listener.AcceptAsync();
        return (client, server);
    }

    private static int ReceiveOnce(EpollReceiver receiver, byte[] buffer) => receiver.Receive(buffer);

    [Fact]
    public async Task ShortReceive_EndsReadiness_AndTheNextBytesWakeTheWait()
    {
        if (Engine() is not { } engine)
            return;
        var (client, server) = await PairAsync();
        using var _c = client;
        using var _s = server;
        var receiver = engine.TryRegister(server);
        Assert.NotNull(receiver);
        var buffer = new byte[64];

        Assert.True(receiver.IsReady); // a new socket may hold its first request
        Assert.Equal(-1, ReceiveOnce(receiver, buffer)); // it did not
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
    public async Task AnEdge_WhileDrained_MakesTheSocketReadyAgain_AndAnEmptyLookEndsIt()
    {
        if (Engine() is not { } engine)
            return;
        var (client, server) = await PairAsync();
        using var _c = client;
        using var _s = server;
        var receiver = engine.TryRegister(server)!;
        var buffer = new byte[64];
        Assert.Equal(-1, ReceiveOnce(receiver, buffer));
        Assert.False(receiver.IsReady);
        // An edge the receive did not see (as when bytes arrive during it, and it took them): look again, find nothing.
        receiver.OnReadable();
        Assert.True(receiver.IsReady);
        Assert.Equal(-1, ReceiveOnce(receiver, buffer));
        Assert.False(receiver.IsReady);
        receiver.Close();
    }

    [Fact]
    public async Task PeerFin_WakesTheWait_AndReceivesZero()
    {
        if (Engine() is not { } engine)
            return;
        var (client, server) = await PairAsync();
        using var _c = client;
        using var _s = server;
        var receiver = engine.TryRegister(server)!;
        var buffer = new byte[64];
        Assert.Equal(-1, ReceiveOnce(receiver, buffer));
        var wait = receiver.WaitAsync().AsTask();
        client.Shutdown(SocketShutdown.Send);
        await wait.WaitAsync(Wait);
        Assert.Equal(0, ReceiveOnce(receiver, buffer));
        Assert.True(receiver.IsReady); // the end of the stream stays readable
        receiver.Close();
    }

    [Fact]
    public async Task PeerReset_WakesTheWait_AndFailsAsConnectionReset()
    {
        if (Engine() is not { } engine)
            return;
        var (client, server) = await PairAsync();
        using var _s = server;
        var receiver = engine.TryRegister(server)!;
        var buffer = new byte[64];
        Assert.Equal(-1, ReceiveOnce(receiver, buffer));
        var wait = receiver.WaitAsync().AsTask();
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
        if (Engine() is not { } engine)
            return;
        var (client, server) = await PairAsync();
        using var _c = client;
        using var _s = server;
        var receiver = engine.TryRegister(server)!;
        var buffer = new byte[64];
        Assert.Equal(-1, ReceiveOnce(receiver, buffer));
        var wait = receiver.WaitAsync().AsTask();
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
