using System.IO.Pipelines;

namespace Pounce.Transport;

/// <summary>
/// Runs a response pipe's send loop. A flush normally sends at once, on the flushing thread. A flush the protocol
/// marks as "more of this response follows" (an application flushing a response it has not finished) instead holds
/// the send: the protocol's next ordinary flush (the response's end, or the last of a batch of pipelined responses)
/// sends everything in one system call and one TLS record, and if the protocol has nothing more to say for now (the
/// application waits for something), a work item queued to this thread's own queue sends it as soon as the current
/// work item returns. This is the coalescing Kestrel gets from its I/O queue, without a thread hop on the common path.
/// </summary>
/// <remarks>
/// Only the protocol's writing thread marks a flush, around its own <see cref="PipeWriter.FlushAsync"/> call, and the
/// pipe calls <see cref="Schedule"/> from inside that call; any other scheduling (completion, cancellation) runs
/// inline. A held send runs exactly once: whoever takes it first (the next flush, <see cref="SendHeld"/> or the queued
/// work item) runs it.
/// </remarks>
internal sealed class SendScheduler : PipeScheduler, IThreadPoolWorkItem
{
    [ThreadStatic]
    private static SendScheduler? t_holding;

    private readonly Action<IThreadPoolWorkItem> _queue;
    private Action<object?>? _heldAction;
    private object? _heldState;
    private int _held;

    /// <summary>A scheduler whose held sends are queued to the thread pool (this thread's own queue first).</summary>
    public SendScheduler()
        : this(static item => System.Threading.ThreadPool.UnsafeQueueUserWorkItem(item, preferLocal: true))
    {
    }

    /// <summary>A scheduler that hands its held-send work item to <paramref name="queue"/> (tests run it when they choose).</summary>
    internal SendScheduler(Action<IThreadPoolWorkItem> queue)
    {
        _queue = queue;
    }

    /// <summary>Pipe options for a response pipe whose send loop this scheduler runs.</summary>
    public PipeOptions CreateOptions() => new(
        pauseWriterThreshold: 64 * 1024,
        resumeWriterThreshold: 32 * 1024,
        readerScheduler: this,
        writerScheduler: PipeScheduler.ThreadPool,
        useSynchronizationContext: false);

    /// <summary>Flushes <paramref name="writer"/> (whose reader this scheduler runs) and holds the send for the rest of the response.</summary>
    public ValueTask<FlushResult> FlushHeldAsync(PipeWriter writer, CancellationToken cancellationToken)
    {
        t_holding = this;
        try
        {
            return writer.FlushAsync(cancellationToken);
        }
        finally
        {
            t_holding = null;
        }
    }

    /// <summary>Flushes <paramref name="writer"/> and sends at once, together with anything held.</summary>
    public ValueTask<FlushResult> FlushAsync(PipeWriter writer, CancellationToken cancellationToken)
    {
        var flush = writer.FlushAsync(cancellationToken);
        SendHeld();
        return flush;
    }

    /// <summary>Runs a held send now, on this thread (before the connection is aborted, or when nothing more follows).</summary>
    public void SendHeld()
    {
        if (Volatile.Read(ref _held) != 0)
            RunHeld();
    }

    /// <inheritdoc />
    public override void Schedule(Action<object?> action, object? state)
    {
        if (!ReferenceEquals(t_holding, this))
        {
            action(state);
            return;
        }
        _heldAction = action;
        _heldState = state;
        Volatile.Write(ref _held, 1);
        _queue(this);
    }

    void IThreadPoolWorkItem.Execute() => RunHeld();

    private void RunHeld()
    {
        if (Interlocked.Exchange(ref _held, 0) == 0)
            return;
        var action = _heldAction!;
        var state = _heldState;
        _heldAction = null;
        _heldState = null;
        action(state);
    }
}
