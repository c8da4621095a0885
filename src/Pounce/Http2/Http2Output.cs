using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Pounce.Transport;

namespace Pounce.Http2;

/// <summary>
/// The output side of one connection. Streams write HEADERS/CONTINUATION/DATA in wire order (HPACK state is shared)
/// under a short synchronous lock that is never held across a flush; the read loop's queued control frames (SETTINGS
/// ACK, PING ACK, RST_STREAM, WINDOW_UPDATE) are written when it is about to wait for input. Flushing is serialised by
/// <see cref="Http2FlushSchedule"/>: one flusher at a time, and a writer that finds a flush in progress leaves its
/// bytes to it. Small responses are sent by a flush queued to the thread pool, so the responses of every stream that
/// runs before it go out in one send; past <see cref="FlushInlineThreshold"/> unflushed bytes a writer flushes itself
/// (or waits for the flush in progress), and while a flush waits for the transport (backpressure) writers wait too.
/// Once <see cref="IsClosed"/>, nothing more is sent.
/// </summary>
internal sealed class Http2Output : IThreadPoolWorkItem
{
    /// <summary>Unflushed bytes past which a writer flushes (and waits for the socket) itself.</summary>
    public const int FlushInlineThreshold = 32 * 1024;

    /// <summary>Flushes one flusher runs back to back before it hands the rest to the thread pool.</summary>
    private const int FlushesPerTurn = 4;

    private readonly PipeWriter _output;
    private readonly SendScheduler? _sendScheduler;
    private readonly Lock _lock = new();
    private readonly Http2FlushSchedule _schedule = new();
    private readonly ArrayBufferWriter<byte> _control = new(256);
    private volatile bool _closed;
    private volatile int _peerMaxFrameSize = Http2FrameReader.DefaultMaxFrameSize;
    private bool _done;

    /// <summary>Output to <paramref name="output"/>; <paramref name="serverHeader"/> and <paramref name="dateSource"/> for the response encoder.</summary>
    public Http2Output(PipeWriter output, string serverHeader, Heartbeat? dateSource)
        : this(output, null, serverHeader, dateSource)
    {
    }

    /// <summary>
    /// As above; <paramref name="sendScheduler"/> runs <paramref name="output"/>'s send loop: a flush then only commits
    /// under the lock and the send itself (the system call, TLS encryption) runs after the lock is released.
    /// </summary>
    public Http2Output(PipeWriter output, SendScheduler? sendScheduler, string serverHeader, Heartbeat? dateSource)
    {
        _output = output;
        _sendScheduler = sendScheduler;
        Encoder = new Http2ResponseEncoder(serverHeader, dateSource);
    }

    /// <summary>The HPACK encoding of response heads and trailers (used under the lock).</summary>
    public Http2ResponseEncoder Encoder { get; }

    /// <summary>The read loop's queue of control frames, written by <see cref="FlushControlAsync"/>. Read loop only.</summary>
    public ArrayBufferWriter<byte> Control => _control;

    /// <summary>The peer's SETTINGS_MAX_FRAME_SIZE: DATA and header-block fragments are split by it.</summary>
    public int PeerMaxFrameSize
    {
        get => _peerMaxFrameSize;
        set => _peerMaxFrameSize = value;
    }

    /// <summary>The connection is failing or gone (or the transport failed under a write): streams stop sending.</summary>
    public bool IsClosed => _closed;

    /// <summary>Any thread: nothing more goes out but what is already queued (the GOAWAY, the last words).</summary>
    public void MarkClosed() => _closed = true;

    /// <summary>
    /// Any thread: the number of the last flush the transport took. Every byte written before that flush started was
    /// handed to the transport, so a stream's DATA written when <see cref="Http2FlushSchedule.Commits"/> was <c>n</c>
    /// is sent once this is past <c>n</c> (see <see cref="Http2SentData"/>).
    /// </summary>
    public long Flushes => _schedule.Flushed;

    /// <summary>Read loop: sends the queued control frames (or leaves them to the flush in progress).</summary>
    public ValueTask FlushControlAsync()
    {
        if (_control.WrittenCount == 0)
            return default;
        bool flusher;
        Task? wait = null;
        lock (_lock)
        {
            if (_done)
                return default;
            try
            {
                _output.Write(_control.WrittenSpan);
            }
            catch (Exception)
            {
                _closed = true;
                return default;
            }
            _control.ResetWrittenCount();
            flusher = _schedule.Request();
            if (!flusher && MustWaitLocked())
                wait = _schedule.WaitForFlushEnd();
        }
        if (flusher)
            return IgnoreResult(RunFlushes());
        return wait is null ? default : new ValueTask(wait);
    }

