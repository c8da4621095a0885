namespace Pounce.Transport;

/// <summary>
/// The finished responses of one poller's batch of events, whose sends wait for the batch's end: the poller sends
/// them all after the last event's handler returns, before it waits on the set again.
/// </summary>
/// <remarks>
/// <para>Why: a response sent to a same-host client (a load generator, a reverse proxy) whose thread sleeps waiting
/// for it wakes that thread, and when the kernel places it on the other processor the wake-up is an inter-processor
/// interrupt, which preempts the poller running there. Sent one by one, as each handler finished, half of those
/// wake-ups crossed processors on this project's 2-core VM under pipelined load, and the cost showed in the sending
/// poller (<c>sock_def_readable</c> 0.28 µs a request against Kestrel's 0.06) and in the preempted one. Sent
/// together at the batch's end, just before the poller yields and waits, the woken threads are mostly placed on the
/// sending processor: reschedule interrupts fell from 11.8 to 2.5 per 1000 requests (Kestrel: 6.9). See the
/// transport's README for the measurements.</para>
/// <para>What it costs: a response waits for the handlers of the events after it in the batch (a batch holds at most
/// <see cref="EpollPoller.MaxEvents"/>). A handler that blocks its thread holds the batch's sends too, but only until
/// the watchdog's next look, which sends them (<see cref="SendPending"/>) when it finds the poller stuck; the
/// connection's heartbeat sends whatever is still held once a second in any case.</para>
/// <para>Threading: only the poller's thread adds and sends at the batch's end. The watchdog's
/// <see cref="SendPending"/> may run meanwhile: it only reads the entries and calls <see cref="SendScheduler.SendHeld"/>,
/// which runs a held send exactly once whoever calls it, and sending early is always safe. Whoever sends a scheduler's
/// held send first takes it out of the batch (<see cref="SendScheduler.LeaveBatch"/>), then sends: a flush that finds
/// it still in a batch is therefore covered by that batch's coming send, and one that finds it out joins its own
/// batch (a scheduler in two batches at once only costs a second <c>SendHeld</c> that finds nothing).</para>
/// </remarks>
internal sealed class SendBatch
{
    /// <summary>
    /// The most bytes a response may flush and still wait for the batch's end: one pipe segment. A larger response goes
    /// at once, because a held send holds its segments until the batch ends, and with 32 connections a batch on each
    /// poller holding two segments each the shared array pool ran dry and allocated (the 4 KiB row: 1 122 -> 2 938
    /// bytes allocated a request). Small responses are the ones whose wake-ups matter anyway.
    /// </summary>
    public const int MaxBytes = 4096;

    [ThreadStatic]
    private static SendBatch? t_current;

    private SendScheduler?[] _items = new SendScheduler?[EpollPoller.MaxEvents];
    private int _count;

    /// <summary>The batch open on this thread, or null (not a poller, or between batches).</summary>
    public static SendBatch? Current => t_current;

    /// <summary>Opens the batch on this (the poller's) thread: finished responses flushed from here on wait for <see cref="Close"/>.</summary>
    public void Open() => t_current = this;

    /// <summary>Ends the batch on this thread and sends every response it holds.</summary>
    public void Close()
    {
        t_current = null;
        var items = _items;
        for (var i = 0; i < _count; i++)
        {
            var scheduler = items[i]!;
            items[i] = null;
            scheduler.LeaveBatch();
            scheduler.SendHeld();
        }
        Volatile.Write(ref _count, 0);
    }

    /// <summary>Adds a scheduler holding a send (the poller's thread only; the scheduler ensures it is added once).</summary>
    public void Add(SendScheduler scheduler)
    {
        if (_count == _items.Length)
            Array.Resize(ref _items, _items.Length * 2);
        _items[_count] = scheduler;
        Volatile.Write(ref _count, _count + 1);
    }

    /// <summary>Sends what the batch holds now, from any thread (the watchdog, for a poller stuck in a handler).
    /// The entries stay: the poller still visits them at the batch's end, where they find nothing held. Each scheduler
    /// leaves the batch before its send, so that a response its connection finishes later, on another poller, joins
    /// that poller's batch instead of waiting for this one's end.</summary>
    public void SendPending()
    {
        var items = Volatile.Read(ref _items);
        var count = Math.Min(Volatile.Read(ref _count), items.Length);
        for (var i = 0; i < count; i++)
        {
            if (Volatile.Read(ref items[i]) is { } scheduler)
            {
                scheduler.LeaveBatch();
                scheduler.SendHeld();
            }
        }
    }
}
