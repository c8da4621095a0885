using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Pounce.Connections;

namespace Pounce.Http1;

/// <summary>Running one request through the application and writing its response.</summary>
internal sealed partial class Http1Connection
{
    // A response the server cut short: the transport stopped taking bytes (write timeout, abort, shutdown) before it
    // was all sent, or the application failed after it started. Bytes the transport had accepted when it started.
    private bool _outputLost;
    private bool _responseCut;
    private long _transportBytesAtStart;

    /// <summary>Runs the application for the parsed request; false when the connection must close.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> RunRequestAsync()
    {
        _sequence++;
        var info = RequestInfo;
        info.Method = Method;
        info.Path = Path;
        info.Version = _version;
        info.UserAgent = UserAgentText(); // StartTimestamp: set when the head was parsed (ReadRequestHeadAsync)
        _outputLost = false;
        _responseCut = false;
        _transportBytesAtStart = _connection.Transport.BytesSent;
        if (_config.MaxRequestsPerConnection > 0 && _sequence >= _config.MaxRequestsPerConnection)
            SetClose(ConnectionEnd.MaxRequestsReached);

        Volatile.Write(ref _requestInFlight, true);
        if (_connection.Transport.PeerClose != Transport.PeerClose.None)
            SignalRequestAborted();
        var application = _server.Application;
        _logSlot.Enter(Connection, info);
        var appError = CreateApplicationContext(application, out var context);
        _server.Emitter.RequestStarted(Connection, info);

        try
        {
            if (appError is not null)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(appError);
            _applicationYielded = false;
            _ownResponseDeferred = false;
            var running = application.ProcessRequestAsync(context);
            if (!running.IsCompleted)
            {
                // The application waits for something: a response it already finished must not wait with it.
                // (Safe to flush here: once its declared body is complete the application no longer touches the
                // output; see DeferFlushUntilResponseEnd.)
                _applicationYielded = true;
                _connection.OutputScheduler.SendHeld(); // only the send loop runs: safe while the application writes
                if (_ownResponseDeferred)
                    await FlushOutputAsync(default);
            }
            await running;
        }
        catch (Exception ex)
        {
            appError = ex;
        }

        if (_upgraded)
            return await FinishUpgradedAsync(context, appError);

        var handedOver = await CompleteResponseAsync(appError);
        info.EndTimestamp = Stopwatch.GetTimestamp();
        if (handedOver && (_responseCut || (_outputLost && !_completeResponseSent)))
            NoteResponseCut(info);
        Volatile.Write(ref _requestInFlight, false);

        // One ending per request: completed when the last byte was handed over before the peer left.
        Connection.TotalBytesSent += info.BytesSent;
        if (handedOver)
        {
            Connection.RequestsServed++;
            _server.Emitter.ResponseCompleted(Connection, info);
        }
        else
        {
            var peer = _connection.Transport.PeerClose;
            Connection.ReportEnd(peer == Transport.PeerClose.Fin ? ConnectionEnd.ClientClosedInFlight : ConnectionEnd.PeerReset);
            _server.Emitter.ClientDisconnected(Connection, info);
        }

        await FireOnCompletedAsync();
        try
        {
            application.DisposeContext(context, appError);
        }
        catch (Exception ex)
        {
            ReportApplicationError(ex, "Disposing the request context failed");
        }

        if (!handedOver || Connection.End != ConnectionEnd.None)
            return false;
        if (!_keepAlive)
        {
            Connection.ReportEnd(_closeFact == ConnectionEnd.None ? ConnectionEnd.AppRequestedClose : _closeFact);
            return false;
        }
        if (!_bodyComplete && !await DrainBodyAsync())
            return false;
        if (_connection.ShutdownRequested)
        {
            Connection.ReportEnd(ConnectionEnd.ShutdownDrained);
            return false;
        }
        return true;
    }

    /// <summary>
    /// A response the server gave up on: says why (<c>aborted</c>), and counts only the bytes the transport accepted
    /// since the request started (at most what the application wrote; the head's bytes are in that count, so it is
    /// an upper bound by a head's size).
    /// </summary>
    private void NoteResponseCut(RequestInfo info)
    {
        info.Aborted = ConnectionEnds.AbortCause(Connection.End);
        var accepted = Math.Max(0, _connection.Transport.BytesSent - _transportBytesAtStart);
        if (info.BytesSent > accepted)
            info.BytesSent = accepted;
    }

