using System.Buffers;
using System.IO.Pipelines;

namespace Pounce.Http2;

/// <summary>
/// The output side of one connection: one lock (an async <see cref="SemaphoreSlim"/>, held across the pipe's flush so
/// the socket's backpressure reaches the writers) under which streams write HEADERS/CONTINUATION/DATA in wire order
/// (HPACK state is shared), the read loop's queue of control frames (SETTINGS ACK, PING ACK, RST_STREAM, WINDOW_UPDATE)
/// written when it is about to wait for input, and the flush schedule: small writes of several streams are coalesced
/// into one send by a flush queued to the thread pool; past <see cref="FlushInlineThreshold"/> unflushed bytes a writer
/// flushes itself. Once <see cref="IsClosed"/>, nothing more is sent.
/// </summary>
internal sealed class Http2Output
{
    /// <summary>Unflushed bytes past which a writer flushes (and waits for the socket) itself.</summary>
    public const int FlushInlineThreshold = 32 * 1024;

    private readonly PipeWriter _output;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly ArrayBufferWriter<byte> _control = new(256);
    private volatile bool _closed;
    private volatile int _peerMaxFrameSize = Http2FrameReader.DefaultMaxFrameSize;
    private bool _flushScheduled;
    private bool _done;
    private long _flushes;

    /// <summary>Output to <paramref name="output"/>; <paramref name="serverHeader"/> and <paramref name="dateSource"/> for the response encoder.</summary>
    public Http2Output(PipeWriter output, string serverHeader, Transport.Heartbeat? dateSource)
    {
        _output = output;
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
    /// Any thread: how many flushes of the output have succeeded. Every byte written before a flush that succeeded was
    /// handed to the transport (writes and flushes happen under the lock), so a stream's DATA written when the count was
    /// <c>n</c> is sent once it is past <c>n</c> (see <see cref="Http2Stream.AcceptedData"/>).
    /// </summary>
    public long Flushes => Volatile.Read(ref _flushes);

    /// <summary>Under the lock: flushes the output and counts a flush the transport took.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> FlushOutputAsync()
    {
        var result = await _output.FlushAsync();
        if (!result.IsCompleted && !result.IsCanceled)
            Volatile.Write(ref _flushes, _flushes + 1);
        return result;
    }

    /// <summary>Read loop: sends the queued control frames.</summary>
    public async ValueTask FlushControlAsync()
    {
        if (_control.WrittenCount == 0)
            return;
        await _lock.WaitAsync();
        try
        {
            if (_done)
                return;
            _output.Write(_control.WrittenSpan);
            _control.ResetWrittenCount();
            await FlushOutputAsync();
        }
        catch (Exception)
        {
            _closed = true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Any thread: writes frames under the lock (after the read loop's queued ones) and sends them.</summary>
    public ValueTask WriteFrameAsync(Action<IBufferWriter<byte>> write) =>
        WriteFrameAsync(write, static (output, w) => w(output));

    /// <summary>As above, with the frames' values passed as state (no closure allocated per call on the hot paths).</summary>
    public async ValueTask WriteFrameAsync<TState>(TState state, Action<IBufferWriter<byte>, TState> write)
    {
        await _lock.WaitAsync();
        try
        {
            if (_done)
                return;
            write(_output, state);
            await FlushOutputAsync();
        }
        catch (Exception)
        {
            _closed = true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Writes the stream's pending head, <paramref name="dataLength"/> bytes of its body (window already taken) and,
    /// when <paramref name="end"/>, its trailers or END_STREAM, each on the last frame that can carry it; then sends,
    /// or leaves the send to a coalesced flush. False when nothing more can be sent.
    /// </summary>
    public async ValueTask<bool> WriteResponseAsync(Http2Stream stream, int dataLength, bool end)
    {
        await _lock.WaitAsync();
        try
        {
            if (_closed || stream.IsReset)
                return false;
            WriteResponseFrames(stream, dataLength, end);
            if (end)
                stream.OnEndStreamWritten(); // before any flush: a client that read it may close at once
            if (_output.UnflushedBytes < FlushInlineThreshold)
            {
                // Coalesce: the responses of other streams written before the flush runs go out in the same send.
                ScheduleFlush();
                return true;
            }
            var result = await FlushOutputAsync();
            return !result.IsCompleted && !result.IsCanceled;
        }
        catch (Exception)
        {
            // The transport failed under the write (or the head could not be encoded): the connection is done.
            _closed = true;
            return false;
        }
        finally
        {
            _lock.Release();
        }
    }

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
            stream.OnDataFramed(dataLength, _flushes);
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

    /// <summary>Under the lock: makes sure a flush runs soon (once for everything written until then).</summary>
    private void ScheduleFlush()
    {
        if (_flushScheduled)
            return;
        _flushScheduled = true;
        ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.RunScheduledFlushAsync(), this, preferLocal: false);
    }

    private async Task RunScheduledFlushAsync()
    {
        await _lock.WaitAsync();
        try
        {
            _flushScheduled = false;
            if (!_done && _output.UnflushedBytes > 0)
                await FlushOutputAsync();
        }
        catch (Exception)
        {
            _closed = true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// The connection's end: the last words (queued control frames, a coalesced flush still pending) go out, and from
    /// then on nothing is written (the output is the connection's to complete).
    /// </summary>
    public async ValueTask FinishAsync()
    {
        await _lock.WaitAsync();
        try
        {
            _done = true;
            if (_control.WrittenCount > 0)
            {
                _output.Write(_control.WrittenSpan);
                _control.ResetWrittenCount();
            }
            if (_output.UnflushedBytes > 0)
                await FlushOutputAsync();
        }
        catch (Exception)
        {
            // The transport is gone.
        }
        finally
        {
            _lock.Release();
        }
    }
}
