using Microsoft.AspNetCore.Http;

namespace Pounce.Http2;

/// <summary>
/// The response side of a stream: the head and body the application writes are recorded here (synchronous hooks of
/// <see cref="Features.RequestContext"/>) and sent by <see cref="FlushCoreAsync"/> as the flow-control windows allow.
/// </summary>
internal sealed partial class Http2Stream
{
    // =====================================================================================
    // Response
    // =====================================================================================

    protected override void WriteResponseHead(long? autoContentLength)
    {
        var status = StatusCode;
        long? contentLength = null;
        if (!BodyAllowed(status))
        {
            DeclaredResponseLength = null;
        }
        else if (ResponseHeaders.ContentLength is { } declared)
        {
            DeclaredResponseLength = declared;
        }
        else if (autoContentLength.HasValue && (!_isHead || autoContentLength.Value > 0))
        {
            contentLength = autoContentLength;
            DeclaredResponseLength = autoContentLength;
        }
        _headContentLength = contentLength;
        _headPending = true;
        // "Started" for the lifecycle means the HEADERS went out; set when they are written.
        RequestInfo.ResponseStarted = false;
    }

    protected override void WriteResponseBodyData(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
            return;
        if (IsReset)
            return;
        var free = _pending.Length - _pendingEnd;
        if (free < data.Length)
        {
            var used = _pendingEnd - _pendingStart;
            if (_pendingStart > 0 && _pending.Length - used >= data.Length)
            {
                _pending.AsSpan(_pendingStart, used).CopyTo(_pending);
            }
            else if (_pending.Length == 0 && data.Length <= Http2BufferPool.BlockSize)
            {
                _pendingBlock = _connection.Buffers.RentBlock();
                _pending = _pendingBlock.Array;
            }
            else
            {
                var bigger = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(used + data.Length, Math.Max(Http2BufferPool.BlockSize, _pending.Length * 2)));
                _pending.AsSpan(_pendingStart, used).CopyTo(bigger);
                ReleasePending();
                _pending = bigger;
            }
            _pendingStart = 0;
            _pendingEnd = used;
        }
        data.CopyTo(_pending.AsSpan(_pendingEnd));
        _pendingEnd += data.Length;
    }

    /// <summary>Whether a head, body bytes or the end of the stream wait to be sent.</summary>
    private bool HasPendingOutput => _headPending || _pendingEnd > _pendingStart || (_responseEnded && !_endStreamSent);

    /// <summary>Pending response bytes up to which an application's flush is held while it runs synchronously.</summary>
    internal const int FlushHoldLimit = 16 * 1024;

    protected override ValueTask FlushOutputAsync(CancellationToken cancellationToken)
    {
        var state = Volatile.Read(ref _flushState);
        if (state == RunnerFlushing)
            return FlushGatedAsync(cancellationToken);
        if (state != AppYielded && HoldFlush())
            return default;
        return FlushCoreAsync(cancellationToken);
    }

    /// <summary>
    /// The application flushes a response without a declared length while it still runs synchronously (it has not
    /// waited for anything yet): a small response is held as a complete declared body is (see <see cref="DeferFlushUntilResponseEnd"/>), so that when the
    /// application returns, its head, body and END_STREAM go out in one write (HEADERS, DATA with END_STREAM) instead of
    /// HEADERS and DATA now and an empty DATA frame with END_STREAM later. When it waits for something instead, the
    /// runner sends the held output at once; a body read that must wait for the client sends it first (the client may
    /// wait for the response before it sends more), and past <see cref="FlushHoldLimit"/> pending bytes nothing is held.
    /// Not for the runner's own final flush (the response ended) nor for a tunnel.
    /// </summary>
    private bool HoldFlush() =>
        !_responseEnded && _tunnel is null && DeclaredResponseLength is null && _pendingEnd - _pendingStart <= FlushHoldLimit && DeferFlushUntilResponseEnd();

    /// <summary>
    /// Application thread, before a body read waits for the client: output held by <see cref="HoldFlush"/> is taken back
    /// and sent now (a synchronous read would otherwise block the runner that sends it).
    /// </summary>
    private ValueTask SendHeldOutputAsync() =>
        Volatile.Read(ref _flushState) == FlushHeld && Interlocked.CompareExchange(ref _flushState, AppRunning, FlushHeld) == FlushHeld
            ? FlushCoreAsync(default)
            : default;

    private async ValueTask FlushGatedAsync(CancellationToken cancellationToken)
    {
        var gate = Volatile.Read(ref _flushGate)!;
        await gate.WaitAsync(cancellationToken);
        try
        {
            await FlushCoreAsync(cancellationToken);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Sends the pending head and body (and END_STREAM once the response ended) as the windows allow.</summary>
    private async ValueTask FlushCoreAsync(CancellationToken cancellationToken)
    {
        while (HasPendingOutput)
        {
            if (IsReset || _connection.IsClosed)
            {
                DiscardPending();
                return;
            }
            var pending = _pendingEnd - _pendingStart;
            var allowed = pending == 0 ? 0 : _connection.ReserveSendWindow(this, pending);
            var end = _responseEnded && allowed == pending;
            if (_headPending || allowed > 0 || end)
            {
                if (!await _connection.WriteResponseAsync(this, allowed, end))
                {
                    DiscardPending();
                    return;
                }
            }
            if (allowed == pending)
                continue;
            if (!await WaitForWindowAsync(cancellationToken))
            {
                DiscardPending();
                return;
            }
        }
        ReturnPendingBuffer();
    }

    /// <summary>The head's <c>content-length</c> to add, when the server computed it.</summary>
    public long? HeadContentLength => _headContentLength;

    public bool HeadPending => _headPending;

    public void OnHeadWritten()
    {
        _headPending = false;
        RequestInfo.ResponseStarted = true;
    }

    public ReadOnlySpan<byte> PendingData(int count) => _pending.AsSpan(_pendingStart, count);

    // DATA payload bytes of this response written to the connection's output, and how many a flush has since handed to
    // the transport. Updated under the output lock by this stream's own writes; read when the stream ends.
    private Http2SentData _sentData;

    /// <summary>
    /// Under the output lock: <paramref name="count"/> body bytes are being framed as DATA, after
    /// <paramref name="commits"/> flushes of the output started, of which <paramref name="flushed"/> went out.
    /// </summary>
    public void OnDataFramed(int count, long commits, long flushed) => _sentData.OnWritten(count, commits, flushed);

    /// <summary>
    /// Body bytes of this response that the transport accepted: DATA written to the output and flushed since. Frames
    /// never written (cut off by a reset or the connection's end) and frames written but not flushed do not count.
    /// </summary>
    public long AcceptedData(long flushed) => _sentData.Accepted(flushed);

    private void ResetDataCounts() => _sentData.Reset();

    public void OnDataWritten(int count) => _pendingStart += count;

    public HeaderDictionary Trailers => ResponseTrailers;

    public HeaderDictionary ResponseHeaderFields => ResponseHeaders;

    public bool IsHeadRequest => _isHead;

    /// <summary>Under the connection lock: arms the waiter that a WINDOW_UPDATE or reset completes.</summary>
    public void ArmWindowWaiter() => _windowWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Under the connection lock: wakes a writer waiting for window.</summary>
    public void WakeWindowWaiter()
    {
        var waiter = _windowWaiter;
        _windowWaiter = null;
        waiter?.TrySetResult();
    }

    private async ValueTask<bool> WaitForWindowAsync(CancellationToken cancellationToken)
    {
        var waiter = _connection.GetWindowWaiter(this);
        if (waiter is null)
            return true;
        try
        {
            await waiter.WaitAsync(_server.Config.ResponseWriteTimeout, cancellationToken);
            return true;
        }
        catch (TimeoutException)
        {
            // Stuck at a zero window: the client does not read (or withholds WINDOW_UPDATE on purpose).
            _connection.OnFlowControlStall(this);
            return false;
        }
    }

    public TaskCompletionSource? WindowWaiter => _windowWaiter;

    private void DiscardPending()
    {
        _pendingStart = _pendingEnd = 0;
        _headPending = false;
        ReturnPendingBuffer();
    }

    private void ReturnPendingBuffer()
    {
        if (_pendingStart != _pendingEnd || _pending.Length == 0)
            return;
        if (_pendingBlock is not null)
            _pendingStart = _pendingEnd = 0; // the stream keeps its block for the next writes (and, pooled, the next stream)
        else
            ReleasePending();
    }

    /// <summary>Gives the response buffer back (to the connection's pool, or the shared one when it grew); empty from then on.</summary>
    private void ReleasePending()
    {
        if (_pendingBlock is { } block)
        {
            _pendingBlock = null;
            block.Dispose();
        }
        else if (_pending.Length > 0)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(_pending);
        }
        _pending = [];
        _pendingStart = _pendingEnd = 0;
    }
}