    private void SetClose(ConnectionEnd fact)
    {
        _keepAlive = false;
        if (_closeFact == ConnectionEnd.None)
            _closeFact = fact;
    }

    /// <summary>
    /// Finishes the response after the application returned (or threw): the body's end, an error answer when
    /// nothing was sent yet, or an abort when a started response cannot be finished. Returns whether the last
    /// byte was handed to the transport while the client was still there.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> CompleteResponseAsync(Exception? appError)
    {
        if (appError is null && !_responseEnded)
        {
            try
            {
                await FinishResponseBodyAsync();
            }
            catch (Exception ex)
            {
                appError = ex;
            }
        }

        if (appError is not null)
        {
            // A complete response held back for one send goes out now: the failure came after it was finished.
            if (_ownResponseDeferred && HasStarted && ResponseBodyDone && !PeerGone)
                await FlushOutputAsync(default);
            if (_completeResponseSent)
            {
                // The whole response was already delivered; the failure came after it.
                if (appError is not OperationCanceledException || !RequestAborted)
                    ReportApplicationError(appError, "Unhandled exception after the response was sent");
                _responseEnded = true;
                return true;
            }
            if (PeerGone)
                return false;
            if (appError is BadHttpRequestException bad)
            {
                _server.Logger.LogDebug(bad, "Bad request body on connection {connection_id}", Connection.ConnectionId);
                SetClose(_bodyError != ConnectionEnd.None ? _bodyError : ConnectionEnd.BadChunk);
                Connection.ReportEnd(_closeFact);
            }
            else if (appError is not OperationCanceledException || !RequestAborted)
            {
                ReportApplicationError(appError, "Unhandled exception while processing the request");
            }

            if (HasStarted)
            {
                // A started response cannot be turned into an error answer: the connection is aborted, and the
                // request still counts as answered (by the server) unless the client had already left.
                _responseCut = !_completeResponseSent;
                _connection.OutputScheduler.SendHeld(); // what the application flushed still goes out
                _connection.Abort(ConnectionEnd.AppError);
                return !PeerGone;
            }
            var status = appError is BadHttpRequestException b ? b.StatusCode : StatusCodes.Status500InternalServerError;
            ResetResponseForError(status);
            try
            {
                await FinishResponseBodyAsync();
            }
            catch (Exception ex)
            {
                ReportApplicationError(ex, "Writing the error response failed");
                _connection.Abort(ConnectionEnd.InternalError);
                return false;
            }
        }

        if (!_responseEnded)
        {
            try
            {
                WriteResponseEnd();
            }
            catch (InvalidOperationException ex)
            {
                // An invalid response trailer: the started response cannot be ended, so the connection is aborted.
                ReportApplicationError(ex, "Unhandled exception while processing the request");
                _responseCut = true;
                _connection.OutputScheduler.SendHeld(); // what the application flushed still goes out
                _connection.Abort(ConnectionEnd.AppError);
                return !PeerGone;
            }
            // A client that read the whole response and hung up at once has not disconnected early.
            if (PeerGone && !_completeResponseSent)
                return false;
            // Pipelined requests already waiting: let their responses go out together with this one. Whatever is
            // held back is sent before the connection next waits (for input, or for an application that does not
            // complete at once).
            if (_keepAlive && _output.UnflushedBytes < 64 * 1024 && HasBufferedInput())
                _outputPending = true;
            else
                await FlushOutputAsync(default);
        }
        return !PeerGone || _responseEnded;
    }

    private bool PeerGone => _connection.Transport.PeerClose is Transport.PeerClose.Fin or Transport.PeerClose.Reset;

    protected override async ValueTask CompleteResponseByApplicationAsync()
    {
        if (_responseEnded)
            return;
        await FinishResponseBodyAsync();
        WriteResponseEnd();
        if (!(_ownResponseDeferred && !_chunkedResponse))
            await FlushOutputAsync(default);
    }

