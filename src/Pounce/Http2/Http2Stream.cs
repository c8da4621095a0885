using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Pounce.Connections;
using Pounce.Features;
using Pounce.Http1;
using Pounce.Logging;

namespace Pounce.Http2;

/// <summary>
/// One HTTP/2 request stream: the request's features (shared <see cref="RequestContext"/> plus
/// <see cref="IHttp2StreamIdFeature"/> and <see cref="IHttpResetFeature"/>), its request body fed by the
/// connection's read loop, and its response sent as HEADERS/DATA within the flow-control windows.
/// Window fields are guarded by the connection's lock.
/// </summary>
internal sealed partial class Http2Stream : RequestContext, IHttp2StreamIdFeature, IHttpResetFeature, IThreadPoolWorkItem
{
    private readonly Http2Connection _connection;
    private readonly ServerContext _server;
    private readonly Pipe _body;
    private bool _bodyUsed;
    private bool _bodyWriterDone;
    private bool _pipeUnused; // the request ended with its HEADERS: its body pipe was never touched (see CompleteBody)
    private bool _validTarget;
    private bool _isHead;

    // Response state (touched by the application's thread; the head and DATA are written under the output lock).
    private byte[] _pending = [];
    private Http2BufferPool.Block? _pendingBlock; // _pending's owner when it is a block of the connection's pool
    private int _pendingStart;
    private int _pendingEnd;
    private bool _headPending;
    private long? _headContentLength;
    private volatile bool _responseEnded;
    private int _flushState;
    private SemaphoreSlim? _flushGate;
    private volatile bool _endStreamSent;
    private TaskCompletionSource? _windowWaiter;
    private long _requestBodyRead;
    private long _bodyWaitDeadline;
    private volatile bool _bodyTimedOut;
    private int _reset;
    private ConnectionEnd _resetCause;
    private Task? _resetWrite;

    // Which ends of the stream are closed (END_STREAM received / sent), and whether it has left the connection.
    private const int RequestSideClosed = 1;
    private const int ResponseSideClosed = 2;
    private const int Finished = 4;
    private int _sides;

    // Holding the end of a response (see DeferFlushUntilResponseEnd): while the application runs synchronously, a
    // response whose declared body is complete is not sent yet, so that its last DATA frame can carry END_STREAM.
    private const int AppRunning = 0;    // nothing held
    private const int FlushHeld = 1;     // the application wrote its whole declared body; the runner must send it
    private const int AppYielded = 2;    // the application waits for something: it sends what it writes itself
    private const int RunnerFlushing = 3; // the runner took the held output: every flush goes through _flushGate

    /// <summary>A stream object for <paramref name="connection"/>; <see cref="Start"/> makes it a stream, again and again (the connection pools them).</summary>
    public Http2Stream(Http2Connection connection, ServerContext server)
        : base(connection.Info)
    {
        _connection = connection;
        _server = server;
        _body = new Pipe(connection.BodyPipeOptions);
    }

