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
    private readonly SendBatch _sends = new();
    // Batch number (bits 32-63), batch size (16-31) and next index to claim (0-15).
    private long _state;
    private int _busy;
    private long _seenState = -1;
    private int _tid;

    /// <summary>A poller of <paramref name="engine"/>'s set; an extra one (<paramref name="timeoutMs"/> not -1) ends
    /// when a wait times out and the engine lets it go.</summary>
    public EpollPoller(EpollEngine engine, int epoll, int timeoutMs)
    {
        _engine = engine;
        _epoll = epoll;
        _timeoutMs = timeoutMs;
        _events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * _size));
    }

    /// <summary>Whether this is a poller the watchdog added (it ends once no longer needed, or idle).</summary>
    public bool IsExtra => _timeoutMs >= 0;

    /// <summary>Starts the thread.</summary>
    public void Start(string name) => new Thread(Run) { IsBackground = true, Name = name }.UnsafeStart();

    /// <summary>
    /// The watchdog's look, once a tick: true when this poller has been inside the same event's handler since the
    /// last look (it takes no new events meanwhile). Not thread-safe: the watchdog alone calls it.
    /// </summary>
    public bool IsStuck()
    {
        var state = Volatile.Read(ref _state);
        var stuck = Volatile.Read(ref _busy) != 0 && state == _seenState;
        _seenState = state;
        return stuck;
    }

    /// <summary>
    /// Whether this poller's thread is asleep in the kernel (state S or D in <c>/proc</c>): a stuck poller that is
    /// blocked, not one computing or merely preempted (on a busy machine a thread can wait for a processor longer than a
    /// tick). Only blocked pollers make the watchdog add one: a preempted one would make an extra poller that, with
    /// events always coming, never ends.
    /// </summary>
    public bool IsBlocked()
    {
        var tid = Volatile.Read(ref _tid);
        if (tid == 0)
            return false;
        try
        {
            var stat = File.ReadAllText("/proc/self/task/" + tid.ToString(System.Globalization.CultureInfo.InvariantCulture) + "/stat");
            // "tid (name) S ...": the name may hold spaces and parentheses, the state follows the last ')'.
            var close = stat.LastIndexOf(')');
            return close >= 0 && close + 2 < stat.Length && stat[close + 2] is 'S' or 'D';
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Sends the finished responses of the current batch (<see cref="SendBatch"/>), claims the events of the
    /// batch that this poller has not started and queues each connection to the thread pool. Returns how many.</summary>
    public int StealWaiting()
    {
        _sends.SendPending();
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
        Volatile.Write(ref _tid, EpollNative.gettid());
        var defaultContext = ExecutionContext.Capture();
        long batch = 0;
        var handled = false;
        while (true)
        {
            Volatile.Write(ref _busy, 0);
            if (handled)
            {
                // Under load the next wait returns at once, and a poller that never sleeps keeps its processor for
                // a whole scheduler slice (milliseconds) while the threads that share it wait: on the bench VM that
                // doubled wrk's p99 (7 ms against Kestrel's 3.3 ms). A yield per batch lets them in; its cost did not
                // show in throughput (unpipelined 1.203 of Kestrel with it, 1.192 without, two processes each).
                Thread.Yield();
                handled = false;
            }
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
                if (_engine.TryRetire(this, idle: true))
                    break;
                continue;
            }
            batch++;
            handled = true;
            Volatile.Write(ref _state, (batch << 32) | ((long)n << 16));
            Volatile.Write(ref _busy, 1);
            _sends.Open();
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
            _sends.Close();
            if (IsExtra && _engine.TryRetire(this, idle: false))
                break;
        }
        NativeMemory.Free(_events);
    }
}
