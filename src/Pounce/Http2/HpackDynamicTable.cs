namespace Pounce.Http2;

/// <summary>
/// The HPACK dynamic table (RFC 7541 2.3.2, 4): a FIFO of fields, newest first, whose size is the sum of
/// <c>name + value + 32</c> over its entries and never exceeds <see cref="MaxSize"/>.
/// </summary>
/// <remarks>
/// Entries live in a ring buffer; each entry owns one array holding name then value. An insertion
/// allocates that array (insertions are rare next to references); references and evictions do not allocate.
/// Because an evicted entry's array is never reused, a span obtained from an entry stays valid after the
/// entry is evicted, which makes "insert a field whose name refers to an entry about to be evicted" safe.
/// </remarks>
internal sealed class HpackDynamicTable
{
    /// <summary>The per-entry overhead of RFC 7541 4.1.</summary>
    public const int EntryOverhead = 32;

    private Entry[] _entries;
    private int _insertIndex;
    private int _count;
    private int _size;
    private int _maxSize;

    /// <summary>Creates an empty table with the given maximum size in octets.</summary>
    public HpackDynamicTable(int maxSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxSize);
        _maxSize = maxSize;
        _entries = new Entry[Math.Max(1, maxSize / EntryOverhead)];
    }

    /// <summary>Number of entries.</summary>
    public int Count => _count;

    /// <summary>Current size in octets (RFC 7541 4.1).</summary>
    public int Size => _size;

    /// <summary>Current maximum size in octets.</summary>
    public int MaxSize => _maxSize;

    /// <summary>
    /// Changes each time the table may have changed (an insertion, a new maximum size): an encoding made of references
    /// into the table is still valid while this is unchanged.
    /// </summary>
    public int Version { get; private set; }

    /// <summary>Returns the name of the entry at the 1-based <paramref name="index"/> (1 = newest).</summary>
    public ReadOnlySpan<byte> GetName(int index)
    {
        ref readonly Entry entry = ref GetEntry(index);
        return entry.Data.AsSpan(0, entry.NameLength);
    }

    /// <summary>Returns the value of the entry at the 1-based <paramref name="index"/> (1 = newest).</summary>
    public ReadOnlySpan<byte> GetValue(int index)
    {
        ref readonly Entry entry = ref GetEntry(index);
        return entry.Data.AsSpan(entry.NameLength);
    }

    /// <summary>
    /// Adds a field as the newest entry, first evicting the oldest entries until it fits. A field larger than
    /// <see cref="MaxSize"/> empties the table and is not added (RFC 7541 4.4); that is not an error.
    /// </summary>
    public void Insert(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Version++;
        long entrySize = (long)name.Length + value.Length + EntryOverhead;
        if (entrySize > _maxSize)
        {
            Clear();
            return;
        }

        // Copy before evicting: name may be a span over an entry that is about to go.
        byte[] data = new byte[name.Length + value.Length];
        name.CopyTo(data);
        value.CopyTo(data.AsSpan(name.Length));

        EvictUntil(_maxSize - (int)entrySize);

        if (_count == _entries.Length)
        {
            Grow();
        }

        _entries[_insertIndex] = new Entry(data, name.Length);
        _insertIndex = (_insertIndex + 1) % _entries.Length;
        _count++;
        _size += (int)entrySize;
    }

    /// <summary>Changes the maximum size, evicting the oldest entries until the table fits (RFC 7541 4.3).</summary>
    public void SetMaxSize(int maxSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxSize);
        Version++;
        _maxSize = maxSize;
        EvictUntil(maxSize);
    }

    /// <summary>
    /// Looks up a field, newest first: returns the 1-based index of an entry matching name and value, or 0;
    /// <paramref name="nameIndex"/> is the index of the newest entry with the name, or 0.
    /// </summary>
    public int Find(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, out int nameIndex)
    {
        nameIndex = 0;
        for (int i = 1; i <= _count; i++)
        {
            ref readonly Entry entry = ref GetEntry(i);
            if (entry.NameLength != name.Length || !name.SequenceEqual(entry.Data.AsSpan(0, entry.NameLength)))
            {
                continue;
            }

            if (nameIndex == 0)
            {
                nameIndex = i;
            }

            if (value.SequenceEqual(entry.Data.AsSpan(entry.NameLength)))
            {
                return i;
            }
        }

        return 0;
    }

    private ref readonly Entry GetEntry(int index)
    {
        if ((uint)(index - 1) >= (uint)_count)
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }

        int position = _insertIndex - index;
        if (position < 0)
        {
            position += _entries.Length;
        }

        return ref _entries[position];
    }

    private void EvictUntil(int targetSize)
    {
        while (_size > targetSize && _count > 0)
        {
            int oldest = _insertIndex - _count;
            if (oldest < 0)
            {
                oldest += _entries.Length;
            }

            ref Entry entry = ref _entries[oldest];
            _size -= entry.Data.Length + EntryOverhead;
            entry = default;
            _count--;
        }
    }

    private void Clear()
    {
        Array.Clear(_entries);
        _count = 0;
        _size = 0;
        _insertIndex = 0;
    }

    private void Grow()
    {
        var larger = new Entry[_entries.Length * 2];
        for (int i = 0; i < _count; i++)
        {
            // Oldest first, so that the newest ends at _count - 1.
            larger[i] = GetEntry(_count - i);
        }

        _entries = larger;
        _insertIndex = _count;
    }

    private readonly struct Entry
    {
        public Entry(byte[] data, int nameLength)
        {
            Data = data;
            NameLength = nameLength;
        }

        public byte[] Data { get; }

        public int NameLength { get; }
    }
}
