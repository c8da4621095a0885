namespace Pounce.WebSockets;

/// <summary>
/// The duplex stream an application gets when a request leaves HTTP: <c>IHttpUpgradeFeature.UpgradeAsync</c> on
/// HTTP/1.1 (the connection, <see cref="PipeUpgradedStream"/>) or <c>IHttpExtendedConnectFeature.AcceptAsync</c> on
/// HTTP/2 (one stream's DATA frames). Writes are sent at once. It notes what the lifecycle needs to know about the
/// end: bytes written, whether the peer went away under a read or write, and whether WebSocket Close frames went by
/// in both directions (the close handshake). On server shutdown it can send Close 1001 on the application's behalf.
/// </summary>
internal abstract class UpgradedStream : Stream
{
    private readonly bool _scanFrames;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private WebSocketFrameScanner _received;
    private WebSocketFrameScanner _sent;
    private long _bytesWritten;
    private volatile bool _peerEnded;
    private volatile bool _closedForShutdown;
    private volatile bool _closedByServer;
    private volatile bool _refusedFrame;
    private int _shutdownStarted;

    /// <summary>Close frame <c>1001 Going Away</c> (RFC 6455 7.4.1), unmasked as a server sends it.</summary>
    private static readonly byte[] GoingAwayFrame = CreateGoingAwayFrame();

    /// <summary>Close frame <c>1002 Protocol Error</c>, for a client frame without a mask (RFC 6455 5.1).</summary>
    private static readonly byte[] UnmaskedFrameClose = CreateCloseFrame(1002, "frame not masked"u8);

    /// <summary>Close frame <c>1007 Invalid frame payload data</c>, for a text message that is not UTF-8 (RFC 6455 8.1).</summary>
    private static readonly byte[] InvalidUtf8Close = CreateCloseFrame(1007, "invalid UTF-8"u8);

    private static byte[] CreateGoingAwayFrame() => CreateCloseFrame(1001, "server shutting down"u8);

    private static byte[] CreateCloseFrame(int code, ReadOnlySpan<byte> reason)
    {
        var frame = new byte[4 + reason.Length];
        frame[0] = 0x88;
        frame[1] = (byte)(2 + reason.Length);
        frame[2] = (byte)(code >> 8);
        frame[3] = (byte)code;
        reason.CopyTo(frame.AsSpan(4));
        return frame;
    }

    /// <param name="scanWebSocketFrames">The protocol is WebSocket: follow frame boundaries (Close frames, 1001 on shutdown).</param>
    protected UpgradedStream(bool scanWebSocketFrames) => _scanFrames = scanWebSocketFrames;

    /// <summary>Reads from the transport; 0 for a non-empty buffer means the peer ended its side. Throws when it is gone.</summary>
    protected abstract ValueTask<int> ReadTransportAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Writes and sends <paramref name="data"/>; false when the peer is gone. Called under the write gate.</summary>
    protected abstract ValueTask<bool> WriteTransportAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Bytes written after the upgrade (the application's, and a Close 1001 of the server's).</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>A read met the end of the input, or a read or write failed because the transport was gone.</summary>
    public bool PeerEnded => _peerEnded;

    /// <summary>The server sent Close 1001 because it is stopping; later application writes are discarded.</summary>
    public bool ClosedForShutdown => _closedForShutdown;

    /// <summary>Both sides sent a WebSocket Close frame: the close handshake happened.</summary>
    public bool CloseHandshakeDone => _scanFrames && _received.SawClose && _sent.SawClose;

    /// <summary>
    /// The client broke RFC 6455 and the WebSocket was failed for it: it sent an unmasked frame or invalid UTF-8 in a
    /// text message (refused here), or
    /// the server's framer sent Close 1002 (protocol error) or 1007 (invalid payload data, e.g. bad UTF-8). A lifecycle
    /// <c>error</c>, not a normal close, even when the client answered the Close.
    /// </summary>
    public bool PeerViolatedProtocol => _refusedFrame || (_scanFrames && _sent.CloseCode is 1002 or 1007);

    /// <summary>For a transport that learns of the peer's end outside <see cref="ReadTransportAsync"/>.</summary>
    protected void MarkPeerEnded() => _peerEnded = true;

    /// <summary>
    /// How long, after Close 1001 on shutdown, the application's loop gets to see the client's answering Close before
    /// its <c>RequestAborted</c> fires: half the <see cref="ServerConfig.ShutdownTimeout"/>, at most 5 s.
    /// </summary>
    public static TimeSpan ShutdownGrace(ServerConfig config)
        => TimeSpan.FromTicks(Math.Min(config.ShutdownTimeout.Ticks / 2, TimeSpan.TicksPerSecond * 5));

