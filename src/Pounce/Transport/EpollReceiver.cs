using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Pounce.Transport;

/// <summary>
/// One socket's readiness, as <see cref="EpollEngine"/> reports it, and its receive: a receive only runs while the
/// socket is known to hold bytes, and one that leaves room in its buffer ends that knowledge. Also the socket's direct
/// non-blocking send, under the same handle discipline.
/// </summary>
/// <remarks>
/// Readiness is a pair of counters: the engine counts edges, a receive that drained the socket records the count it
/// started from. An edge that arrives during that receive moves the count past it, so the socket stays ready and the
/// next receive looks (at worst finding nothing); no edge is ever lost. One reader at a time (the receive loop).
/// </remarks>
internal sealed unsafe class EpollReceiver : IValueTaskSource, IThreadPoolWorkItem
{
    private readonly EpollEngine _engine;
    private readonly SafeSocketHandle _handle;
    private readonly int _fd;
    private ManualResetValueTaskSourceCore<bool> _core;
    // A new socket starts not ready: joining the epoll set reports the bytes already there as an edge, so the first
    // receive never fails with EAGAIN while holding a buffer (a connection that connects and waits holds none).
    private int _edges;
    private int _drainedAt;
    private int _waiting;
    private int _closed;

    internal EpollReceiver(EpollEngine engine, SafeSocketHandle handle, int fd, int slot, int generation, bool inline = false)
    {
        Inline = inline;
        _engine = engine;
        _handle = handle;
        _fd = fd;
        Slot = slot;
        Generation = generation;
    }

    /// <summary>The engine's table slot.</summary>
    public int Slot { get; }

    /// <summary>Whether a receive waiting for an edge completes on the poller that saw it (else on the thread pool).</summary>
    public bool Inline { get; }

    /// <summary>Tells this registration's events from a freed slot's stale ones.</summary>
    public int Generation { get; }

    /// <summary>Whether a receive may find bytes (or the end of the stream, or an error).</summary>
    public bool IsReady => Volatile.Read(ref _edges) != _drainedAt;

    /// <summary>Completes when <see cref="IsReady"/> may have become true (an edge, or <see cref="Close"/>).</summary>
    public ValueTask WaitAsync()
    {
        _core.Reset();
        // A full fence, not a volatile write: the flag must be visible before the edge count is read again below. The
        // engine increments the count (a full fence) and then reads the flag; with a plain store the two reads could
        // both see the old values (store-load reordering), and the edge would wake nobody: a connection whose bytes
        // sit unread for ever.
        Interlocked.Exchange(ref _waiting, 1);
        // An edge between the caller's check and the flag above found nobody waiting: look again.
        if (IsReady && Interlocked.Exchange(ref _waiting, 0) == 1)
            return ValueTask.CompletedTask;
        return new ValueTask(this, _core.Version);
    }

    /// <summary>
    /// Receives into <paramref name="buffer"/>: the count (0 at the peer's FIN), or -1 when the socket held nothing
    /// after all (wait again). Throws <see cref="SocketException"/> for a reset or other failure, and
    /// <see cref="SocketException"/> (OperationAborted) once closed.
    /// </summary>
    public int Receive(Span<byte> buffer)
    {
        if (Volatile.Read(ref _closed) != 0)
            throw new SocketException((int)SocketError.OperationAborted);
        var edges = Volatile.Read(ref _edges);
        nint n;
        fixed (byte* p = buffer)
            n = Call(&EpollNative.recv, p, buffer.Length, EpollNative.MSG_DONTWAIT);
        if (n >= 0)
        {
            // Room left in the buffer: the socket is drained (a FIN, n == 0, stays readable: never drained).
            if (n < buffer.Length && n > 0)
                _drainedAt = edges;
            return (int)n;
        }
        _drainedAt = edges; // EAGAIN
        return -1;
    }

    /// <summary>
    /// Sends what the socket takes now, without waiting (the send loop's first try, beside the receive): the count, or
    /// 0 when the socket's buffer is full (the caller then waits with .NET's socket). Throws
    /// <see cref="SocketException"/> for a reset or other failure, and (OperationAborted) once the socket is disposed.
    /// Works after <see cref="Close"/>: a response still goes out after the peer's FIN ended the receive.
    /// </summary>
    public int Send(ReadOnlySpan<byte> data)
    {
        nint n;
        fixed (byte* p = data)
            n = Call(&EpollNative.send, p, data.Length, EpollNative.MSG_DONTWAIT | EpollNative.MSG_NOSIGNAL);
        return n >= 0 ? (int)n : 0;
    }

    /// <summary>
    /// Runs <c>recv</c> or <c>send</c> on the socket while holding a reference on its handle (so its descriptor number
    /// cannot be closed and given to another connection meanwhile), again after EINTR. Returns the count, or -1 for
    /// EAGAIN; throws <see cref="SocketException"/> for any other failure, OperationAborted once disposed.
    /// </summary>
    private nint Call(delegate*<int, byte*, nuint, int, nint> call, byte* p, int length, int flags)
    {
        var added = false;
        nint n;
        int errno;
        try
        {
            _handle.DangerousAddRef(ref added);
            do
            {
                n = call(_fd, p, (nuint)length, flags);
                errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            }
            while (n < 0 && errno == EpollNative.EINTR);
        }
        catch (ObjectDisposedException)
        {
            throw new SocketException((int)SocketError.OperationAborted);
        }
        finally
        {
            if (added)
                _handle.DangerousRelease();
        }
        if (n >= 0 || errno == EpollNative.EAGAIN)
            return n >= 0 ? n : -1;
        throw new SocketException((int)EpollNative.ToSocketError(errno));
    }

    /// <summary>
    /// An edge: counted, and a waiting receive completes, on this thread when <paramref name="onPoller"/> and the
    /// receiver is <see cref="Inline"/> (the caller is a poller), else on the thread pool.
    /// </summary>
    public void OnReadable(bool onPoller)
    {
        Interlocked.Increment(ref _edges);
        if (Volatile.Read(ref _waiting) == 0 || Interlocked.Exchange(ref _waiting, 0) != 1)
            return;
        if (onPoller && Inline)
            _core.SetResult(true);
        else
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    /// <summary>Leaves the engine (before the socket is closed) and wakes a waiting receive, which then fails as aborted.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
            return;
        _engine.Unregister(this, _handle, _fd);
        OnReadable(onPoller: false);
    }

    void IThreadPoolWorkItem.Execute() => _core.SetResult(true);

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
