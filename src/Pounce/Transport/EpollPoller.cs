using System.Runtime.InteropServices;

namespace Pounce.Transport;

/// <summary>
/// One thread waiting on the engine's epoll set and handling the batch of readiness events each wait returns: a
/// connection registered inline runs its receive (and what the receive completes: parsing, the application's
/// synchronous part, the response's send) right here; any other is queued to the thread pool.
/// </summary>
/// <remarks>
/// <para>Every event of a batch is claimed before it is handled, by whoever claims it first: this thread, or the
/// engine's watchdog taking the events a stuck handler holds up (<see cref="StealWaiting"/>). The batch's number, its
/// size and the next index to claim share one 64-bit word, so a claim is one compare-and-swap, and a claimer reads the
/// event before its swap: a swap that succeeds proves the batch was still the one read (this thread waits again only
/// once every event is claimed, and a new batch has a new number).</para>
/// </remarks>
internal sealed unsafe class EpollPoller
{
    /// <summary>Events taken per wait. Small, because a batch's events are handled one after another on this thread.</summary>
    internal const int MaxEvents = 32;

    private readonly EpollEngine _engine;
    private readonly int _epoll;
    private readonly int _timeoutMs;
    private readonly byte* _events;
    private readonly int _size = EpollNative.EventSize;
    private readonly int _offset = EpollNative.EventDataOffset;
    // Batch number (bits 32-63), batch size (16-31) and next index to claim (0-15).
    private long _state;
    private int _busy;
    private long _seenState = -1;

    /// <summary>A poller of <paramref name="engine"/>'s set; an extra one (<paramref name="timeoutMs"/> not -1) ends
    /// when a wait times out and the engine lets it go.</summary>
    public EpollPoller(EpollEngine engine, int epoll, int timeoutMs)
    {
        _engine = engine;
        _epoll = epoll;
        _timeoutMs = timeoutMs;
        _events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * _size));
    }

    /// <summary>Whether this is a poller the watchdog added (it ends once idle).</summary>
    public bool IsExtra => _timeoutMs >= 0;

    /// <summary>Starts the thread.</summary>
    public void Start(string name) => new Thread(Run) { IsBackground = true, Name = name }.UnsafeStart();

    /// <summary>
    /// The watchdog's look, once a tick: true when this poller has been inside the same event's handler since the
    /// last look (it cannot wait for new events). Not thread-safe: the watchdog alone calls it.
    /// </summary>
    public bool IsStuck()
    {
        var state = Volatile.Read(ref _state);
        var stuck = Volatile.Read(ref _busy) != 0 && state == _seenState;
        _seenState = state;
        return stuck;
    }

    /// <summary>Claims the events of the current batch that this poller has not started and queues each connection
    /// to the thread pool. Returns how many.</summary>
    public int StealWaiting()
    {
        var stolen = 0;
        while (TryClaim(out var data))
        {
            _engine.Dispatch(data, inline: false);
            stolen++;
        }
        return stolen;
    }

    private bool TryClaim(out ulong data)
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            var next = (int)(state & 0xFFFF);
            if (next >= (int)((state >> 16) & 0xFFFF))
            {
                data = 0;
                return false;
            }
            data = *(ulong*)(_events + next * _size + _offset);
            if (Interlocked.CompareExchange(ref _state, state + 1, state) == state)
                return true;
        }
    }

    private void Run()
    {
        var defaultContext = ExecutionContext.Capture();
        long batch = 0;
        while (true)
        {
            Volatile.Write(ref _busy, 0);
            var n = EpollNative.epoll_wait(_epoll, _events, MaxEvents, _timeoutMs);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EpollNative.EINTR)
                    continue;
                // The epoll instance is broken: nothing can be waited for any more. Connections registered here
                // would wait for ever, so fail loudly rather than hang them quietly.
                Environment.FailFast("Pounce: epoll_wait failed with errno " + Marshal.GetLastPInvokeError());
            }
            if (n == 0)
            {
                if (_engine.TryRetire(this))
                    break;
                continue;
            }
            batch++;
            Volatile.Write(ref _state, (batch << 32) | ((long)n << 16));
            Volatile.Write(ref _busy, 1);
            while (TryClaim(out var data))
            {
                _engine.Dispatch(data, inline: true);
                // What ran here may have left its context on this thread (an AsyncLocal set outside an async method,
                // a synchronization context): the next connection must not see it.
                if (ExecutionContext.Capture() != defaultContext && defaultContext is not null)
                    ExecutionContext.Restore(defaultContext);
                if (SynchronizationContext.Current is not null)
                    SynchronizationContext.SetSynchronizationContext(null);
            }
        }
        NativeMemory.Free(_events);
    }
}
