using System.Buffers;
using System.IO.Pipelines;
using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>The connection's block pool: blocks come back and are reused, the idle count is bounded, a quiet pool empties.</summary>
public sealed class Http2BufferPoolTests
{
    [Fact]
    public void AReturnedBlock_IsReused()
    {
        using var pool = new Http2BufferPool(maxRetained: 4);
        var first = pool.RentBlock();
        Assert.Equal(Http2BufferPool.BlockSize, first.Array.Length);
        first.Dispose();
        Assert.Equal(1, pool.Retained);
        var second = pool.RentBlock();
        Assert.Same(first, second);
        Assert.Equal(0, pool.Retained);
    }

    [Fact]
    public void DisposingTwice_ReturnsOnce()
    {
        using var pool = new Http2BufferPool(maxRetained: 4);
        var block = pool.RentBlock();
        block.Dispose();
        block.Dispose();
        Assert.Equal(1, pool.Retained);
        var a = pool.RentBlock();
        var b = pool.RentBlock();
        Assert.NotSame(a, b);
    }

    [Fact]
    public void IdleBlocks_AreBounded()
    {
        using var pool = new Http2BufferPool(maxRetained: 2);
        var blocks = new[] { pool.RentBlock(), pool.RentBlock(), pool.RentBlock() };
        foreach (var block in blocks)
            block.Dispose();
        Assert.Equal(2, pool.Retained);
    }

    [Fact]
    public void TheSpareBlock_CountsAmongTheRetained()
    {
        using var one = new Http2BufferPool(maxRetained: 1);
        var blocks = new[] { one.RentBlock(), one.RentBlock() };
        foreach (var block in blocks)
            block.Dispose();
        Assert.Equal(1, one.Retained);

        using var none = new Http2BufferPool(maxRetained: 0);
        none.RentBlock().Dispose();
        Assert.Equal(0, none.Retained);
    }

    [Fact]
    public void RentAndReturnOnSeveralThreads_NeverHandOutABlockTwice()
    {
        using var pool = new Http2BufferPool(maxRetained: 4);
        var inUse = new System.Collections.Concurrent.ConcurrentDictionary<Http2BufferPool.Block, bool>();
        var twice = 0;
        Parallel.For(0, 4, _ =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                var block = pool.RentBlock();
                if (!inUse.TryAdd(block, true))
                    Interlocked.Increment(ref twice);
                inUse.TryRemove(block, out var _);
                block.Dispose();
            }
        });
        Assert.Equal(0, twice);
        Assert.InRange(pool.Retained, 1, 4);
    }

    [Fact]
    public void LargerRequests_GetTheirOwnBuffer()
    {
        using var pool = new Http2BufferPool(maxRetained: 2);
        using var owner = pool.Rent(Http2BufferPool.BlockSize + 1);
        Assert.True(owner.Memory.Length >= Http2BufferPool.BlockSize + 1);
        owner.Dispose();
        Assert.Equal(0, pool.Retained);
        Assert.Equal(Http2BufferPool.BlockSize, pool.Rent().Memory.Length);
    }

    [Fact]
    public void Trim_DropsIdleBlocks_OnlyAfterAQuietSpell()
    {
        using var pool = new Http2BufferPool(maxRetained: 4);
        pool.RentBlock().Dispose();
        var now = Environment.TickCount64;
        pool.Trim(now, idleMilliseconds: 60_000);
        Assert.Equal(1, pool.Retained);
        pool.Trim(now + 60_000, idleMilliseconds: 60_000);
        Assert.Equal(0, pool.Retained);
    }

    [Fact]
    public async Task APipe_ReusesTheBlocks_OfWhatItsReaderConsumed()
    {
        using var pool = new Http2BufferPool(maxRetained: 4);
        var pipe = new Pipe(new PipeOptions(pool: pool, pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
        for (var i = 0; i < 3; i++)
        {
            pipe.Writer.Write(new byte[1024]);
            await pipe.Writer.FlushAsync();
            var result = await pipe.Reader.ReadAsync();
            Assert.Equal(1024, result.Buffer.Length);
            pipe.Reader.AdvanceTo(result.Buffer.End);
            Assert.Equal(1, pool.Retained); // the segment's block is back as soon as it was read
        }
    }
}