    /// <summary>Any thread: writes frames (after the read loop's queued ones) and returns once they are sent.</summary>
    public ValueTask WriteFrameAsync(Action<IBufferWriter<byte>> write) =>
        WriteFrameAsync(write, static (output, w) => w(output));

    /// <summary>As above, with the frames' values passed as state (no closure allocated per call on the hot paths).</summary>
    public ValueTask WriteFrameAsync<TState>(TState state, Action<IBufferWriter<byte>, TState> write)
    {
        bool flusher;
        long commit;
        lock (_lock)
        {
            if (_done)
                return default;
            try
            {
                write(_output, state);
            }
            catch (Exception)
            {
                _closed = true;
                return default;
            }
            commit = _schedule.Commits + 1;
            flusher = _schedule.Request();
        }
        return flusher ? IgnoreResult(RunFlushes()) : WaitUntilFlushedAsync(commit);
    }

    /// <summary>
    /// Writes the stream's pending head, <paramref name="dataLength"/> bytes of its body (window already taken) and,
    /// when <paramref name="end"/>, its trailers or END_STREAM, each on the last frame that can carry it; then sends,
    /// or leaves the send to a coalesced flush. False when nothing more can be sent.
    /// </summary>
    public ValueTask<bool> WriteResponseAsync(Http2Stream stream, int dataLength, bool end)
    {
        bool flusher;
        bool inline;
        Task? wait = null;
        lock (_lock)
        {
            if (_closed || _done || stream.IsReset)
                return new ValueTask<bool>(false);
            try
            {
                WriteResponseFrames(stream, dataLength, end);
            }
            catch (Exception)
            {
                // The transport failed under the write (or the head could not be encoded): the connection is done.
                _closed = true;
                return new ValueTask<bool>(false);
            }
            if (end)
                stream.OnEndStreamWritten(); // before any flush: a client that read it may close at once
            var large = _output.UnflushedBytes >= FlushInlineThreshold;
            flusher = _schedule.Request();
            inline = flusher && large;
            if (!flusher && (large || _schedule.IsStalled))
                wait = _schedule.WaitForFlushEnd();
        }
        if (inline)
            return RunFlushes();
        if (flusher)
        {
            // Coalesce: the responses of other streams written before the flush runs go out in the same send.
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            return new ValueTask<bool>(true);
        }
        return wait is null ? new ValueTask<bool>(true) : WaitForFlushEndAsync(wait);
    }

    /// <summary>Under the lock: a writer that leaves its bytes to the flush in progress waits for it first.</summary>
    private bool MustWaitLocked() => _schedule.IsStalled || _output.UnflushedBytes >= FlushInlineThreshold;

    private void WriteResponseFrames(Http2Stream stream, int dataLength, bool end)
    {
        var output = _output;
        var maxFrame = _peerMaxFrameSize;
        var id = stream.StreamId;
        var trailers = end && stream.Trailers.Count > 0;
        var endSent = false;
        if (stream.HeadPending)
        {
            var endOnHeaders = end && dataLength == 0 && !trailers;
            var head = Encoder.EncodeHead(stream.StatusCode, stream.ResponseHeaderFields, stream.HeadContentLength);
            Http2FrameWriter.WriteHeaderBlock(output, id, head, endOnHeaders, maxFrame);
            stream.OnHeadWritten();
            endSent = endOnHeaders;
        }
        if (dataLength > 0)
            stream.OnDataFramed(dataLength, _schedule.Commits, _schedule.Flushed);
        var remaining = dataLength;
        while (remaining > 0)
        {
            var n = Math.Min(remaining, maxFrame);
            remaining -= n;
            var endHere = end && remaining == 0 && !trailers;
            Http2FrameWriter.WriteData(output, id, stream.PendingData(n), endHere);
            stream.OnDataWritten(n);
            endSent |= endHere;
        }
        if (end && !endSent)
        {
            if (trailers)
                Http2FrameWriter.WriteHeaderBlock(output, id, Encoder.EncodeTrailers(stream.Trailers), endStream: true, maxFrame);
            else
                Http2FrameWriter.WriteData(output, id, [], endStream: true);
        }
    }

    /// <summary>Thread pool: the queued flush (see <see cref="WriteResponseAsync"/>).</summary>
    void IThreadPoolWorkItem.Execute()
    {
        var flushes = RunFlushes();
        if (flushes.IsCompletedSuccessfully)
            _ = flushes.Result;
        else
            _ = flushes.AsTask(); // waits for the transport: the flush goes on by itself
    }

