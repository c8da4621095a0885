using System.Buffers;
using System.IO.Pipelines;

namespace Pounce.Tls;

/// <summary>
/// The socket's pipes seen as a <see cref="Stream"/>, for <see cref="System.Net.Security.SslStream"/> to read TLS
/// records from and write them to. Every write is flushed (the handshake's messages must leave at once), and writes
/// are serialized: SslStream's read side may write (alerts, TLS 1.3 key updates) while the send loop does. A read cancelled with <see cref="PipeReader.CancelPendingRead"/>
/// (a connection deadline) throws <see cref="OperationCanceledException"/>.
/// </summary>
internal sealed class PipeStream : Stream
{
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    public PipeStream(IDuplexPipe pipe)
    {
        _input = pipe.Input;
        _output = pipe.Output;
    }

    /// <summary>Bytes read from the peer so far (to tell "closed before saying anything" from a broken handshake).</summary>
    public long BytesRead { get; private set; }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    // SslStream awaits each read once and at once: a pooled state machine saves its box on every read that waits.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var result = await _input.ReadAsync(cancellationToken);
            var data = result.Buffer;
            if (result.IsCanceled)
            {
                _input.AdvanceTo(data.Start);
                throw new OperationCanceledException("The connection's deadline passed.");
            }
            if (data.IsEmpty)
            {
                _input.AdvanceTo(data.End);
                if (result.IsCompleted)
                    return 0;
                continue;
            }
            if (buffer.IsEmpty)
            {
                // A zero-byte read: report that data is there without taking any.
                _input.AdvanceTo(data.Start);
                return 0;
            }
            var count = (int)Math.Min(buffer.Length, data.Length);
            data.Slice(0, count).CopyTo(buffer.Span);
            _input.AdvanceTo(data.GetPosition(count));
            BytesRead += count;
            return count;
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            _output.Write(buffer.Span);
            var result = await _output.FlushAsync(cancellationToken);
            if (result.IsCanceled)
                throw new OperationCanceledException("The connection's send was cancelled.");
            if (result.IsCompleted)
                throw new IOException("The connection is closed.");
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Nothing to do: every write is flushed.</summary>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _writeLock.Dispose();
        base.Dispose(disposing);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("PipeStream is asynchronous only.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("PipeStream is asynchronous only.");

    /// <summary>Nothing to do: every write is flushed (SslStream calls this when it is disposed).</summary>
    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
