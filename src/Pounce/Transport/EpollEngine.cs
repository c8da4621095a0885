using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Pounce.Transport;

/// <summary>
/// Tells connections when their socket has bytes to read, so that a receive is only tried when it will find some.
/// </summary>
/// <remarks>
/// <para>The sockets of .NET try a receive first and wait for readiness only when it fails with EAGAIN. On a
/// keep-alive connection that is one failed system call per request: after answering, the server reads again before
/// the client has sent its next request. Here every connection's socket is registered once, edge-triggered, with an
/// epoll instance that the engine's pollers (<see cref="EpollPoller"/>, one thread per processor, at most 16) wait on;
/// a connection receives only after an edge, and a receive that returns less than its buffer ends the readiness (the
/// socket is drained; the next bytes make a new edge). This is how nginx reads, and it leaves one <c>recv</c> per
/// request instead of two.</para>
/// <para>A connection registered inline (<see cref="ServerConfig.InlineScheduling"/>) runs its receive, and what that
/// completes, on the poller that saw the edge; any other is queued to the thread pool. The watchdog (its own thread,
/// every <see cref="WatchdogInterval"/>) keeps a blocking handler from holding the rest up: a poller still inside the
/// handler it was in at the last look gives up the rest of its batch to the thread pool, and when every poller is so
/// stuck and asleep in the kernel another is started (up to <see cref="MaxPollers"/>; an extra one ends once the
/// pollers not blocked outnumber the base ones, or after two idle seconds).</para>
/// <para>Linux only (x86-64, Arm64); elsewhere, or with <see cref="ServerConfig.EpollSockets"/> false, connections
/// use .NET's socket calls. A send is one direct non-blocking call (<see cref="EpollReceiver.Send"/>); only what the
/// socket does not take (the peer's window is full) waits with .NET's socket.</para>
/// </remarks>
internal sealed unsafe class EpollEngine
{
    /// <summary>How often the watchdog looks for pollers stuck in a handler.</summary>
    internal static readonly TimeSpan WatchdogInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>How long an extra poller waits for an event before it may end.</summary>
    private const int ExtraIdleMs = 2000;

    private static readonly Lazy<EpollEngine?> s_shared = new(Create);

    private readonly int _epoll;
    private readonly EpollRegistry _registry = new();
    private readonly Lock _pollersLock = new();
    private EpollPoller[] _pollers = [];
    private int _blocked;

    private EpollEngine(int epoll, int pollers)
    {
        _epoll = epoll;
        BasePollers = pollers;
        MaxPollers = Math.Max(64, 4 * pollers);
        for (var i = 0; i < pollers; i++)
            AddPoller(extra: false);
        new Thread(Watch) { IsBackground = true, Name = "Pounce epoll watchdog" }.UnsafeStart();
    }

    /// <summary>Pollers that always wait on the set: one per processor, at most 16.</summary>
    public int BasePollers { get; }

    /// <summary>The most pollers the watchdog lets there be when every one is stuck in a handler.</summary>
    public int MaxPollers { get; }

    /// <summary>Pollers waiting on the set now (the base ones and the extra ones still running).</summary>
    public int Pollers => Volatile.Read(ref _pollers).Length;

    /// <summary>The process's engine, or null where readiness is not available (the socket's receive is used).</summary>
    public static EpollEngine? Shared => s_shared.Value;

