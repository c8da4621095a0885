using System.Buffers;

namespace Pounce.Http2;

/// <summary>The connection's side of its streams: starting them, what they call while they run, and their end.</summary>
internal sealed partial class Http2Connection
{
    /// <summary>
    /// Registers an open stream (the first one ends the connection's idle wait) and runs the app on it: at once, or,
    /// when <paramref name="afterInput"/> (the read loop, for a request with a body), once the input in hand is
    /// processed (<see cref="RunStartedStreams"/>), so that a request's DATA that came with its HEADERS is in its body
    /// pipe before the application reads it: the application then need not wait (and its response may be held and sent
    /// in one write with the end of the stream). A request without a body starts at once: with many HEADERS in one read,
    /// the first applications run while the read loop decodes the rest.
    /// </summary>
    private void StartStream(int id, Http2Stream stream, bool afterInput = false)
    {
        lock (_sync)
        {
            if (_table.Add(id, stream))
            {
                _connection.LeaveIdle();
                _connection.ClearIdleDeadline();
            }
        }
        Interlocked.Increment(ref _runningStreams);
        if (afterInput)
            _startedStreams.Add(stream);
        else
            ThreadPool.UnsafeQueueUserWorkItem(stream, preferLocal: false);
    }

    /// <summary>Read loop: runs the applications of the streams started in the input processed so far (always, also when it failed).</summary>
    private void RunStartedStreams()
    {
        var started = _startedStreams;
        for (var i = 0; i < started.Count; i++)
            ThreadPool.UnsafeQueueUserWorkItem(started[i], preferLocal: false);
        started.Clear();
    }

    /// <summary>
    /// Under the lock, as the stream leaves the table: a finished stream object goes back to the connection's pool (see
    /// <see cref="Http2StreamTable{TStream}.Return"/>) to serve a later stream: its request state, header collections,
    /// body pipe and hosting context are reused instead of allocated. Streams reset or cut off by the connection's end,
    /// and extended CONNECT tunnels (the application may still hold the tunnel stream), are not pooled.
    /// </summary>
    private void ReturnStreamLocked(Http2Stream stream)
    {
        if (IsClosed || stream.IsReset || stream.HasTunnel)
            return;
        _table.Return(stream, Environment.TickCount64);
    }

    /// <summary>A stream's work item is over (application, response, bookkeeping): the last thing it does.</summary>
    public void OnStreamDone()
    {
        if (Interlocked.Decrement(ref _runningStreams) == 0)
            Volatile.Read(ref _streamsDone)?.TrySetResult();
    }

    private int StreamCount
    {
        get
        {
            lock (_sync)
                return _table.Count;
        }
    }

    private bool IsAtConcurrencyLimit
    {
        get
        {
            lock (_sync)
                return _table.IsAtConcurrencyLimit;
        }
    }

    /// <summary>Any thread: the stream just became closed for the client while its application still runs.</summary>
    public void OnStreamClosedToPeer() => _table.OnClosedToPeer();

    /// <summary>Any thread: resets a stream of ours (application abort, failed response); <paramref name="cause"/> is the response's <c>aborted</c>.</summary>
    public async ValueTask ResetStreamAsync(Http2Stream stream, Http2ErrorCode code, Connections.ConnectionEnd cause)
    {
        if (stream.IsReset || stream.EndStreamSent)
            return;
        lock (_sync)
        {
            _table.RememberEnd(stream.StreamId, Http2StreamEnd.ResetByUs);
            stream.MarkReset(byPeer: false, cause);
            stream.WakeWindowWaiter();
        }
        await _writer.WriteFrameAsync((stream.StreamId, code), static (output, s) => Http2FrameWriter.WriteRstStream(output, s.StreamId, s.code));
    }

    /// <summary>Successful flushes of the output so far (see <see cref="Http2Stream.AcceptedData"/>).</summary>
    public long OutputFlushes => _writer.Flushes;

