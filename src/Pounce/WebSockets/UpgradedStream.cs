using System.Buffers;
using System.IO.Pipelines;

namespace Pounce.WebSockets;

/// <summary>
/// The duplex stream an application gets from <c>IHttpUpgradeFeature.UpgradeAsync</c>: reads come from the
/// connection's input, writes go to its output and are sent at once. It notes what the connection's close needs to
/// know: bytes written, whether the peer went away under a read or write, and whether Close frames went by.
/// </summary>
internal sealed class UpgradedStream : Stream
{
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly bool _scanFrames;
    private WebSocketFrameScanner _received;
    private WebSocketFrameScanner _sent;
    private long _bytesWritten;
    private volatile bool _peerEnded;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private volatile bool _closedForShutdown;

    /// <summary>Close frame <c>1001 Going Away</c> (RFC 6455 7.4.1), unmasked as a server sends it.</summary>
    private static readonly byte[] GoingAwayFrame = CreateGoingAwayFrame();

    private static byte[] CreateGoingAwayFrame()
    {
        var reason = "server shutting down"u8;
        var frame = new byte[4 + reason.Length];
        frame[0] = 0x88;
        frame[1] = (byte)(2 + reason.Length);
        frame[2] = 1001 >> 8;
        frame[3] = 1001 & 0xFF;
        reason.CopyTo(frame.AsSpan(4));
        return frame;
    }

    public UpgradedStream(PipeReader input, PipeWriter output, bool scanWebSocketFrames)
    {
        _input = input;
        _output = output;
        _scanFrames = scanWebSocketFrames;
    }

    /// <summary>Bytes the application wrote after the upgrade.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>A read met the end of the input, or a read or write failed because the connection was gone.</summary>
    public bool PeerEnded => _peerEnded;

    /// <summary>The server sent Close 1001 because it is stopping; later application writes are discarded.</summary>
    public bool ClosedForShutdown => _closedForShutdown;

    /// <summary>
    /// Server shutdown: sends Close 1001 on behalf of the application, when this is a WebSocket, no write of the
    /// application is in progress, the last frame sent is complete and no Close was sent yet. The application's
    /// WebSocket then sees the client's answering Close as usual; what it writes afterwards (its own Close) is
    /// discarded. Returns false when the frame could not be sent.
    /// </summary>
    public async ValueTask<bool> TrySendGoingAwayAsync()
    {
        if (!_scanFrames || !_writeGate.Wait(0))
            return false;
        try
        {
            if (!_sent.AtFrameStart || _sent.SawClose || _peerEnded)
                return false;
            _sent.Scan(GoingAwayFrame);
            _closedForShutdown = true;
            _output.Write(GoingAwayFrame);
            var result = await _output.FlushAsync();
            if (!result.IsCompleted)
                Interlocked.Add(ref _bytesWritten, GoingAwayFrame.Length);
            return !result.IsCompleted;
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

    /// <summary>Both sides sent a WebSocket Close frame: the close handshake happened.</summary>
    public bool CloseHandshakeDone => _scanFrames && _received.SawClose && _sent.SawClose;

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
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _input.ReadAsync(cancellationToken);
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
            var data = result.Buffer;
            if (!data.IsEmpty)
            {
                if (buffer.IsEmpty)
                {
                    _input.AdvanceTo(data.Start);
                    return 0;
                }
                var n = (int)Math.Min(data.Length, buffer.Length);
                var slice = data.Slice(0, n);
                slice.CopyTo(buffer.Span);
                _input.AdvanceTo(slice.End);
                if (_scanFrames)
                    _received.Scan(buffer.Span[..n]);
                return n;
            }
            _input.AdvanceTo(data.Start);
            if (result.IsCompleted || result.IsCanceled)
            {
                // The peer closed or reset, or the connection was torn down (write timeout, shutdown).
                _peerEnded = true;
                return 0;
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writeGate.WaitAsync(cancellationToken);
        try
        {
            // After the server's Close 1001 nothing more may be sent (RFC 6455 5.5.1).
            if (_closedForShutdown)
                return;
            if (_scanFrames)
                _sent.Scan(buffer.Span);
            FlushResult result;
            try
            {
                if (!buffer.IsEmpty)
                    _output.Write(buffer.Span);
                result = await _output.FlushAsync(cancellationToken);
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
            if (result.IsCompleted)
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