    private static EpollEngine? Create()
    {
        if (!OperatingSystem.IsLinux())
            return null;
        if (RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
            return null;
        try
        {
            var epoll = EpollNative.epoll_create1(EpollNative.EPOLL_CLOEXEC);
            return epoll < 0 ? null : new EpollEngine(epoll, Math.Clamp(Environment.ProcessorCount, 1, 16));
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Registers <paramref name="socket"/>; null when the kernel refuses it (the caller uses the socket's receive).
    /// With <paramref name="inline"/> its receive completes on the poller that saw the edge, else on the thread pool.
    /// </summary>
    public EpollReceiver? TryRegister(Socket socket, bool inline = false)
    {
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var fd = (int)handle.DangerousGetHandle();
            var receiver = _registry.Add((slot, generation) => new EpollReceiver(this, handle, fd, slot, generation, inline));
            var ev = stackalloc byte[16];
            *(uint*)ev = EpollNative.EPOLLIN | EpollNative.EPOLLRDHUP | EpollNative.EPOLLET;
            *(ulong*)(ev + EpollNative.EventDataOffset) = (uint)receiver.Slot | ((ulong)(uint)receiver.Generation << 32);
            if (EpollNative.epoll_ctl(_epoll, EpollNative.EPOLL_CTL_ADD, fd, ev) != 0)
            {
                _registry.Free(receiver.Slot);
                return null;
            }
            return receiver;
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>Removes a receiver's socket from the epoll set while its descriptor is still open, then frees its slot.</summary>
    internal void Unregister(EpollReceiver receiver, SafeSocketHandle handle, int fd)
    {
        var added = false;
        try
        {
            // Only while the descriptor is ours: once closed, its number may already belong to another connection.
            handle.DangerousAddRef(ref added);
            EpollNative.epoll_ctl(_epoll, EpollNative.EPOLL_CTL_DEL, fd, null);
        }
        catch (ObjectDisposedException)
        {
            // Closed already: the kernel dropped it from the set with its last descriptor.
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
        _registry.Free(receiver.Slot);
    }

    /// <summary>Hands an event (its data: slot and generation) to its receiver; a stale one finds none.</summary>
    internal void Dispatch(ulong data, bool inline) => _registry.Find((int)(uint)data, (int)(data >> 32))?.OnReadable(inline);

    /// <summary>
    /// An extra poller asks to end, after a wait that timed out (<paramref name="idle"/>) or after a batch: yes while
    /// there are more than the base pollers and, after a batch, more pollers not blocked than the base ones (the
    /// handlers it was added for have returned; under steady load its waits never time out).
    /// </summary>
    internal bool TryRetire(EpollPoller poller, bool idle)
    {
        if (!poller.IsExtra)
            return false;
        if (!idle && Volatile.Read(ref _pollers).Length - Volatile.Read(ref _blocked) <= BasePollers)
            return false;
        lock (_pollersLock)
        {
            var pollers = _pollers;
            if (pollers.Length <= BasePollers)
                return false;
            var kept = new EpollPoller[pollers.Length - 1];
            var k = 0;
            foreach (var p in pollers)
            {
                if (p != poller && k < kept.Length)
                    kept[k++] = p;
            }
            if (k != kept.Length)
                return false;
            Volatile.Write(ref _pollers, kept);
            return true;
        }
    }

    private void AddPoller(bool extra)
    {
        lock (_pollersLock)
        {
            var pollers = _pollers;
            var poller = new EpollPoller(this, _epoll, extra ? ExtraIdleMs : -1);
            var grown = new EpollPoller[pollers.Length + 1];
            pollers.CopyTo(grown, 0);
            grown[^1] = poller;
            Volatile.Write(ref _pollers, grown);
            poller.Start(extra ? "Pounce epoll+" : "Pounce epoll");
        }
    }

    /// <summary>
    /// The watchdog: a handler that blocks (synchronous I/O, a lock, a long computation) keeps its poller from the set.
    /// Once a tick, a poller found in the same handler as at the last tick gives up the rest of its batch to the thread
    /// pool, and when every poller is so stuck and asleep in the kernel (<see cref="EpollPoller.IsBlocked"/>), one more
    /// is started (up to <see cref="MaxPollers"/>), so that new events are still taken. Its own thread, not a timer: a
    /// starved thread pool must not stop it.
    /// </summary>
    private void Watch()
    {
        while (true)
        {
            Thread.Sleep(WatchdogInterval);
            var pollers = Volatile.Read(ref _pollers);
            var blocked = 0;
            foreach (var poller in pollers)
            {
                if (!poller.IsStuck())
                    continue;
                // Stuck, blocked or not: what waits behind its handler goes to the thread pool.
                poller.StealWaiting();
                if (poller.IsBlocked())
                    blocked++;
            }
            Volatile.Write(ref _blocked, blocked);
            if (blocked == pollers.Length && pollers.Length < MaxPollers)
                AddPoller(extra: true);
        }
    }
}
