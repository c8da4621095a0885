using System.IO.Pipelines;

namespace Pounce.Transport;

/// <summary>
/// Runs a response pipe's send loop. A flush normally sends at once, on the flushing thread. A flush the protocol
/// marks as "more of this response follows" (an application flushing a response it has not finished, while it runs
/// without waiting for anything) instead holds the send: the protocol's next ordinary flush (the response's end, or
/// the last of a batch of pipelined responses) sends everything in one system call and one TLS record. This is the
/// coalescing Kestrel gets from its I/O queue, without a thread hop or a work item per response. A finished response
/// flushed on a poller's thread (<see cref="FlushAtBatchEndAsync"/>) is held the same way until the poller's batch of
/// events ends (<see cref="SendBatch"/>).
/// </summary>
/// <remarks>
/// <para>Only the protocol's writing thread marks a flush, around its own <see cref="PipeWriter.FlushAsync"/> call,
/// and the pipe calls <see cref="Schedule"/> from inside that call; any other scheduling (completion, cancellation)
/// runs inline.</para>
/// <para>A held send must not wait for anything the application does next: the protocol calls <see cref="SendHeld"/>
/// as soon as the application waits (its first incomplete await, a request body read) and before an abort; a held
/// flush that would itself wait (more than the pipe's pause threshold unsent) sends at once; and the connection's
/// heartbeat sends whatever is still held, for an application that blocks its thread. <see cref="SendHeld"/> only
/// runs the pipe's reader side, so it is safe on any thread while the application writes. A held send runs exactly
/// once: whoever takes it first runs it.</para>
/// </remarks>
internal sealed class SendScheduler : PipeScheduler
{
    [ThreadStatic]
    private static SendScheduler? t_holding;

    private Action<object?>? _heldAction;
    private int _inBatch;
    private object? _heldState;
    private int _held;

    /// <summary>Pipe options for a response pipe whose send loop this scheduler runs.</summary>
    public PipeOptions CreateOptions() => new(
        pauseWriterThreshold: 64 * 1024,
        resumeWriterThreshold: 32 * 1024,
        readerScheduler: this,
        writerScheduler: PipeScheduler.ThreadPool,
        useSynchronizationContext: false);

    /// <summary>Whether a send is held.</summary>
    public bool IsHolding => Volatile.Read(ref _held) != 0;

    /// <summary>Flushes <paramref name="writer"/> (whose reader this scheduler runs) and holds the send for the rest of the response.</summary>
    public ValueTask<FlushResult> FlushHeldAsync(PipeWriter writer, CancellationToken cancellationToken)
    {
        var flush = FlushHoldingSendAsync(writer, cancellationToken);
        // The writer must wait for the send loop (too much unsent): nothing may be held then.
        if (!flush.IsCompleted)
            SendHeld();
        return flush;
    }

    /// <summary>
    /// Flushes <paramref name="writer"/> and holds the send even when the flush must wait: for a caller that flushes
    /// under a lock the send loop must not run under, and calls <see cref="SendHeld"/> as soon as it released it.
    /// </summary>
    public ValueTask<FlushResult> FlushHoldingSendAsync(PipeWriter writer, CancellationToken cancellationToken)
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

    /// <summary>
    /// Flushes <paramref name="writer"/> for a finished response: on a poller's thread inside a batch of events the
    /// send waits for the batch's end (<see cref="SendBatch"/>), together with anything held; elsewhere it goes at once
    /// as with <see cref="FlushAsync"/>. More than <see cref="SendBatch.MaxBytes"/> to flush, or a flush that must wait
    /// for the send loop (too much unsent), sends at once.
    /// </summary>
    public ValueTask<FlushResult> FlushAtBatchEndAsync(PipeWriter writer, CancellationToken cancellationToken)
    {
        var batch = SendBatch.Current;
        if (batch is null || writer.UnflushedBytes > SendBatch.MaxBytes)
            return FlushAsync(writer, cancellationToken);
        var flush = FlushHoldingSendAsync(writer, cancellationToken);
        if (!flush.IsCompleted)
            SendHeld();
        else if (IsHolding && Interlocked.Exchange(ref _inBatch, 1) == 0)
            batch.Add(this);
        return flush;
    }

    /// <summary>The batch that held this scheduler's send is sending it: a later flush may join another batch.</summary>
    internal void LeaveBatch() => Volatile.Write(ref _inBatch, 0);

    /// <summary>Runs a held send now, on this thread.</summary>
    public void SendHeld()
    {
        if (Volatile.Read(ref _held) == 0 || Interlocked.Exchange(ref _held, 0) == 0)
            return;
        var action = _heldAction!;
        var state = _heldState;
        _heldAction = null;
        _heldState = null;
        action(state);
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
    }
}