    /// <summary>
    /// Read loop: makes this object (new, or pooled after an earlier stream of the connection finished) the stream
    /// <paramref name="streamId"/>. Everything of the previous request is cleared; what is kept is allocation only
    /// (header collections, the body pipe, the hosting context).
    /// </summary>
    public void Start(int streamId, int sequence, int initialSendWindow, int initialReceiveWindow)
    {
        StreamId = streamId;
        SendWindow = new Http2FlowWindow(initialSendWindow);
        ReceiveWindow = new Http2FlowWindow(initialReceiveWindow);
        ReceiveCredit = default;
        UnreadBodyBytes = 0;
        RequestBodyReceived = 0;
        DeclaredRequestLength = null;
        ResetByPeer = false;
        ResetByClient = false;
        _validTarget = false;
        _isHead = false;
        if (_pendingBlock is null)
            ReleasePending(); // a grown buffer goes back; a block of the connection's pool stays with the stream object
        _pendingStart = _pendingEnd = 0;
        _headPending = false;
        _headContentLength = null;
        DeclaredResponseLength = null;
        _responseEnded = false;
        _endStreamSent = false;
        _windowWaiter = null;
        _requestBodyRead = 0;
        _bodyWaitDeadline = 0;
        _bodyTimedOut = false;
        _flushState = AppRunning;
        _flushGate = null;
        _sides = 0;
        ResetDataCounts();
        _resetCause = ConnectionEnd.None;
        _resetWrite = null;
        Volatile.Write(ref _reset, 0);
        if (_bodyUsed && !_pipeUnused)
        {
            // The previous request's application completed the reader when it finished; the writer is ours.
            if (!_bodyWriterDone)
                _body.Writer.Complete();
            _body.Reset();
        }
        _pipeUnused = false; // a pipe left untouched by a bodiless request is as good as reset
        _bodyUsed = true;
        _bodyWriterDone = false;
        ConnectProtocol = null;
        _tunnel = null;
        ResetFeatures(sequence, streamId);
        Protocol = "HTTP/2";
        RequestInfo.Version = HttpVersionKind.Http2;
        var features = (IFeatureCollection)this;
        features.Set<IHttp2StreamIdFeature>(this);
        features.Set<IHttpResetFeature>(this);
        features.Set<IHttpExtendedConnectFeature>(this);
    }

    /// <summary>The stream id.</summary>
    public int StreamId { get; private set; }

    int IHttp2StreamIdFeature.StreamId => StreamId;

    /// <summary>Thread pool: runs the application (queued by the connection's read loop, which must not wait for it).</summary>
    /// <remarks>It runs in an execution context captured once per stream object, in which the stream's log slot is
    /// current (log correlation: lines written by the request carry its ids), so no request allocates one.</remarks>
    void IThreadPoolWorkItem.Execute()
    {
        var context = _logContext ??= RequestLogContext.CaptureWith(_logSlot);
        if (context is null)
            _ = RunGuardedAsync();
        else
            ExecutionContext.Run(context, static s => _ = ((Http2Stream)s!).RunGuardedAsync(), this);
    }

    // The request in flight, for the log lines written on this stream's flow; the context that makes it current.
    private readonly RequestLogContext.Slot _logSlot = new();
    private ExecutionContext? _logContext;

    // ---- state shared with the connection (under its lock unless noted) ----

    /// <summary>Our send window for this stream (peer's grants minus DATA sent).</summary>
    public Http2FlowWindow SendWindow;

    /// <summary>What the client may still send on this stream.</summary>
    public Http2FlowWindow ReceiveWindow;

    /// <summary>Body bytes consumed by the application not yet returned to the client with WINDOW_UPDATE.</summary>
    public Http2WindowCredit ReceiveCredit;

    /// <summary>Body bytes received and not yet read by the application.</summary>
    public long UnreadBodyBytes { get; set; }

    /// <summary>END_STREAM received (set by the read loop).</summary>
    public bool RequestEnded => (Volatile.Read(ref _sides) & RequestSideClosed) != 0;

    /// <summary>END_STREAM sent and received: the stream is closed for the client, whatever the application still does.</summary>
    public bool ClosedToPeer => (Volatile.Read(ref _sides) & (RequestSideClosed | ResponseSideClosed)) == (RequestSideClosed | ResponseSideClosed);

    /// <summary>Read loop: END_STREAM arrived.</summary>
    public void MarkRequestEnded() => CloseSide(RequestSideClosed);

    /// <summary>
    /// The stream is leaving the connection; true when it had become closed for the client before (the connection then
    /// stops counting it as closed-but-running). Later side closes no longer report anything.
    /// </summary>
    public bool MarkFinished() => (Interlocked.Or(ref _sides, Finished) & (RequestSideClosed | ResponseSideClosed | Finished)) == (RequestSideClosed | ResponseSideClosed);

