using System.IO.Pipelines;

namespace Pounce.Features;

/// <summary>The response body as a <see cref="PipeWriter"/>: bytes gather in the request's body buffer until flushed.</summary>
internal sealed class ResponseBodyPipeWriter : PipeWriter
{
    private readonly RequestContext _context;

    public ResponseBodyPipeWriter(RequestContext context) => _context = context;

    public override void Advance(int bytes) => _context.AdvanceBody(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => _context.GetBodyMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => _context.GetBodyMemory(sizeHint).Span;

    public override void CancelPendingFlush() { }

    public override void Complete(Exception? exception = null) => _context.MarkBodyCompletedByApplication();

    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        _context.MarkBodyCompletedByApplication();
        return default;
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        await _context.FlushBodyAsync(cancellationToken);
        return new FlushResult(isCanceled: false, isCompleted: false);
    }

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _context.BufferedBodyBytes;
}
