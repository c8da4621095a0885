namespace Pounce.Http2;

/// <summary>
/// Who flushes a connection's output, and when: one flusher at a time (a pipe allows writing while a flush is
/// pending, but not two flushes at once). A writer that finds a flush in progress only marks "flush again" and goes
/// on, so every stream that became ready during one flush goes out in the next, one send for the batch. Each flush
/// commits everything written before it (a numbered commit); <see cref="Flushed"/> is the last commit the transport
/// took, which tells a writer whether its bytes were sent. Writers that must wait (for backpressure, or for their bytes
/// to be sent) wait for the end of the flush in progress (<see cref="WaitForFlushEnd"/>; the task is allocated only
/// then).
/// </summary>
/// <remarks>Not thread-safe: every member but <see cref="Flushed"/> is used under the output's lock.</remarks>
internal sealed class Http2FlushSchedule
{
    private bool _flushing;
    private bool _again;
    private bool _stalled;
    private long _commits;
    private long _flushed;
    private TaskCompletionSource? _flushEnd;

    /// <summary>A flusher holds the output's flush (from <see cref="Request"/> returning true until <see cref="EndFlush"/> returns false).</summary>
    public bool IsFlushing => _flushing;

    /// <summary>The flush in progress waits for the transport (backpressure): writers should wait for its end.</summary>
    public bool IsStalled => _stalled;

    /// <summary>Flushes started so far: bytes written now are committed by flush number <c>Commits + 1</c>.</summary>
    public long Commits => _commits;

    /// <summary>Any thread: the number of the last flush the transport took (each flush takes everything before it).</summary>
    public long Flushed => Volatile.Read(ref _flushed);

    /// <summary>
    /// A writer has written and wants it sent: true when it becomes the flusher (nobody flushes now: it must run
    /// <see cref="BeginFlush"/> / <see cref="EndFlush"/>), false when the flush in progress will go again for it.
    /// </summary>
    public bool Request()
    {
        if (_flushing)
        {
            _again = true;
            return false;
        }
        _flushing = true;
        _again = false;
        return true;
    }

    /// <summary>The flusher is about to flush (commit) everything written so far: the number of this flush.</summary>
    public long BeginFlush()
    {
        if (!_flushing)
            throw new InvalidOperationException("Only the flusher flushes.");
        _again = false;
        return ++_commits;
    }

    /// <summary>The flusher's flush did not complete at once: it waits for the transport.</summary>
    public void MarkStalled() => _stalled = true;

    /// <summary>
    /// The flush <paramref name="commit"/> ended (<paramref name="succeeded"/>: the transport took it). True when the
    /// flusher must flush again (more was written meanwhile); false when it is no longer the flusher.
    /// <paramref name="wake"/> is to be completed outside the lock: the writers waiting for this flush's end.
    /// </summary>
    public bool EndFlush(long commit, bool succeeded, out TaskCompletionSource? wake)
    {
        if (!_flushing || commit != _commits)
            throw new InvalidOperationException("Only the flusher ends its flush.");
        if (succeeded)
            Volatile.Write(ref _flushed, commit);
        _stalled = false;
        wake = _flushEnd;
        _flushEnd = null;
        if (_again)
            return true;
        _flushing = false;
        _again = false;
        return false;
    }

    /// <summary>A task that completes when the flush in progress ends (call only while <see cref="IsFlushing"/>).</summary>
    public Task WaitForFlushEnd()
    {
        if (!_flushing)
            throw new InvalidOperationException("No flush is in progress.");
        return (_flushEnd ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
    }
}