    private void CloseSide(int side)
    {
        var before = Interlocked.Or(ref _sides, side);
        if ((before & (side | Finished)) == 0 && (before | side) == (RequestSideClosed | ResponseSideClosed))
            _connection.OnStreamClosedToPeer();
    }

    /// <summary>Request body bytes received (read loop only).</summary>
    public long RequestBodyReceived { get; set; }

    /// <summary>The request's <c>content-length</c>, if any.</summary>
    public long? DeclaredRequestLength { get; set; }

    /// <summary>The stream was reset (by either side) or its connection is gone: nothing more is sent.</summary>
    public bool IsReset => Volatile.Read(ref _reset) != 0;

    /// <summary>Whether the client reset the stream (RST_STREAM) or the connection failed under it.</summary>
    public bool ResetByPeer { get; private set; }

    /// <summary>The client sent RST_STREAM for this stream (read loop only).</summary>
    public bool ResetByClient { get; set; }

    /// <summary>Under the output lock: the frame carrying END_STREAM was written.</summary>
    public void OnEndStreamWritten()
    {
        _endStreamSent = true;
        CloseSide(ResponseSideClosed);
    }

    /// <summary>Whether END_STREAM was sent.</summary>
    public bool EndStreamSent => _endStreamSent;

    /// <summary>The request header collection, for the HPACK handler.</summary>
    public HeaderDictionary Headers => RequestHeaders;

    /// <summary>The request trailer collection, for the HPACK handler.</summary>
    public HeaderDictionary TrailerHeaders => RequestTrailerHeaders;

    /// <summary>Whether <c>:path</c> is origin-form, or <c>*</c> on OPTIONS (RFC 9113 8.3.1).</summary>
    public bool HasValidTarget => _validTarget && (RawTarget != "*" || ReferenceEquals(Method, HttpMethods.Options));

    protected override long DefaultMaxRequestBodySize => _server.Config.MaxRequestBodySize;

    protected override bool ResponseBodySuppressed => _isHead;

    // =====================================================================================
    // Running the application
    // =====================================================================================

    private async Task RunGuardedAsync()
    {
        try
        {
            // Done with this request once it returns (it left the connection's table and went back to the pool): the
            // object may already serve the next stream.
            await RunAsync();
        }
        catch (Exception ex)
        {
            _server.Logger.LogDebug(ex, "HTTP/2 stream {stream_id} failed", StreamId);
        }
        finally
        {
            // Last: the stream may already be serving another request of the connection by now.
            _connection.OnStreamDone();
        }
    }

