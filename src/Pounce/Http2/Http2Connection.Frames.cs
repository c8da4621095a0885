using Pounce.Connections;

namespace Pounce.Http2;

/// <summary>Frame dispatch: what each frame type does to the connection and its streams (read loop only).</summary>
internal sealed partial class Http2Connection
{
    private void ProcessFrame(in Http2Frame frame)
    {
        if (_headerBlockStreamId != 0 && (frame.Type != Http2FrameType.Continuation || frame.StreamId != _headerBlockStreamId))
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "Expected a CONTINUATION frame of the same stream.");
        if (!_settingsReceived && frame.Type != Http2FrameType.Settings)
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "The first frame must be SETTINGS.");
        try
        {
            switch (frame.Type)
            {
                case Http2FrameType.Data:
                    OnData(frame);
                    break;
                case Http2FrameType.Headers:
                    OnHeaders(frame);
                    break;
                case Http2FrameType.Priority:
                    OnPriority(frame);
                    break;
                case Http2FrameType.RstStream:
                    OnRstStream(frame);
                    break;
                case Http2FrameType.Settings:
                    OnSettings(frame);
                    break;
                case Http2FrameType.PushPromise:
                    Http2PushPromiseFrame.Parse(frame);
                    break;
                case Http2FrameType.Ping:
                    OnPing(frame);
                    break;
                case Http2FrameType.GoAway:
                    OnGoAway(frame);
                    break;
                case Http2FrameType.WindowUpdate:
                    OnWindowUpdate(frame);
                    break;
                case Http2FrameType.Continuation:
                    OnContinuation(frame);
                    break;
                default:
                    // Unknown frame types are ignored (RFC 9113 4.1, 5.5).
                    break;
            }
        }
        catch (Http2ProtocolException ex) when (!ex.IsConnectionError)
        {
            ResetStreamFromReadLoop(ex.StreamId, ex.ErrorCode);
        }
    }

    private Http2Stream? FindStream(int streamId)
    {
        lock (_sync)
            return _table.Find(streamId);
    }

    private Http2StreamEnd EndOf(int streamId)
    {
        lock (_sync)
            return _table.EndOf(streamId);
    }

    private void RememberEnd(int streamId, Http2StreamEnd end)
    {
        lock (_sync)
            _table.RememberEnd(streamId, end);
    }

    private bool IsIdle(int streamId) => streamId > _lastClientStreamId;

    private void OnData(in Http2Frame frame)
    {
        var data = Http2DataFrame.Parse(frame);
        var id = data.StreamId;
        var length = data.FlowControlledLength;
        if (id % 2 == 0 || IsIdle(id))
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "DATA on an idle stream.");
        Http2Stream? stream;
        lock (_sync)
        {
            if (!_receiveWindow.TryConsume(length))
                throw Http2ProtocolException.Connection(Http2ErrorCode.FlowControlError, "DATA beyond the connection window.");
            stream = _table.Find(id);
        }
        if (stream is null || stream.IsReset)
        {
            CreditConnection(length);
            var end = stream is null ? OnLateData(id, data) : stream.ResetByClient ? Http2StreamEnd.ResetByClient : Http2StreamEnd.ResetByUs;
            if (end == Http2StreamEnd.ResetByClient)
                throw Http2ProtocolException.Stream(id, Http2ErrorCode.StreamClosed, "DATA after RST_STREAM.");
            if (end is Http2StreamEnd.ResetByUs or Http2StreamEnd.ResponseComplete)
                return; // frames in flight after our RST_STREAM are ignored
            throw Http2ProtocolException.Connection(Http2ErrorCode.StreamClosed, "DATA on a closed stream.");
        }
        if (stream.RequestEnded)
        {
            CreditConnection(length);
            if (stream.ClosedToPeer)
            {
                // END_STREAM both ways: closed, even if the application is still finishing (RFC 9113 5.1).
                throw Http2ProtocolException.Connection(Http2ErrorCode.StreamClosed, "DATA on a closed stream.");
            }
            throw Http2ProtocolException.Stream(id, Http2ErrorCode.StreamClosed, "DATA after END_STREAM.");
        }
        var closedMeanwhile = false;
        lock (_sync)
        {
            if (!_table.IsOpen(id, stream))
            {
                // The application finished (and the stream closed) since the lookup.
                closedMeanwhile = true;
            }
            else
            {
                if (!stream.ReceiveWindow.TryConsume(length))
                {
                    _receiveCredit.Defer(length);
                    throw Http2ProtocolException.Stream(id, Http2ErrorCode.FlowControlError, "DATA beyond the stream window.");
                }
                stream.UnreadBodyBytes += data.Data.Length;
                stream.RequestBodyReceived += data.Data.Length;
            }
        }
        if (closedMeanwhile)
        {
            // Its ending is remembered now: check the DATA as a late one.
            CreditConnection(length);
            OnLateData(id, data);
            return;
        }
        if (data.Data.Length == 0 && !data.EndStream)
            _flood.OnEmptyData();
        var padding = length - (int)data.Data.Length;
        if (padding > 0)
            ReturnToWindows(stream, padding);
        if (stream.DeclaredRequestLength is { } declared && stream.RequestBodyReceived > declared)
            throw Http2ProtocolException.Stream(id, Http2ErrorCode.ProtocolError, "More DATA than content-length.");
        stream.AppendBody(data.Data);
        if (data.EndStream)
            EndRequest(stream);
    }

    /// <summary>
    /// DATA on a stream no longer open: how it ended. After a response that ended before its request, the DATA is still
    /// checked against the request's <c>content-length</c> (a stream PROTOCOL_ERROR whoever answered first, RFC 9113
    /// 8.1.1); while our RST_STREAM(NO_ERROR) is not written, its END_STREAM closes the stream instead.
    /// </summary>
    private Http2StreamEnd OnLateData(int id, in Http2DataFrame data)
    {
        Http2StreamEnd end;
        var malformed = false;
        lock (_sync)
        {
            ref var entry = ref _table.EndedEntry(id);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref entry))
                return Http2StreamEnd.None;
            end = entry.End;
            if (end is not (Http2StreamEnd.ResponseComplete or Http2StreamEnd.ResetByUs))
                return end;
            if (entry.DeclaredLength is { } declared)
            {
                entry.Received += data.Data.Length;
                malformed = entry.Received > declared || (data.EndStream && entry.Received != declared);
            }
            if (malformed)
            {
                entry.DeclaredLength = null; // answered once
                entry.End = Http2StreamEnd.ResetByUs;
            }
            else if (data.EndStream && end == Http2StreamEnd.ResponseComplete)
            {
                entry.End = Http2StreamEnd.Closed; // ended both ways before our reset: nothing to reset
                return Http2StreamEnd.ResetByUs; // and this frame is consumed
            }
        }
        if (malformed)
        {
            _flood.OnReset();
            Http2FrameWriter.WriteRstStream(_control, id, Http2ErrorCode.ProtocolError);
            return Http2StreamEnd.ResetByUs;
        }
        return end;
    }

    private void EndRequest(Http2Stream stream)
    {
        if (stream.DeclaredRequestLength is { } declared && stream.RequestBodyReceived != declared)
            throw Http2ProtocolException.Stream(stream.StreamId, Http2ErrorCode.ProtocolError, "DATA length differs from content-length.");
        stream.MarkRequestEnded();
        stream.CompleteBody();
    }

    private void OnHeaders(in Http2Frame frame)
    {
        var headers = Http2HeadersFrame.Parse(frame);
        var id = headers.StreamId;
        if (id % 2 == 0)
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "HEADERS on an even stream id.");
        Http2Stream? target = null;
        var kind = HeaderBlockKind.Discard;
        var streamError = Http2ErrorCode.NoError;
        if (!IsIdle(id))
        {
            var existing = FindStream(id);
            if (existing is null)
            {
                switch (EndOf(id))
                {
                    case Http2StreamEnd.ResetByClient:
                        streamError = Http2ErrorCode.StreamClosed;
                        break;
                    case Http2StreamEnd.ResetByUs or Http2StreamEnd.ResponseComplete:
                        // Ignored, but decoded to keep HPACK in step; without END_STREAM it is malformed whatever the
                        // state (a second HEADERS can only be trailers, which end the stream). Trailers still end the
                        // request: its content-length is checked (see OnLateTrailers).
                        if (!headers.EndStream)
                            streamError = Http2ErrorCode.ProtocolError;
                        else
                            kind = HeaderBlockKind.LateTrailers;
                        break;
                    case Http2StreamEnd.Closed:
                        throw Http2ProtocolException.Connection(Http2ErrorCode.StreamClosed, "HEADERS on a closed stream.");
                    default:
                        throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "HEADERS with a stream id lower than an earlier one.");
                }
            }
            else if (existing.ResetByClient)
            {
                streamError = Http2ErrorCode.StreamClosed;
            }
            else if (existing.IsReset)
            {
                // Reset by us: ignored, but decoded to keep HPACK in step.
                if (!headers.EndStream)
                    streamError = Http2ErrorCode.ProtocolError;
            }
            else if (existing.RequestEnded)
            {
                if (existing.ClosedToPeer)
                    throw Http2ProtocolException.Connection(Http2ErrorCode.StreamClosed, "HEADERS on a closed stream.");
                streamError = Http2ErrorCode.StreamClosed;
            }
            else if (!headers.EndStream)
            {
                streamError = Http2ErrorCode.ProtocolError; // trailers must end the stream
            }
            else
            {
                target = existing;
                kind = HeaderBlockKind.Trailers;
            }
        }
        else
        {
            _lastClientStreamId = id;
            if (headers.StreamError is not null)
            {
                streamError = headers.StreamError.ErrorCode;
            }
            else if (_draining || _goAwayReceived)
            {
                // After GOAWAY new streams are ignored, and so is what follows on them (DATA still counts for the
                // connection window).
                RememberEnd(id, Http2StreamEnd.ResetByUs);
            }
            else
            {
                bool refused;
                lock (_sync)
                {
                    refused = _table.IsAtConcurrencyLimit;
                    if (!refused)
                        target = _table.Rent();
                }
                if (refused)
                {
                    streamError = Http2ErrorCode.RefusedStream;
                }
                else
                {
                    // Outside the lock: the object is no other thread's until StartStream publishes it (a pooled one
                    // left the table before it was pooled), and the windows' initial sizes change on this loop only.
                    target ??= new Http2Stream(this, _server);
                    target.Start(id, ++_sequence, _peerInitialWindow, _receiveInitialWindow);
                    kind = HeaderBlockKind.Request;
                }
            }
        }
        _headerBlockStream = target;
        _headerBlockKind = kind;
        _headerBlockEndStream = headers.EndStream;
        _headerBlockStreamError = streamError;
        _flood.OnHeaderBlockStart(headers.FieldBlockFragment.Length);
        _headerHandler.Begin(target, kind == HeaderBlockKind.Trailers);
        if (!headers.EndHeaders)
            _headerBlockStreamId = id;
        _decoder.Decode(headers.FieldBlockFragment, headers.EndHeaders, _headerHandler);
        if (headers.EndHeaders)
            EndHeaderBlock(id);
    }

    private void OnContinuation(in Http2Frame frame)
    {
        if (_headerBlockStreamId == 0)
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "CONTINUATION without a header block.");
        var continuation = Http2ContinuationFrame.Parse(frame);
        _flood.OnContinuation(continuation.FieldBlockFragment.Length);
        _decoder.Decode(continuation.FieldBlockFragment, continuation.EndHeaders, _headerHandler);
        if (continuation.EndHeaders)
        {
            var id = _headerBlockStreamId;
            _headerBlockStreamId = 0;
            EndHeaderBlock(id);
        }
    }

    private void EndHeaderBlock(int id)
    {
        _headerBlockStreamId = 0;
        var stream = _headerBlockStream;
        _headerBlockStream = null;
        if (_headerBlockStreamError != Http2ErrorCode.NoError)
        {
            ResetStreamFromReadLoop(id, _headerBlockStreamError);
            return;
        }
        if (_headerBlockKind == HeaderBlockKind.LateTrailers)
        {
            OnLateTrailers(id);
            return;
        }
        if (stream is null || _headerBlockKind == HeaderBlockKind.Discard)
            return;
        var wellFormed = _headerHandler.Complete();
        if (_headerBlockKind == HeaderBlockKind.Trailers)
        {
            if (!wellFormed)
            {
                ResetStreamFromReadLoop(id, Http2ErrorCode.ProtocolError);
                return;
            }
            EndRequest(stream);
            return;
        }
        if (!wellFormed || (_headerBlockEndStream && stream.DeclaredRequestLength is > 0))
        {
            ResetStreamFromReadLoop(id, Http2ErrorCode.ProtocolError);
            return;
        }
        stream.OnHeadComplete(_headerBlockEndStream);
        if (_headerBlockEndStream)
        {
            stream.MarkRequestEnded();
            stream.CompleteBody();
        }
        // A request with a body starts once the input in hand is processed (its DATA may be in it); one without starts now.
        StartStream(id, stream, afterInput: !_headerBlockEndStream);
        if (_config.MaxRequestsPerConnection > 0 && _sequence >= _config.MaxRequestsPerConnection && !_draining)
        {
            // Like HTTP/1.1's last request: GOAWAY with this stream as the last one, then drain.
            _draining = true;
            _drainFact = ConnectionEnd.MaxRequestsReached;
            if (Interlocked.Exchange(ref _goAwaySent, 1) == 0)
                Http2FrameWriter.WriteGoAway(_control, _lastClientStreamId, Http2ErrorCode.NoError);
        }
    }

    /// <summary>
    /// Trailers (END_STREAM) on a stream whose response ended first: the request's <c>content-length</c> is checked
    /// (stream PROTOCOL_ERROR when the DATA did not add up to it); before our RST_STREAM(NO_ERROR), the stream closes.
    /// </summary>
    private void OnLateTrailers(int id)
    {
        lock (_sync)
        {
            ref var entry = ref _table.EndedEntry(id);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref entry))
                return;
            if (entry.DeclaredLength is not { } declared || entry.Received == declared)
            {
                if (entry.End == Http2StreamEnd.ResponseComplete)
                    entry.End = Http2StreamEnd.Closed;
                return;
            }
            entry.DeclaredLength = null;
            entry.End = Http2StreamEnd.ResetByUs;
        }
        _flood.OnReset();
        Http2FrameWriter.WriteRstStream(_control, id, Http2ErrorCode.ProtocolError);
    }

    private void OnPriority(in Http2Frame frame)
    {
        var priority = Http2PriorityFrame.Parse(frame);
        if (priority.Priority.StreamDependency == priority.StreamId)
            throw Http2ProtocolException.Stream(priority.StreamId, Http2ErrorCode.ProtocolError, "PRIORITY makes the stream depend on itself.");
        // Otherwise ignored (RFC 9113 5.3.2: deprecated).
    }

    private void OnRstStream(in Http2Frame frame)
    {
        var reset = Http2RstStreamFrame.Parse(frame);
        var id = reset.StreamId;
        if (IsIdle(id))
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "RST_STREAM on an idle stream.");
        var stream = FindStream(id);
        var end = stream is null ? EndOf(id) : Http2StreamEnd.None;
        // Rapid reset (CVE-2023-44487): count the client's cancellations of streams it just opened, whether they
        // were running or refused; a reset of a stream whose response already ended costs nothing and is not counted.
        if (stream is not null || end == Http2StreamEnd.ResetByUs)
            _flood.OnReset();
        if (stream is null)
        {
            if (end is Http2StreamEnd.ResetByUs or Http2StreamEnd.ResponseComplete)
                RememberEnd(id, Http2StreamEnd.ResetByClient);
            return;
        }
        stream.ResetByClient = true;
        lock (_sync)
        {
            stream.MarkReset(byPeer: true);
            stream.WakeWindowWaiter();
        }
        stream.FailBody(new IOException("The client reset the request stream."));
    }

    private void OnPing(in Http2Frame frame)
    {
        var ping = Http2PingFrame.Parse(frame);
        if (ping.IsAck)
            return;
        _flood.OnPing();
        Http2FrameWriter.WritePing(_control, ping.OpaqueData, ack: true);
    }

    private void OnGoAway(in Http2Frame frame)
    {
        Http2GoAwayFrame.Parse(frame);
        _goAwayReceived = true;
        Info.ReportEnd(ConnectionEnd.GoAwayReceived);
    }

    private void OnWindowUpdate(in Http2Frame frame)
    {
        var update = Http2WindowUpdateFrame.Parse(frame);
        var id = update.StreamId;
        if (id == 0)
        {
            lock (_sync)
            {
                if (!_sendWindow.TryGrow(update.Increment))
                    throw Http2ProtocolException.Connection(Http2ErrorCode.FlowControlError, "WINDOW_UPDATE overflows the connection window.");
                foreach (var stream in _table.Streams)
                    stream.WakeWindowWaiter();
            }
            return;
        }
        if (IsIdle(id))
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "WINDOW_UPDATE on an idle stream.");
        lock (_sync)
        {
            var target = _table.Find(id);
            if (target is null)
            {
                // The response ended before the request and our RST_STREAM(NO_ERROR) is not written: for the client the
                // stream is open, and its window still counts (RFC 9113 6.9.1).
                ref var entry = ref _table.EndedEntry(id);
                if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref entry) || entry.End != Http2StreamEnd.ResponseComplete)
                    return;
                if (entry.SendWindow.TryGrow(update.Increment))
                    return;
            }
            else if (target.IsReset)
            {
                return;
            }
            else if (target.SendWindow.TryGrow(update.Increment))
            {
                target.WakeWindowWaiter();
                return;
            }
        }
        throw Http2ProtocolException.Stream(id, Http2ErrorCode.FlowControlError, "WINDOW_UPDATE overflows the stream window.");
    }

    private static ConnectionEnd FactFor(Http2ErrorCode code) => code switch
    {
        Http2ErrorCode.FrameSizeError => ConnectionEnd.Http2FrameSizeError,
        Http2ErrorCode.FlowControlError => ConnectionEnd.Http2FlowControlError,
        Http2ErrorCode.CompressionError => ConnectionEnd.Http2CompressionError,
        Http2ErrorCode.StreamClosed => ConnectionEnd.Http2StreamClosed,
        _ => ConnectionEnd.Http2ProtocolError,
    };

    /// <summary>Read loop: RST_STREAM for <paramref name="streamId"/> (queued with the control frames).</summary>
    private void ResetStreamFromReadLoop(int streamId, Http2ErrorCode code)
    {
        // Streams we have to reset (malformed, refused) count with the client's resets: a client opening
        // streams only to have them reset costs us as much (CVE-2019-9514).
        _flood.OnReset();
        RememberEnd(streamId, Http2StreamEnd.ResetByUs);
        Http2FrameWriter.WriteRstStream(_control, streamId, code);
        var stream = FindStream(streamId);
        if (stream is null)
            return;
        lock (_sync)
        {
            stream.MarkReset(byPeer: true, FactFor(code));
            stream.WakeWindowWaiter();
        }
        stream.FailBody(new IOException("The request stream was reset: " + code + "."));
    }
}
