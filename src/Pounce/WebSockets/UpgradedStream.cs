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
}