    /// <summary>
    /// Server shutdown, once: Close 1001 (see <see cref="TrySendGoingAwayAsync"/>), then <paramref name="abort"/>
    /// after <paramref name="grace"/> for an application loop that does not end by itself (a client that never
    /// answers the Close), or at once when the Close could not be sent. <paramref name="ended"/> stops the wait.
    /// </summary>
    public async Task CloseForShutdownAsync(TimeSpan grace, Action abort, CancellationToken ended)
    {
        if (Interlocked.Exchange(ref _shutdownStarted, 1) != 0)
            return;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        // An application write still finishing (its bytes may already be with the client) is waited for, within the
        // grace period: giving up at once would abort a WebSocket that was about to be closed cleanly.
        if (await TrySendGoingAwayAsync(grace, ended))
        {
            var left = grace - System.Diagnostics.Stopwatch.GetElapsedTime(started);
            try
            {
                if (left > TimeSpan.Zero)
                    await Task.Delay(left, ended);
            }
            catch (OperationCanceledException)
            {
                // The transport closed first.
            }
        }
        abort();
    }

    /// <summary>
    /// Sends Close 1001 on behalf of the application, when this is a WebSocket, no write of the application is in
    /// progress (one in progress is waited for up to <paramref name="waitForWriter"/>), the last frame sent is complete
    /// and no Close was sent yet. The application's WebSocket then sees the client's answering Close as usual; what it
    /// writes afterwards (its own Close) is discarded. False when the frame could not be sent.
    /// </summary>
    public ValueTask<bool> TrySendGoingAwayAsync(TimeSpan waitForWriter, CancellationToken ended)
        => TrySendCloseAsync(GoingAwayFrame, forShutdown: true, waitForWriter, ended);

    /// <summary>
    /// Sends a Close frame of the server's, when no write of the application is in progress, the last frame sent is
    /// complete and no Close was sent yet; later application writes are discarded.
    /// </summary>
    private async ValueTask<bool> TrySendCloseAsync(byte[] closeFrame, bool forShutdown, TimeSpan waitForWriter = default, CancellationToken ended = default)
    {
        if (!_scanFrames)
            return false;
        try
        {
            if (!(waitForWriter > TimeSpan.Zero ? await _writeGate.WaitAsync(waitForWriter, ended) : _writeGate.Wait(0)))
                return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        try
        {
            if (!_sent.AtFrameStart || _sent.SawClose || _peerEnded)
                return false;
            _sent.Scan(closeFrame);
            _closedByServer = true;
            _closedForShutdown = forShutdown;
            if (!await WriteTransportAsync(closeFrame, default))
                return false;
            Interlocked.Add(ref _bytesWritten, closeFrame.Length);
            return true;
        }
        catch (Exception)
        {
            return false;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_refusedFrame)
            return 0;
        int n;
        try
        {
            n = await ReadTransportAsync(buffer, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception ex)
        {
            _peerEnded = true;
            throw new IOException("The connection was closed.", ex);
        }
        if (n == 0)
        {
            if (!buffer.IsEmpty)
                _peerEnded = true; // the peer closed or reset, or the transport was torn down
            return 0;
        }
        if (_scanFrames)
        {
            _received.Scan(buffer.Span[..n], requireMasked: true, validateUtf8: true);
            if (_received.SawUnmasked)
                return await RefuseFrameAsync(UnmaskedFrameClose, _received.UnmaskedFrameStart);
            if (_received.SawInvalidUtf8)
                return await RefuseFrameAsync(InvalidUtf8Close, _received.InvalidFrameStart);
        }
        return n;
    }

    /// <summary>
    /// RFC 6455 5.1: a server must close the connection on an unmasked client frame (and may send 1002); the BCL's
    /// framer does not check it, so the server does. RFC 6455 8.1: a text message that is not UTF-8 fails the
    /// WebSocket (1007) as soon as the bad byte arrives; the BCL's framer only sees it when the frame is complete.
    /// The application gets the frames before the refused one, then the end of its input (its WebSocket fails as if
    /// the client had gone); the Close is sent when nothing of the application's is being written.
    /// </summary>
    private async ValueTask<int> RefuseFrameAsync(byte[] closeFrame, int frameStart)
    {
        _refusedFrame = true;
        await TrySendCloseAsync(closeFrame, forShutdown: false);
        return Math.Max(frameStart, 0);
    }

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writeGate.WaitAsync(cancellationToken);
        try
        {
            // After the server's own Close (1001 on shutdown, 1002 for an unmasked frame) nothing more may be sent
            // (RFC 6455 5.5.1).
            if (_closedByServer)
                return;
            if (_scanFrames)
                _sent.Scan(buffer.Span);
            bool sent;
            try
            {
                sent = await WriteTransportAsync(buffer, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                throw;
            }
            catch (Exception ex)
            {
                _peerEnded = true;
                throw new IOException("The connection was closed.", ex);
            }
            if (!sent)
            {
                _peerEnded = true;
                throw new IOException("The connection was closed.");
            }
            Interlocked.Add(ref _bytesWritten, buffer.Length);
        }
        finally
        {
            _writeGate.Release();
        }
    }
}