    /// <summary>
    /// Why the server cut <paramref name="stream"/>'s response, when the connection's end did it: the connection is
    /// closed (or the stream reset under it) and its end is the server's decision (timeout, error, shutdown); None when
    /// the client went away (or no end is known yet).
    /// </summary>
    public Connections.ConnectionEnd ServerCutFact(Http2Stream stream)
    {
        if (!IsClosed && !stream.IsReset)
            return Connections.ConnectionEnd.None;
        var end = Info.End;
        return Connections.ConnectionEnds.Describe(end).Reason is Connections.CloseReason.Timeout or Connections.CloseReason.Error
            or Connections.CloseReason.Shutdown or Connections.CloseReason.Backpressure
            ? end
            : Connections.ConnectionEnd.None;
    }

    /// <summary>Any thread: a stream sat at a zero window past <c>ResponseWriteTimeout</c>.</summary>
    public void OnFlowControlStall(Http2Stream stream) => FailFromOutside(Connections.ConnectionEnd.FlowControlStall, Http2ErrorCode.EnhanceYourCalm);

    /// <summary>The stream's response is done (or lost): counts it and reports the request's end.</summary>
    /// <remarks>The connection's counters (<c>requests_served</c>, <c>total_bytes_sent</c>) are added when the stream
    /// leaves the table (<see cref="OnStreamFinishedAsync"/>), under the lock taken there anyway: only
    /// <c>ConnectionCompleted</c> reports them, after every stream finished.</remarks>
    public void OnStreamEnding(Http2Stream stream, bool handedOver)
    {
        var info = stream.RequestInfo;
        if (handedOver)
            _server.Emitter.ResponseCompleted(Info, info);
        else
            _server.Emitter.ClientDisconnected(Info, info);
    }

    /// <summary>
    /// The stream's application finished: the stream closes and its unread body returns to the window. A response
    /// complete before its request (RFC 9113 8.1) gets RST_STREAM(NO_ERROR) to stop the rest of the body; while the read
    /// loop is busy with frames already received, it writes that reset after them (so they are still checked against
    /// the open stream's rules), otherwise the stream writes it now. The response is counted on the connection
    /// (<paramref name="handedOver"/>: answered, see <see cref="OnStreamEnding"/>) and the stream object goes back to
    /// the pool, all under one lock: from then on the object may serve another stream.
    /// </summary>
    public async ValueTask OnStreamFinishedAsync(Http2Stream stream, bool handedOver)
    {
        var id = stream.StreamId;
        var resetNow = false;
        long credit;
        bool last;
        var closedToPeer = stream.MarkFinished();
        lock (_sync)
        {
            // Both counts change together, under the lock the concurrency check takes: a stream must never be
            // registered but no longer discounted as closed, or a client at its limit gets REFUSED_STREAM.
            _table.Remove(id);
            if (closedToPeer)
                _table.OnClosedToPeerFinished();
            credit = stream.UnreadBodyBytes;
            stream.UnreadBodyBytes = 0;
            if (!stream.RequestEnded && !stream.IsReset && !IsClosed)
            {
                _table.RememberEarlyResponse(id, stream.DeclaredRequestLength, stream.RequestBodyReceived, stream.SendWindow);
                resetNow = Volatile.Read(ref _readLoopBusy) == 0;
            }
            else
            {
                _table.RememberEnd(id, stream.ResetByClient ? Http2StreamEnd.ResetByClient : Http2StreamEnd.Closed);
            }
            last = _table.Count == 0;
            Info.TotalBytesSent += stream.RequestInfo.BytesSent;
            if (handedOver)
                Info.RequestsServed++;
            ReturnStreamLocked(stream);
        }
        var increment = credit > 0 ? TakeConnectionCredit(credit) : 0;
        if ((resetNow || increment > 0) && !IsClosed)
        {
            await _writer.WriteFrameAsync((this, increment), static (output, s) =>
            {
                lock (s.Item1._sync)
                    s.Item1.TakeEarlyResetsLocked(output);
                if (s.increment > 0)
                    Http2FrameWriter.WriteWindowUpdate(output, 0, s.increment);
            });
        }
        if (last)
        {
            if (_draining || _goAwayReceived || IsClosed || _connection.ShutdownRequested)
                _input.CancelPendingRead();
            else
                EnterIdleIfNoStreams();
        }
    }

