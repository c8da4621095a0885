using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Pounce.Transport;

/// <summary>How the peer's side of a connection ended, as the transport saw it.</summary>
internal enum PeerClose
{
    /// <summary>Still open.</summary>
    None,
    /// <summary>The peer sent FIN.</summary>
    Fin,
    /// <summary>The peer reset the connection, or a send failed.</summary>
    Reset,
    /// <summary>The server aborted the socket.</summary>
    Aborted,
}

/// <summary>
/// A connected socket turned into a pair of pipes: a receive loop fills <see cref="Input"/>, a send loop drains
/// <see cref="Output"/>. It knows nothing of HTTP; it reports how the peer went away and when a send stalls.
/// </summary>
internal sealed class SocketTransport : IDuplexPipe
{
    // The protocol reads inline, on the receive loop's thread: that loop already runs on the thread pool (the socket's
    // completion), so a second hop per request would buy nothing (thread-pool work items per request 1.0 -> 0.04).
    // While the protocol runs synchronously the loop does not receive; it resumes as soon as the protocol waits.
    private static readonly PipeOptions InputOptions = new(
        pauseWriterThreshold: 1024 * 1024,
        resumeWriterThreshold: 512 * 1024,
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        useSynchronizationContext: false);

    private readonly Socket _socket;
    private readonly Pipe _input = new(InputOptions);
    private readonly SendScheduler _sendScheduler = new();
    private readonly Pipe _output;
    private readonly CancellationTokenSource _closed = new();
    private readonly List<ArraySegment<byte>> _gather = new(16);
    private readonly EpollEngine? _engine;
    private readonly bool _inline;
    private EpollReceiver? _receiver;
    private Task _receiveTask = Task.CompletedTask;
    private Task _sendTask = Task.CompletedTask;
    private int _peerClose;
    private long _sendStartedTicks;
    private int _closedSignalled;

    /// <summary>
    /// A transport over <paramref name="socket"/>; with a null <paramref name="engine"/> it receives with the socket's
    /// own receive. With <paramref name="inline"/> a receive completes on the engine's poller (see
    /// <see cref="ServerConfig.InlineScheduling"/>).
    /// </summary>
    public SocketTransport(Socket socket, EpollEngine? engine, bool inline = false)
    {
        _socket = socket;
        _engine = engine;
        _inline = inline;
        // The writer (the protocol) waits past 64 KiB unsent; the send loop runs as SendScheduler says.
        _output = new Pipe(_sendScheduler.CreateOptions());
    }

    /// <summary>Runs the send loop of <see cref="Output"/>; see <see cref="SendScheduler.FlushHeldAsync"/>.</summary>
    public SendScheduler OutputScheduler => _sendScheduler;

    public PipeReader Input => _input.Reader;

    public PipeWriter Output => _output.Writer;

    /// <summary>The far end of <see cref="Output"/>, for benchmarks and tests that run a connection without a socket.</summary>
    internal PipeReader OutputReader => _output.Reader;

    /// <summary>Cancelled (on the thread pool) when the peer closes or resets, or the socket is aborted.</summary>
    public CancellationToken ConnectionClosed => _closed.Token;

    public PeerClose PeerClose => (PeerClose)Volatile.Read(ref _peerClose);

    /// <summary><see cref="Environment.TickCount64"/> when the pending send started, 0 when no send is pending.</summary>
    public long SendStartedTicks => Volatile.Read(ref _sendStartedTicks);

    /// <summary>The size of the pending send (valid while <see cref="SendStartedTicks"/> is not 0), for the minimum response data rate.</summary>
    public long SendPendingBytes => Volatile.Read(ref _sendPendingBytes);

    private long _sendPendingBytes;

    /// <summary>Total bytes the socket accepted (counted send by send, so a failed send leaves what went before).</summary>
    public long BytesSent => Volatile.Read(ref _bytesSent);

    private long _bytesSent;