    private async Task RunAsync()
    {
        var info = RequestInfo;
        info.StartTimestamp = Stopwatch.GetTimestamp();
        var application = _server.Application;
        _logSlot.Enter(Connection, info);
        var appError = CreateApplicationContext(application, out var context);
        _server.Emitter.RequestStarted(Connection, info);
        try
        {
            if (appError is not null)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(appError);
            var running = application.ProcessRequestAsync(context);
            if (!running.IsCompleted)
                await OnApplicationYieldedAsync();
            await running;
        }
        catch (Exception ex)
        {
            appError = ex;
        }

        var handedOver = _tunnel is null ? await CompleteResponseAsync(appError) : await CompleteTunnelAsync(appError);
        if (_tunnel is null && !_endStreamSent)
            handedOver = await SettleCutResponseAsync();
        info.EndTimestamp = Stopwatch.GetTimestamp();
        _connection.OnStreamEnding(this, handedOver);

        await FireOnCompletedAsync();
        try
        {
            application.DisposeContext(context, appError);
        }
        catch (Exception ex)
        {
            ReportApplicationError(ex, "Disposing the request context failed");
        }
        _logSlot.Exit();
        DiscardBufferedBody();
        if (!_pipeUnused)
            _body.Reader.Complete();
        await _connection.OnStreamFinishedAsync(this, handedOver);
    }

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
            if (_endStreamSent)
            {
                if (appError is not OperationCanceledException || !RequestAborted)
                    ReportApplicationError(appError, "Unhandled exception after the response was sent");
                return !ResetByPeer;
            }
            if (ResetByPeer)
                return false;
            if (appError is BadHttpRequestException bad)
                _server.Logger.LogDebug(bad, "Bad request body on connection {connection_id} stream {stream_id}", Connection.ConnectionId, StreamId);
            else if (appError is not OperationCanceledException || !RequestAborted)
                ReportApplicationError(appError, "Unhandled exception while processing the request");
            if (HasStarted || IsReset)
            {
                // A started response cannot become an error answer: the stream is reset.
                await _connection.ResetStreamAsync(this, Http2ErrorCode.InternalError, ConnectionEnd.AppError);
                return !ResetByPeer;
            }
            ResetResponseForError(appError is BadHttpRequestException b ? b.StatusCode : StatusCodes.Status500InternalServerError);
            try
            {
                await FinishResponseBodyAsync();
            }
            catch (Exception ex)
            {
                ReportApplicationError(ex, "Writing the error response failed");
                await _connection.ResetStreamAsync(this, Http2ErrorCode.InternalError, ConnectionEnd.AppError);
                return false;
            }
        }
        // Whatever is still held or pending goes out now, with END_STREAM on its last frame.
        _responseEnded = true;
        await FlushOutputAsync(default);
        // Answered when END_STREAM went out, or when the application itself reset the stream (as an HTTP/1.1
        // application abort counts); not when the client reset it or the connection went away.
        return (_endStreamSent || IsReset) && !ResetByPeer;
    }

    /// <summary>
    /// The response did not end (no END_STREAM went out): <c>bytes_sent</c> becomes what the transport accepted of it,
    /// and the request's ending says who cut it. True (a <c>ResponseCompleted</c> with <c>aborted</c>) when the server
    /// did: the application reset or aborted the stream, the server reset it (a malformed request frame), or the
    /// connection ended for a server's reason (timeout, error, shutdown). False (<c>ClientDisconnected</c>) when the
    /// client reset the stream or went away.
    /// </summary>
    private async ValueTask<bool> SettleCutResponseAsync()
    {
        if (_resetWrite is { } write)
            await write; // our RST_STREAM: the DATA written before it is flushed with it
        var info = RequestInfo;
        var accepted = AcceptedData(_connection.OutputFlushes);
        if (info.BytesSent > accepted)
            info.BytesSent = accepted;
        var cause = _resetCause;
        if (cause == ConnectionEnd.None && !ResetByClient)
            cause = _connection.ServerCutFact(this);
        if (cause == ConnectionEnd.None)
            return false;
        info.Aborted = ConnectionEnds.AbortCause(cause);
        return true;
    }

    protected override async ValueTask CompleteResponseByApplicationAsync()
    {
        if (_responseEnded)
            return;
        var gate = await EnterOutputAsync();
        try
        {
            await FinishResponseBodyAsync();
            _responseEnded = true;
            await FlushCoreAsync(default);
        }
        finally
        {
            gate?.Release();
        }
    }

    /// <summary>
    /// RequestContext hook, on the application's thread: its declared body is complete. While it has not yielded, the
    /// output is held (the runner sends it, with END_STREAM on the last DATA frame, when the application returns, or
    /// without when it waits for something first); afterwards the application sends it itself.
    /// </summary>
    protected override bool DeferFlushUntilResponseEnd()
    {
        var state = Volatile.Read(ref _flushState);
        return state == FlushHeld || (state == AppRunning && Interlocked.CompareExchange(ref _flushState, FlushHeld, AppRunning) == AppRunning);
    }

    /// <summary>
    /// Runner: the application returned a task that is not complete, so it waits for something: output it had
    /// finished and that is held must not wait with it. Its continuation may already run on another thread; from here
    /// on the flushes of both go through a gate.
    /// </summary>
    private async ValueTask OnApplicationYieldedAsync()
    {
        while (true)
        {
            var state = Volatile.Read(ref _flushState);
            if (state == AppRunning)
            {
                if (Interlocked.CompareExchange(ref _flushState, AppYielded, AppRunning) == AppRunning)
                    return;
                continue;
            }
            if (state != FlushHeld)
                return;
            var gate = new SemaphoreSlim(0, 1); // taken: released once the held output is sent
            Volatile.Write(ref _flushGate, gate);
            if (Interlocked.CompareExchange(ref _flushState, RunnerFlushing, FlushHeld) != FlushHeld)
                continue; // the application took its output back (CompleteAsync) and sends it itself
            try
            {
                await FlushCoreAsync(default);
            }
            finally
            {
                gate.Release();
            }
            return;
        }
    }

    /// <summary>Application thread, before sending on its own: takes held output back, or waits for the runner's flush.</summary>
    private async ValueTask<SemaphoreSlim?> EnterOutputAsync()
    {
        while (true)
        {
            var state = Volatile.Read(ref _flushState);
            if (state == FlushHeld)
            {
                if (Interlocked.CompareExchange(ref _flushState, AppRunning, FlushHeld) == FlushHeld)
                    return null;
                continue;
            }
            if (state != RunnerFlushing)
                return null;
            var gate = Volatile.Read(ref _flushGate)!;
            await gate.WaitAsync();
            return gate;
        }
    }

    protected override void AbortByApplication()
    {
        var write = _connection.ResetStreamAsync(this, Http2ErrorCode.InternalError, ConnectionEnd.AppAbort).AsTask();
        _resetWrite ??= write;
        SignalRequestAborted();
    }

    void IHttpResetFeature.Reset(int errorCode)
    {
        if (errorCode < 0)
            throw new ArgumentOutOfRangeException(nameof(errorCode), "An HTTP/2 error code is not negative.");
        var write = _connection.ResetStreamAsync(this, (Http2ErrorCode)errorCode, ConnectionEnd.AppAbort).AsTask();
        _resetWrite ??= write;
        SignalRequestAborted();
    }

    protected override void ReportApplicationError(Exception exception, string what)
    {
        _server.Logger.LogError(exception, "{what} (connection {connection_id}, request {request_id}, stream {stream_id}, {method} {path})",
            what, Connection.ConnectionId, RequestInfo.RequestId, StreamId, RequestInfo.Method, RequestInfo.Path);
    }

    /// <summary>
    /// Marks the stream reset and wakes whatever waits on it. <paramref name="byPeer"/>: the client reset it or the
    /// connection failed (its response can no longer be delivered). <paramref name="cause"/>: why the server reset it
    /// (the response's <c>aborted</c>), when it did and was first.
    /// </summary>
    public void MarkReset(bool byPeer, ConnectionEnd cause = ConnectionEnd.None)
    {
        // A response whose END_STREAM was already written is complete: the client going away afterwards (even
        // before the stream's task finished its bookkeeping) does not undo it.
        if (byPeer && !_endStreamSent)
            ResetByPeer = true;
        if (Interlocked.Exchange(ref _reset, 1) != 0)
            return;
        _resetCause = cause;
        _body.Reader.CancelPendingRead();
        // Callers hold the connection lock: RequestAborted's callbacks (application code, which may reset or write)
        // run on the thread pool, never under it (the output lock is taken before the connection lock, not after).
        ThreadPool.UnsafeQueueUserWorkItem(static stream => stream.SignalRequestAborted(), this, preferLocal: false);
    }

    /// <summary>Read loop only (or the connection's end): no more body will come.</summary>
    public void FailBody(Exception error)
    {
        _pipeUnused = false;
        _bodyWriterDone = true;
        _body.Writer.Complete(error);
    }
}
