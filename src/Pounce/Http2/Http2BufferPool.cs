using System.Buffers;

namespace Pounce.Http2;

/// <summary>
/// A connection's pool of <see cref="BlockSize"/>-byte blocks for its streams' request-body pipes and response
/// buffers. The shared <see cref="ArrayPool{T}"/> keeps only a few arrays of a size per core, so a connection with
/// many streams in flight (each holding a body segment and a response buffer at once) emptied it and allocated
/// (about 2 KB per request with 16 x 16 streams); here the blocks (and the objects that own them) are reused.
/// At most <c>maxRetained</c> idle blocks are kept; <see cref="Trim"/> drops them all after a quiet spell.
/// </summary>
/// <remarks>Thread-safe: blocks are rented by the read loop and returned by the applications' threads.</remarks>
internal sealed class Http2BufferPool : MemoryPool<byte>
{
    /// <summary>The size of every pooled block.</summary>
    public const int BlockSize = 4096;

    private readonly Lock _lock = new();
    private readonly Stack<Block> _free = new();
    private readonly int _maxRetained;
    private long _lastRentTicks;
    private Block? _spare; // one idle block kept outside the stack: a rent that follows a return takes it without the lock

    /// <summary>A pool that keeps at most <paramref name="maxRetained"/> idle blocks.</summary>
    public Http2BufferPool(int maxRetained)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRetained);
        _maxRetained = maxRetained;
    }

    /// <inheritdoc />
    public override int MaxBufferSize => BlockSize;

    /// <summary>Idle blocks held now.</summary>
    public int Retained
    {
        get
        {
            lock (_lock)
                return _free.Count + (Volatile.Read(ref _spare) is null ? 0 : 1);
        }
    }

    /// <summary>A block of <see cref="BlockSize"/> bytes (a larger request gets an unpooled buffer of its size).</summary>
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize)
            return new Unpooled(minBufferSize);
        return RentBlock();
    }

    /// <summary>A pooled block, typed (for owners that keep it as an array).</summary>
    public Block RentBlock()
    {
        Volatile.Write(ref _lastRentTicks, Environment.TickCount64);
        if (Interlocked.Exchange(ref _spare, null) is { } spare)
        {
            spare.Rented = true;
            return spare;
        }
        lock (_lock)
        {
            if (_free.TryPop(out var block))
            {
                block.Rented = true;
                return block;
            }
        }
        return new Block(this) { Rented = true };
    }

    /// <summary>Heartbeat: drops the idle blocks when nothing was rented for <paramref name="idleMilliseconds"/>.</summary>
    public void Trim(long now, long idleMilliseconds)
    {
        if (now - Volatile.Read(ref _lastRentTicks) < idleMilliseconds)
            return;
        Interlocked.Exchange(ref _spare, null);
        lock (_lock)
            _free.Clear();
    }

    private void Return(Block block)
    {
        // The spare counts as one of the maxRetained idle blocks: the stack keeps one fewer.
        if (_maxRetained > 0 && Interlocked.CompareExchange(ref _spare, block, null) is null)
            return;
        lock (_lock)
        {
            if (_free.Count < _maxRetained - 1)
                _free.Push(block);
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        Interlocked.Exchange(ref _spare, null);
        lock (_lock)
            _free.Clear();
    }

    /// <summary>One pooled block; <see cref="Dispose"/> gives it back (once per rent).</summary>
    internal sealed class Block : IMemoryOwner<byte>
    {
        private readonly Http2BufferPool _pool;

        internal Block(Http2BufferPool pool)
        {
            _pool = pool;
            Array = new byte[BlockSize];
        }

        /// <summary>The block's bytes.</summary>
        public byte[] Array { get; }

        internal bool Rented { get; set; }

        /// <inheritdoc />
        public Memory<byte> Memory => Array;

        /// <summary>Back to the pool; a second call is ignored.</summary>
        public void Dispose()
        {
            if (!Rented)
                return;
            Rented = false;
            _pool.Return(this);
        }
    }

    private sealed class Unpooled(int size) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; private set; } = new byte[size];

        public void Dispose() => Memory = default;
    }
}
