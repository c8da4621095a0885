namespace Pounce.Logging;

/// <summary>
/// A bounded, lock-free, allocation-free multi-producer multi-consumer queue (Dmitry Vyukov's array queue):
/// each slot carries a sequence number telling whether it is free for the producer of a given round or holds an
/// item for the consumer of that round. Capacity is rounded up to a power of two (at least 2).
/// </summary>
internal sealed class BoundedRing<T>
{
    private struct Slot
    {
        public long Sequence;
        public T Item;
    }

    private readonly Slot[] _slots;
    private readonly long _mask;
    private PaddedLong _enqueuePosition;
    private PaddedLong _dequeuePosition;

    public BoundedRing(int capacity)
    {
        var size = (int)Math.Min(1L << 30, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 2)));
        _slots = new Slot[size];
        for (var i = 0; i < size; i++)
            _slots[i].Sequence = i;
        _mask = size - 1;
    }

    /// <summary>Number of slots.</summary>
    public int Capacity => _slots.Length;

    /// <summary>Adds an item; false when the ring is full. Publishing the item is a full fence.</summary>
    public bool TryEnqueue(T item)
    {
        var position = Volatile.Read(ref _enqueuePosition.Value);
        while (true)
        {
            ref var slot = ref _slots[position & _mask];
            var difference = Volatile.Read(ref slot.Sequence) - position;
            if (difference == 0)
            {
                var seen = Interlocked.CompareExchange(ref _enqueuePosition.Value, position + 1, position);
                if (seen == position)
                {
                    slot.Item = item;
                    Interlocked.Exchange(ref slot.Sequence, position + 1);
                    return true;
                }
                position = seen;
            }
            else if (difference < 0)
            {
                return false;
            }
            else
            {
                position = Volatile.Read(ref _enqueuePosition.Value);
            }
        }
    }

    /// <summary>Takes the oldest item; false when there is none ready (empty, or its producer is still writing it).</summary>
    public bool TryDequeue(out T item)
    {
        var position = Volatile.Read(ref _dequeuePosition.Value);
        while (true)
        {
            ref var slot = ref _slots[position & _mask];
            var difference = Volatile.Read(ref slot.Sequence) - (position + 1);
            if (difference == 0)
            {
                var seen = Interlocked.CompareExchange(ref _dequeuePosition.Value, position + 1, position);
                if (seen == position)
                {
                    item = slot.Item;
                    slot.Item = default!;
                    Volatile.Write(ref slot.Sequence, position + _mask + 1);
                    return true;
                }
                position = seen;
            }
            else if (difference < 0)
            {
                item = default!;
                return false;
            }
            else
            {
                position = Volatile.Read(ref _dequeuePosition.Value);
            }
        }
    }

    /// <summary>Items in the ring, counting those being added or taken right now (a snapshot, for tests and diagnostics).</summary>
    public long Count => Math.Max(0, Volatile.Read(ref _enqueuePosition.Value) - Volatile.Read(ref _dequeuePosition.Value));

    /// <summary>Whether no item is ready at the head.</summary>
    public bool IsEmpty
    {
        get
        {
            var position = Volatile.Read(ref _dequeuePosition.Value);
            return Volatile.Read(ref _slots[position & _mask].Sequence) - (position + 1) < 0;
        }
    }
}

/// <summary>A long alone on its cache line, so producers and the consumer do not slow each other down.</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 128)]
internal struct PaddedLong
{
    /// <summary>The value.</summary>
    [System.Runtime.InteropServices.FieldOffset(64)]
    public long Value;
}