    private void WriteResponseEnd()
    {
        if (_chunkedResponse)
        {
            // Before anything is marked or written: an invalid trailer must not leave a half-ended response.
            foreach (var trailer in ResponseTrailers)
                ValidateHeader(trailer.Key, trailer.Value);
        }
        _responseEnded = true;
        if (!_chunkedResponse)
            return;
        var w = new HeadWriter(_output);
        w.Write("0\r\n"u8);
        foreach (var trailer in ResponseTrailers)
        {
            foreach (var value in trailer.Value)
                w.WriteHeader(trailer.Key, value ?? "");
        }
        w.Write("\r\n"u8);
        w.Commit();
    }

    protected override async ValueTask FlushOutputAsync(CancellationToken cancellationToken)
    {
        _outputPending = false;
        var complete = HasStarted && (_responseEnded || ResponseBodyDone);
        // An unfinished response flushed by an application that has not waited for anything yet holds its send until
        // the response's end (or the application's first wait), so head, body and end go out in one send.
        // A finished response on a connection that goes on as HTTP/1.1 waits for the end of the poller's batch of
        // events, if it runs on one (see SendBatch); a switched protocol's first bytes go at once.
        var scheduler = _connection.OutputScheduler;
        var result = complete && !_upgraded
            ? await scheduler.FlushAtBatchEndAsync(_output, cancellationToken)
            : complete || _applicationYielded
                ? await scheduler.FlushAsync(_output, cancellationToken)
                : await scheduler.FlushHeldAsync(_output, cancellationToken);
        if (result.IsCompleted)
        {
            _outputLost = true;
            SignalRequestAborted();
        }
        else if (complete)
            _completeResponseSent = true;
    }

    /// <summary>Whether every body byte of the started response has been written (nothing but a chunked end may follow).</summary>
    private bool ResponseBodyDone =>
        !_chunkedResponse && (_isHead || !BodyAllowed(StatusCode) || (DeclaredResponseLength is { } declared && BodyBytesWritten >= declared));

    /// <summary>
    /// A response whose declared body is complete may wait for its end to be sent, as long as the application has
    /// not yielded yet: if it yields later, <see cref="RunRequestAsync"/> sends at that moment.
    /// </summary>
    protected override bool DeferFlushUntilResponseEnd()
    {
        if (_ownResponseDeferred)
            return true;
        if (_applicationYielded)
            return false;
        _ownResponseDeferred = true;
        _outputPending = true;
        return true;
    }

    /// <summary>Sends responses held back while pipelined requests were being answered.</summary>
    private ValueTask FlushPendingAsync() => _outputPending ? FlushOutputAsync(default) : default;

    /// <summary>Whether request bytes are already buffered (a pipelined request), without consuming them.</summary>
    private bool HasBufferedInput()
    {
        // A bodiless request followed by more bytes in the same read (pipelining): they are still buffered, since
        // nothing has read the input since the head. Saves two pipe lock round trips per pipelined request.
        if (_bytesAfterHead && _bodyKind == BodyKind.None)
            return true;
        if (!_input.TryRead(out var result))
            return false;
        var buffered = !result.Buffer.IsEmpty && !result.IsCanceled;
        _input.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
        return buffered;
    }

    // =====================================================================================
    // Response head
    // =====================================================================================