    private void CountSent(int n) => Volatile.Write(ref _bytesSent, _bytesSent + n); // the send loop is the only writer

    public void Start()
    {
        _receiver = _engine?.TryRegister(_socket, _inline);
        _receiveTask = ReceiveLoopAsync();
        _sendTask = SendLoopAsync();
    }

    private async Task ReceiveLoopAsync()
    {
        var writer = _input.Writer;
        Exception? error = null;
        try
        {
            var receiver = _receiver;
            while (true)
            {
                int read;
                if (receiver is not null)
                {
                    // Wait for an edge before taking a buffer, so idle connections hold no memory.
                    if (!receiver.IsReady)
                        await receiver.WaitAsync();
                    var memory = writer.GetMemory(4096);
                    read = receiver.Receive(memory.Span);
                    if (read < 0)
                        continue;
                }
                else
                {
                    // Wait for data before taking a buffer, so idle connections hold no memory.
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                    var memory = writer.GetMemory(4096);
                    read = await _socket.ReceiveAsync(memory, SocketFlags.None);
                }
                if (read == 0)
                {
                    SetPeerClose(PeerClose.Fin);
                    break;
                }
                writer.Advance(read);
                var result = await writer.FlushAsync();
                if (result.IsCompleted || result.IsCanceled)
                    break;
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown or SocketError.OperationAborted or SocketError.Interrupted or SocketError.TimedOut)
        {
            SetPeerClose(PeerClose.Reset);
        }
        catch (ObjectDisposedException)
        {
            SetPeerClose(PeerClose.Aborted);
        }
        catch (Exception ex)
        {
            SetPeerClose(PeerClose.Reset);
            error = ex;
        }
        finally
        {
            // Nothing more is received: leave the epoll set (sends go on; an abort racing Start is caught here too).
            _receiver?.Close();
            SignalClosed();
            await writer.CompleteAsync(error);
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                var buffer = result.Buffer;
                try
                {
                    if (!buffer.IsEmpty)
                    {
                        Volatile.Write(ref _sendPendingBytes, buffer.Length);
                        Volatile.Write(ref _sendStartedTicks, Environment.TickCount64);
                        if (buffer.IsSingleSegment)
                        {
                            // A direct non-blocking send first: it takes everything unless the peer's window is full,
                            // and then .NET's socket waits for room.
                            var rest = _receiver is { } native ? SendDirect(native, buffer.First) : buffer.First;
                            if (!rest.IsEmpty)
                                await SendAllAsync(rest);
                        }
                        else
                            await SendGatheredAsync(buffer);
                        Volatile.Write(ref _sendStartedTicks, 0);
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.End);
                }
                if (result.IsCompleted || result.IsCanceled)
                    break;
            }
            await reader.CompleteAsync();
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _sendStartedTicks, 0);
            SetPeerClose(ex is ObjectDisposedException ? PeerClose.Aborted : PeerClose.Reset);
            SignalClosed();
            // A peer that went away (reset, broken pipe) or a socket the server aborted (write timeout: ECANCELED) is a
            // fact, not a fault: the writer's next flush says IsCompleted (the protocol then knows the response is
            // lost, and the request is aborted) instead of throwing a SocketException into the protocol or the
            // application. Anything else is a bug and stays an exception.
            await reader.CompleteAsync(IsPeerOrAbortFailure(ex) ? null : ex);
            // Unblock a reader waiting for a request that can never be answered.
            _input.Reader.CancelPendingRead();
        }
    }

    /// <summary>A send failed because the connection is gone (the peer's doing, or the server's abort).</summary>
    internal static bool IsPeerOrAbortFailure(Exception ex) => ex is SocketException or ObjectDisposedException or IOException or OperationCanceledException;

    /// <summary>
    /// Sends a multi-segment buffer with as few system calls as possible: up to 16 segments in one vectored send
    /// (a response head and its body usually sit in two pipe segments).
    /// </summary>
    private async ValueTask SendGatheredAsync(ReadOnlySequence<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            _gather.Clear();
            foreach (var segment in buffer)
            {
                if (segment.IsEmpty)
                    continue;
                if (!MemoryMarshal.TryGetArray(segment, out var array))
                    break;
                _gather.Add(array);
                if (_gather.Count == 16)
                    break;
            }
            if (_gather.Count == 0)
            {
                // Memory that is not array-backed: one segment at a time.
                var first = buffer.First;
                await SendAllAsync(first);
                buffer = buffer.Slice(first.Length);
                continue;
            }
            var sent = await _socket.SendAsync(_gather, SocketFlags.None);
            CountSent(sent);
            buffer = buffer.Slice(sent);
        }
        _gather.Clear();
    }

    /// <summary>Sends what the socket takes now, without waiting; returns the rest (empty when all went).</summary>
    private ReadOnlyMemory<byte> SendDirect(EpollReceiver native, ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            var sent = native.Send(data.Span);
            if (sent <= 0)
                break;
            CountSent(sent);
            data = data[sent..];
        }
        return data;
    }

    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            var sent = await _socket.SendAsync(data, SocketFlags.None);
            CountSent(sent);
            data = data[sent..];
        }
    }

    /// <summary>
    /// The peer ended its stream in a layer above the socket (TLS close_notify) while the socket may stay open: the
    /// same fact as its FIN, so the protocols' "did the client go away?" and <see cref="ConnectionClosed"/> agree.
    /// </summary>
    public void OnPeerEndedStream()
    {
        SetPeerClose(PeerClose.Fin);
        SignalClosed();
    }

    private void SetPeerClose(PeerClose kind) => Interlocked.CompareExchange(ref _peerClose, (int)kind, 0);

    private void SignalClosed()
    {
        if (Interlocked.Exchange(ref _closedSignalled, 1) == 0)
        {
            // Never run application cancellation callbacks on the socket loop.
            ThreadPool.UnsafeQueueUserWorkItem(static cts =>
            {
                try { cts.Cancel(); } catch (ObjectDisposedException) { }
            }, _closed, preferLocal: false);
        }
    }

    /// <summary>Tears the socket down at once; pending reads and sends fail.</summary>
    public void Abort()
    {
        SetPeerClose(PeerClose.Aborted);
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception)
        {
            // The socket may already be gone.
        }
        _receiver?.Close();
        _socket.Dispose();
        SignalClosed();
    }

    /// <summary>
    /// Sends what is buffered (waiting at most <paramref name="sendTimeout"/>), closes the send side and releases the
    /// socket. With a non-zero <paramref name="linger"/> it first waits that long for the peer's FIN, discarding what
    /// the peer still sends, so that an error response is not wiped out by a reset caused by unread request bytes.
    /// </summary>
    public async ValueTask CloseAsync(TimeSpan sendTimeout, TimeSpan linger)
    {
        _sendScheduler.SendHeld(); // a response waiting for its poller's batch to end goes now
        await _output.Writer.CompleteAsync();
        var sendDone = _sendTask.IsCompleted || await Task.WhenAny(_sendTask, Task.Delay(sendTimeout)) == _sendTask;
        if (sendDone && PeerClose == PeerClose.None)
        {
            try
            {
                _socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception)
            {
                // Already reset by the peer.
            }
            if (linger > TimeSpan.Zero)
            {
                await _input.Reader.CompleteAsync();
                if (!_receiveTask.IsCompleted)
                    await Task.WhenAny(_receiveTask, Task.Delay(linger));
            }
        }
        _receiver?.Close();
        _socket.Dispose();
        await _input.Reader.CompleteAsync();
        try
        {
            await _receiveTask;
            await _sendTask;
        }
        catch (Exception)
        {
            // The loops record their own failures.
        }

    }
}