    /// <summary>
    /// The flusher's turn: flushes until nothing more was written meanwhile (or hands the rest to the thread pool after
    /// <see cref="FlushesPerTurn"/>). Completes synchronously unless the transport applies backpressure. True when the
    /// transport took every flush.
    /// </summary>
    private ValueTask<bool> RunFlushes()
    {
        var ok = true;
        for (var turn = 1; ; turn++)
        {
            var commit = StartFlush(out var flush);
            if (!flush.IsCompleted)
                return AwaitFlushAsync(commit, flush, turn, ok);
            ok &= Completed(flush);
            if (!EndFlush(commit, ok))
                return new ValueTask<bool>(ok);
            if (turn == FlushesPerTurn)
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                return new ValueTask<bool>(ok);
            }
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> AwaitFlushAsync(long commit, ValueTask<FlushResult> flush, int turn, bool ok)
    {
        lock (_lock)
            _schedule.MarkStalled();
        bool taken;
        try
        {
            taken = Taken(await flush);
        }
        catch (Exception)
        {
            _closed = true;
            taken = false;
        }
        ok &= taken;
        if (!EndFlush(commit, ok))
            return ok;
        if (turn >= FlushesPerTurn)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            return ok;
        }
        return await RunFlushes() && ok;
    }

    /// <summary>
    /// Commits everything written so far (under the lock); the send runs after the lock is released, always (also when
    /// the flush must wait for the transport), so no send loop, and nothing it wakes, ever runs under the output lock.
    /// </summary>
    private long StartFlush(out ValueTask<FlushResult> flush)
    {
        long commit;
        lock (_lock)
        {
            commit = _schedule.BeginFlush();
            try
            {
                flush = _sendScheduler is null ? _output.FlushAsync() : _sendScheduler.FlushHoldingSendAsync(_output, default);
            }
            catch (Exception)
            {
                _closed = true;
                flush = new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
            }
        }
        _sendScheduler?.SendHeld();
        return commit;
    }

    private bool Completed(ValueTask<FlushResult> flush)
    {
        try
        {
            return Taken(flush.Result);
        }
        catch (Exception)
        {
            _closed = true;
            return false;
        }
    }

    /// <summary>
    /// Whether the transport took a flush. A completed reader means the transport is gone (a failed send, the write
    /// timeout's abort): the output is closed, so that writers stop at once rather than write into a dead pipe.
    /// </summary>
    private bool Taken(FlushResult result)
    {
        if (result.IsCompleted)
            _closed = true;
        return !result.IsCompleted && !result.IsCanceled;
    }

    /// <summary>Ends a flush: true when the flusher must flush again. Wakes the writers that waited for it.</summary>
    private bool EndFlush(long commit, bool taken)
    {
        bool again;
        TaskCompletionSource? wake;
        lock (_lock)
            again = _schedule.EndFlush(commit, taken, out wake);
        wake?.TrySetResult();
        return again;
    }

    /// <summary>A writer that left its bytes to the flush in progress: returns once a flush took them (or none will).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WaitUntilFlushedAsync(long commit)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                if (_schedule.Flushed >= commit || !_schedule.IsFlushing)
                    return;
                wait = _schedule.WaitForFlushEnd();
            }
            await wait;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> WaitForFlushEndAsync(Task wait)
    {
        await wait;
        return !_closed;
    }

    private static ValueTask IgnoreResult(ValueTask<bool> flush)
    {
        if (flush.IsCompletedSuccessfully)
        {
            _ = flush.Result;
            return default;
        }
        return new ValueTask(flush.AsTask());
    }

    /// <summary>
    /// The connection's end: the last words (queued control frames, a coalesced flush still pending) go out, and from
    /// then on nothing is written (the output is the connection's to complete once this returns: no flush runs then).
    /// </summary>
    public async ValueTask FinishAsync()
    {
        while (true)
        {
            bool flusher;
            Task? wait = null;
            lock (_lock)
            {
                if (!_done)
                {
                    _done = true;
                    if (_control.WrittenCount > 0)
                    {
                        try
                        {
                            _output.Write(_control.WrittenSpan);
                        }
                        catch (Exception)
                        {
                            // The transport is gone.
                        }
                        _control.ResetWrittenCount();
                    }
                }
                if (!_schedule.IsFlushing && _output.UnflushedBytes == 0)
                    return;
                flusher = _schedule.Request();
                if (!flusher)
                    wait = _schedule.WaitForFlushEnd();
            }
            if (flusher)
            {
                // Our own turn, to the end: no hand-off to the thread pool after the output is given back.
                await FinishFlushesAsync();
                return;
            }
            await wait!;
        }
    }

    private async ValueTask FinishFlushesAsync()
    {
        var again = true;
        while (again)
        {
            var commit = StartFlush(out var flush);
            bool taken;
            try
            {
                var result = await flush;
                taken = !result.IsCompleted && !result.IsCanceled;
            }
            catch (Exception)
            {
                taken = false;
            }
            again = EndFlush(commit, taken);
        }
    }
}