    protected override void WriteResponseHead(long? autoContentLength)
    {
        var headers = ResponseHeaders;
        var status = StatusCode;
        var bodyAllowed = BodyAllowed(status);
        var mayCarryLength = status >= 200 && status != 204;
        long? writeLength = null;
        var writeChunked = false;

        // The headers that shape the head, found in one pass (the one that validated them): no lookup here.
        var facts = ResponseHead;
        var declared = facts.ContentLength;
        var hasTransferEncoding = facts.HasTransferEncoding;
        var te = facts.TransferEncoding;
        var appConnection = facts.HasConnection;
        var connectionValue = facts.Connection;
        var hasDate = facts.HasDate;
        var hasServer = facts.HasServer;
        var omitContentLength = false;
        if (!bodyAllowed)
        {
            DeclaredResponseLength = null;
            // 205 is not bodiless by framing (RFC 9112 6.3): say so, or the client reads until close (RFC 9110 15.3.6).
            if (status == StatusCodes.Status205ResetContent && !declared.HasValue)
                writeLength = 0;
        }
        else if (hasTransferEncoding && (!declared.HasValue || _version == HttpVersionKind.Http11))
        {
            // Transfer-Encoding frames the body; a Content-Length beside it is not sent (RFC 9112 6.2).
            DeclaredResponseLength = null;
            omitContentLength = declared.HasValue;
            var last = te[te.Count - 1] ?? "";
            if (last.TrimEnd().EndsWith("chunked", StringComparison.OrdinalIgnoreCase) && _version == HttpVersionKind.Http11)
                _chunkedResponse = !_isHead; // a HEAD answer carries no body, not even the last chunk
            else if (!_isHead)
                SetClose(ConnectionEnd.CloseDelimitedResponse);
        }
        else if (declared.HasValue)
        {
            DeclaredResponseLength = declared;
        }
        else if (autoContentLength.HasValue && (!_isHead || autoContentLength.Value > 0))
        {
            writeLength = autoContentLength;
            DeclaredResponseLength = autoContentLength;
        }
        else if (_isHead)
        {
            // A HEAD answer without a known length says nothing about it.
        }
        else if (_version == HttpVersionKind.Http11)
        {
            _chunkedResponse = true;
            writeChunked = true;
        }
        else
        {
            SetClose(ConnectionEnd.CloseDelimitedResponse);
        }

        if (appConnection)
        {
            foreach (var v in connectionValue)
            {
                if (v is not null && v.Contains("close", StringComparison.OrdinalIgnoreCase))
                    SetClose(ConnectionEnd.AppRequestedClose);
            }
        }
        if (_connection.ShutdownRequested)
            SetClose(ConnectionEnd.ShutdownDrained);
        if (!_bodyComplete && _expectContinue && !_sentContinue)
            SetClose(ConnectionEnd.AppRequestedClose);

        var w = new HeadWriter(_output);
        w.WriteStatusLine(status, ReasonPhrase);
        foreach (var header in headers)
        {
            var name = header.Key;
            if ((!mayCarryLength || omitContentLength) && name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase))
                continue;
            // RFC 9112 6.1: no Transfer-Encoding to an HTTP/1.0 client (its body is delimited by length or close),
            // nor in a 1xx or 204 response; a 205 is framed by Content-Length: 0 instead (see above).
            if ((_version == HttpVersionKind.Http10 || !mayCarryLength || status == StatusCodes.Status205ResetContent) && name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase))
                continue;
            foreach (var value in header.Value)
                w.WriteHeader(name, value ?? "");
        }
        if (_config.DateHeader && !hasDate)
            w.Write(_server.Heartbeat.DateHeaderLine);
        if (_serverHeaderLine.Length != 0 && !hasServer)
            w.Write(_serverHeaderLine);
        if (writeLength.HasValue)
        {
            w.Write("Content-Length: "u8);
            w.WriteNumber(writeLength.Value);
            w.Write("\r\n"u8);
        }
        if (writeChunked)
            w.Write("Transfer-Encoding: chunked\r\n"u8);
        if (!appConnection)
        {
            if (!_keepAlive)
                w.Write("Connection: close\r\n"u8);
            else if (_version == HttpVersionKind.Http10)
                w.Write("Connection: keep-alive\r\n"u8);
        }
        w.Write("\r\n"u8);
        w.Commit();
    }

    protected override void WriteResponseBodyData(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
            return;
        if (_chunkedResponse)
        {
            var w = new HeadWriter(_output);
            w.WriteHex(data.Length);
            w.Write("\r\n"u8);
            w.Write(data);
            w.Write("\r\n"u8);
            w.Commit();
            return;
        }
        var span = _output.GetSpan(Math.Min(data.Length, 64 * 1024));
        while (!data.IsEmpty)
        {
            if (span.IsEmpty)
                span = _output.GetSpan(Math.Min(data.Length, 64 * 1024));
            var n = Math.Min(span.Length, data.Length);
            data[..n].CopyTo(span);
            _output.Advance(n);
            data = data[n..];
            span = default;
        }
    }
}
