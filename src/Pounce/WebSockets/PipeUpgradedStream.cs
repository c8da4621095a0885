using System.Buffers;
using System.IO.Pipelines;

namespace Pounce.WebSockets;

/// <summary>
/// HTTP/1.1 after <c>101 Switching Protocols</c>: reads come from the connection's input, writes go to its output
/// and are flushed at once.
/// </summary>
internal sealed class PipeUpgradedStream : UpgradedStream
{
    private readonly PipeReader _input;
    private readonly PipeWriter _output;

    public PipeUpgradedStream(PipeReader input, PipeWriter output, bool scanWebSocketFrames)
        : base(scanWebSocketFrames)
    {
        _input = input;
        _output = output;
    }

    protected override async ValueTask<int> ReadTransportAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _input.ReadAsync(cancellationToken);
            var data = result.Buffer;
            if (!data.IsEmpty)
            {
                if (buffer.IsEmpty)
                {
                    // A zero-byte read: data is there now.
                    _input.AdvanceTo(data.Start);
                    return 0;
                }
                var n = (int)Math.Min(data.Length, buffer.Length);
                var slice = data.Slice(0, n);
                slice.CopyTo(buffer.Span);
                _input.AdvanceTo(slice.End);
                return n;
            }
            _input.AdvanceTo(data.Start);
            if (result.IsCompleted || result.IsCanceled)
            {
                // The peer closed or reset, or the connection was torn down (write timeout, shutdown).
                MarkPeerEnded();
                return 0;
            }
        }
    }

    protected override async ValueTask<bool> WriteTransportAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (!data.IsEmpty)
            _output.Write(data.Span);
        var result = await _output.FlushAsync(cancellationToken);
        return !result.IsCompleted;
    }
}