    /// <summary>Under the lock: RST_STREAM(NO_ERROR) for each early response still waiting for it (null: drop them).</summary>
    private void TakeEarlyResetsLocked(IBufferWriter<byte>? output)
    {
        if (!_table.HasEarlyResets)
            return;
        _table.TakeEarlyResets(output, static (o, id) =>
        {
            if (o is not null)
                Http2FrameWriter.WriteRstStream(o, id, Http2ErrorCode.NoError);
        });
    }

    /// <summary>Application thread: <paramref name="count"/> body bytes were read; maybe send WINDOW_UPDATE.</summary>
    public ValueTask OnBodyConsumedAsync(Http2Stream stream, int count)
    {
        var streamIncrement = 0;
        int connectionIncrement;
        lock (_sync)
        {
            stream.UnreadBodyBytes -= count;
            if (!stream.RequestEnded && !stream.IsReset)
                streamIncrement = stream.ReceiveCredit.Release(count, _config.Http2InitialWindowSize / 2, ref stream.ReceiveWindow);
            connectionIncrement = _receiveCredit.Release(count, _connectionReceiveTarget / 2, ref _receiveWindow);
        }
        if ((streamIncrement == 0 && connectionIncrement == 0) || IsClosed)
            return default;
        return _writer.WriteFrameAsync((stream.StreamId, connectionIncrement, streamIncrement), static (output, s) =>
        {
            if (s.connectionIncrement > 0)
                Http2FrameWriter.WriteWindowUpdate(output, 0, s.connectionIncrement);
            if (s.streamIncrement > 0)
                Http2FrameWriter.WriteWindowUpdate(output, s.StreamId, s.streamIncrement);
        });
    }

    /// <summary>Read loop: padding returns to both windows at once.</summary>
    private void ReturnToWindows(Http2Stream stream, int count)
    {
        lock (_sync)
        {
            stream.ReceiveWindow.Grant(count);
            var increment = _receiveCredit.Release(count, _connectionReceiveTarget / 2, ref _receiveWindow);
            if (increment > 0)
                Http2FrameWriter.WriteWindowUpdate(_control, 0, increment);
        }
        if (!stream.RequestEnded)
            Http2FrameWriter.WriteWindowUpdate(_control, stream.StreamId, count);
    }

    /// <summary>Read loop: DATA that no stream will read returns to the connection window.</summary>
    private void CreditConnection(int count)
    {
        var increment = TakeConnectionCredit(count);
        if (increment > 0)
            Http2FrameWriter.WriteWindowUpdate(_control, 0, increment);
    }

    private int TakeConnectionCredit(long count)
    {
        lock (_sync)
            return _receiveCredit.Release(count, _connectionReceiveTarget / 2, ref _receiveWindow);
    }

    /// <summary>Takes up to <paramref name="wanted"/> bytes of send window for the stream (0 when none is open).</summary>
    public int ReserveSendWindow(Http2Stream stream, int wanted)
    {
        lock (_sync)
            return Http2FlowWindow.Take(ref stream.SendWindow, ref _sendWindow, wanted);
    }

    /// <summary>The task a writer waits on for more window; null when there is window now (or no point waiting).</summary>
    public Task? GetWindowWaiter(Http2Stream stream)
    {
        lock (_sync)
        {
            if (stream.IsReset || IsClosed || (stream.SendWindow.IsOpen && _sendWindow.IsOpen))
                return null;
            stream.ArmWindowWaiter();
            return stream.WindowWaiter!.Task;
        }
    }

    /// <summary>
    /// Writes the stream's pending head, <paramref name="dataLength"/> bytes of its body (window already taken) and,
    /// when <paramref name="end"/>, its trailers or END_STREAM; then sends. False when nothing more can be sent.
    /// </summary>
    public ValueTask<bool> WriteResponseAsync(Http2Stream stream, int dataLength, bool end) =>
        _writer.WriteResponseAsync(stream, dataLength, end);
}
