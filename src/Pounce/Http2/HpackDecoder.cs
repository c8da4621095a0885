using System.Buffers;
using System.Runtime.CompilerServices;

namespace Pounce.Http2;

/// <summary>
/// Decodes HPACK header blocks (RFC 7541) of one HTTP/2 connection, delivering each field to an
/// <see cref="IHpackHeaderHandler"/> without building a header list.
/// </summary>
/// <remarks>
/// <para>
/// Fragments: a header block may arrive as HEADERS (or PUSH_PROMISE) followed by CONTINUATION frames.
/// Pass each fragment to <see cref="Decode{THandler}(ReadOnlySpan{byte}, bool, THandler)"/>, with
/// <c>endHeaders</c> set on the last. Complete field representations are decoded straight from the
/// fragment; only an incomplete trailing representation is carried over, in a buffer that holds at most
/// that representation plus the next fragment. String lengths are checked against the remaining header
/// list budget before their bytes are awaited, so the carried-over buffer is bounded by the header list
/// limit plus one frame, never by the size of the whole block.
/// </para>
/// <para>
/// Limits: the header list size (sum of name + value + 32 per field, RFC 9113 6.5.2) is counted while
/// decoding; the first field that takes it over <see cref="MaxHeaderListSize"/> stops decoding with an
/// <see cref="HpackDecodingException"/> whose <see cref="HpackDecodingException.HeaderListTooLarge"/> is set,
/// so a small block that expands into a huge list (an "HPACK bomb") costs no more than the limit.
/// </para>
/// <para>
/// Errors: every failure throws <see cref="HpackDecodingException"/>; the dynamic table is then out of step
/// with the peer, so the connection must end with COMPRESSION_ERROR and the decoder must not be used again.
/// </para>
/// </remarks>
internal sealed class HpackDecoder
{
    /// <summary>The initial SETTINGS_HEADER_TABLE_SIZE of RFC 9113 6.5.2.</summary>
    public const int DefaultHeaderTableSize = 4096;

    private const int FieldOverhead = HpackDynamicTable.EntryOverhead;

    private readonly HpackDynamicTable _table;
    private int _maxTableSizeLimit;
    private readonly int _maxHeaderListSize;

    private byte[] _pending = [];
    private int _pendingLength;
    private byte[] _nameBuffer = [];
    private byte[] _valueBuffer = [];

    private long _headerListSize;
    private bool _atBlockStart = true;
    private bool _sizeUpdateRequired;

    /// <summary>Creates a decoder.</summary>
    /// <param name="maxHeaderTableSize">
    /// The SETTINGS_HEADER_TABLE_SIZE this endpoint advertises: the largest dynamic table size the peer's
    /// encoder may choose. The table starts at this size, and the peer may change it with size updates up to
    /// this limit (RFC 7541 4.2, 6.3). On a new connection use <see cref="DefaultHeaderTableSize"/> and call
    /// <see cref="SetMaxHeaderTableSizeLimit"/> once our SETTINGS with another value are acknowledged.
    /// </param>
    /// <param name="maxHeaderListSize">The largest accepted header list size of one block (name + value + 32 per field).</param>
    public HpackDecoder(int maxHeaderTableSize = DefaultHeaderTableSize, int maxHeaderListSize = 32 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxHeaderTableSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxHeaderListSize);
        _maxTableSizeLimit = maxHeaderTableSize;
        _maxHeaderListSize = maxHeaderListSize;
        _table = new HpackDynamicTable(maxHeaderTableSize);
    }

    /// <summary>The largest accepted header list size of one block.</summary>
    public int MaxHeaderListSize => _maxHeaderListSize;

    /// <summary>The SETTINGS_HEADER_TABLE_SIZE limit: dynamic table size updates above it are errors.</summary>
    public int MaxHeaderTableSizeLimit => _maxTableSizeLimit;

    /// <summary>The dynamic table, for inspection (tests, diagnostics).</summary>
    public HpackDynamicTable DynamicTable => _table;

    /// <summary>The header list size decoded so far in the current block.</summary>
    public long CurrentHeaderListSize => _headerListSize;

    /// <summary>
    /// Applies a new SETTINGS_HEADER_TABLE_SIZE once the peer has acknowledged it. If it is below the
    /// table's current maximum, the peer's next header block must start with a size update within it
    /// (RFC 7541 4.2); a block that does not is a decoding error.
    /// </summary>
    public void SetMaxHeaderTableSizeLimit(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        _maxTableSizeLimit = limit;
        if (limit < _table.MaxSize)
        {
            _sizeUpdateRequired = true;
        }
    }

    /// <summary>Decodes a fragment held in a sequence (a frame payload); see <see cref="Decode{THandler}(ReadOnlySpan{byte}, bool, THandler)"/>.</summary>
    public void Decode<THandler>(in ReadOnlySequence<byte> fragment, bool endHeaders, THandler handler)
        where THandler : IHpackHeaderHandler
    {
        if (fragment.IsSingleSegment)
        {
            DecodeCore(fragment.FirstSpan, endHeaders, ref handler);
            return;
        }

        foreach (ReadOnlyMemory<byte> segment in fragment)
        {
            DecodeCore(segment.Span, endHeaders: false, ref handler);
        }

        if (endHeaders)
        {
            DecodeCore(ReadOnlySpan<byte>.Empty, endHeaders: true, ref handler);
        }
    }

    /// <summary>
    /// Decodes one fragment of a header block, calling <paramref name="handler"/> for every complete field.
    /// Set <paramref name="endHeaders"/> on the block's last fragment (END_HEADERS); the block must then end on
    /// a representation boundary.
    /// </summary>
    /// <exception cref="HpackDecodingException">The block is malformed or exceeds a limit.</exception>
    public void Decode<THandler>(ReadOnlySpan<byte> fragment, bool endHeaders, THandler handler)
        where THandler : IHpackHeaderHandler =>
        DecodeCore(fragment, endHeaders, ref handler);

    /// <summary>
    /// Same as <see cref="Decode{THandler}(ReadOnlySpan{byte}, bool, THandler)"/> for a struct handler passed by
    /// reference: the call is specialised for the handler type (no interface dispatch, no boxing) and the
    /// handler's state changes are kept. Meant for hot paths and benchmarks that reuse one handler.
    /// </summary>
    public void DecodeInto<THandler>(ReadOnlySpan<byte> fragment, bool endHeaders, ref THandler handler)
        where THandler : struct, IHpackHeaderHandler =>
        DecodeCore(fragment, endHeaders, ref handler);

    private void DecodeCore<THandler>(ReadOnlySpan<byte> fragment, bool endHeaders, ref THandler handler)
        where THandler : IHpackHeaderHandler
    {
        ReadOnlySpan<byte> data;
        bool fromPending = _pendingLength > 0;
        if (fromPending)
        {
            EnsureCapacity(ref _pending, _pendingLength + fragment.Length, _pendingLength);
            fragment.CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += fragment.Length;
            data = _pending.AsSpan(0, _pendingLength);
        }
        else
        {
            data = fragment;
        }

        int position = 0;
        while (position < data.Length)
        {
            int next = DecodeRepresentation(data, position, ref handler);
            if (next < 0)
            {
                break;
            }

            position = next;
        }

        int remaining = data.Length - position;
        if (endHeaders)
        {
            if (remaining != 0)
            {
                throw new HpackDecodingException("Header block ends inside a field representation.");
            }

            if (_sizeUpdateRequired)
            {
                throw new HpackDecodingException("Header block lacks the required dynamic table size update.");
            }

            _pendingLength = 0;
            _headerListSize = 0;
            _atBlockStart = true;
            return;
        }

        if (remaining > 0)
        {
            if (fromPending)
            {
                data.Slice(position).CopyTo(_pending);
            }
            else
            {
                EnsureCapacity(ref _pending, remaining, 0);
                data.Slice(position).CopyTo(_pending);
            }
        }

        _pendingLength = remaining;
    }

    // Decodes the representation starting at data[position]; returns the position after it, or -1 when the
    // data ends first (no state has changed then).
    private int DecodeRepresentation<THandler>(ReadOnlySpan<byte> data, int position, ref THandler handler)
        where THandler : IHpackHeaderHandler
    {
        byte first = data[position];
        int pos = position;
        if ((first & 0x80) != 0)
        {
            // Indexed header field (6.1).
            if (!HpackInteger.TryDecode(data, ref pos, 7, out int index))
            {
                return -1;
            }

            BeginField();
            if (index == 0)
            {
                throw new HpackDecodingException("Indexed header field with index 0.");
            }

            ReadOnlySpan<byte> name = GetName(index);
            ReadOnlySpan<byte> value = GetValue(index);
            Emit(name, value, ref handler);
            return pos;
        }

        if ((first & 0xE0) == 0x20)
        {
            // Dynamic table size update (6.3).
            if (!HpackInteger.TryDecode(data, ref pos, 5, out int size))
            {
                return -1;
            }

            if (!_atBlockStart)
            {
                throw new HpackDecodingException("Dynamic table size update after the start of the header block.");
            }

            if (size > _maxTableSizeLimit)
            {
                throw new HpackDecodingException("Dynamic table size update exceeds SETTINGS_HEADER_TABLE_SIZE.");
            }

            _table.SetMaxSize(size);
            _sizeUpdateRequired = false;
            return pos;
        }

        // Literal with incremental indexing (6.2.1, 01xxxxxx, 6-bit prefix), without indexing (6.2.2, 0000xxxx)
        // or never indexed (6.2.3, 0001xxxx), the latter two with a 4-bit prefix.
        bool addToTable = (first & 0xC0) == 0x40;
        if (!HpackInteger.TryDecode(data, ref pos, addToTable ? 6 : 4, out int nameIndex))
        {
            return -1;
        }

        if (_sizeUpdateRequired)
        {
            throw new HpackDecodingException("Header block lacks the required dynamic table size update.");
        }

        // First locate both strings (integers only), so that an incomplete representation costs no Huffman
        // decoding however many fragments it takes to arrive; check lengths against the budget on the way.
        long budget = _maxHeaderListSize - _headerListSize - FieldOverhead;
        StringLocation nameLocation = default;
        long nameMinimum = 0;
        if (nameIndex == 0)
        {
            if (!TryLocateString(data, ref pos, budget, out nameLocation))
            {
                return -1;
            }

            nameMinimum = nameLocation.MinimumDecodedLength;
        }
        else
        {
            nameMinimum = GetName(nameIndex).Length;
        }

        if (!TryLocateString(data, ref pos, budget - nameMinimum, out StringLocation valueLocation))
        {
            return -1;
        }

        ReadOnlySpan<byte> fieldName = nameIndex == 0
            ? DecodeString(data, nameLocation, budget, ref _nameBuffer)
            : GetName(nameIndex);
        ReadOnlySpan<byte> fieldValue = DecodeString(data, valueLocation, budget - fieldName.Length, ref _valueBuffer);

        BeginField();
        Emit(fieldName, fieldValue, ref handler);
        if (addToTable)
        {
            _table.Insert(fieldName, fieldValue);
        }

        return pos;
    }

    private void BeginField()
    {
        if (_sizeUpdateRequired)
        {
            throw new HpackDecodingException("Header block lacks the required dynamic table size update.");
        }

        _atBlockStart = false;
    }

    private void Emit<THandler>(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, ref THandler handler)
        where THandler : IHpackHeaderHandler
    {
        long size = _headerListSize + name.Length + value.Length + FieldOverhead;
        if (size > _maxHeaderListSize)
        {
            ThrowHeaderListTooLarge();
        }

        _headerListSize = size;
        handler.OnHeader(name, value);
    }

    // Finds a string literal (5.2) without decoding it. Returns false when the data ends before the string does.
    private static bool TryLocateString(ReadOnlySpan<byte> data, scoped ref int position, long budget, out StringLocation location)
    {
        location = default;
        int pos = position;
        if (pos >= data.Length)
        {
            return false;
        }

        bool huffman = (data[pos] & 0x80) != 0;
        if (!HpackInteger.TryDecode(data, ref pos, 7, out int length))
        {
            return false;
        }

        // Check the budget before waiting for the bytes, so an oversized string is never buffered.
        int minimumDecoded = huffman ? HpackHuffman.GetMinDecodedLength(length) : length;
        if (minimumDecoded > budget)
        {
            ThrowHeaderListTooLarge();
        }

        if (data.Length - pos < length)
        {
            return false;
        }

        location = new StringLocation(pos, length, huffman, minimumDecoded);
        position = pos + length;
        return true;
    }

    // Returns a located string: a slice of the data when raw, or decoded into the buffer when Huffman-encoded.
    private static ReadOnlySpan<byte> DecodeString(ReadOnlySpan<byte> data, StringLocation location, long budget, ref byte[] buffer)
    {
        ReadOnlySpan<byte> raw = data.Slice(location.Start, location.Length);
        if (!location.Huffman)
        {
            if (raw.Length > budget)
            {
                ThrowHeaderListTooLarge();
            }

            return raw;
        }

        int capacity = (int)Math.Max(0, Math.Min(budget, HpackHuffman.GetMaxDecodedLength(location.Length)));
        EnsureCapacity(ref buffer, capacity, 0);
        if (!HpackHuffman.TryDecode(raw, buffer.AsSpan(0, capacity), out int written))
        {
            ThrowHeaderListTooLarge();
        }

        return buffer.AsSpan(0, written);
    }

    private ReadOnlySpan<byte> GetName(int index)
    {
        if (index <= HpackStaticTable.Count)
        {
            return HpackStaticTable.Get(index).Name;
        }

        return _table.GetName(CheckDynamicIndex(index));
    }

    private ReadOnlySpan<byte> GetValue(int index)
    {
        if (index <= HpackStaticTable.Count)
        {
            return HpackStaticTable.Get(index).Value;
        }

        return _table.GetValue(CheckDynamicIndex(index));
    }

    private int CheckDynamicIndex(int index)
    {
        int dynamicIndex = index - HpackStaticTable.Count;
        if (dynamicIndex > _table.Count)
        {
            throw new HpackDecodingException($"Header index {index} is outside the static and dynamic tables.");
        }

        return dynamicIndex;
    }

    private static void EnsureCapacity(ref byte[] buffer, int required, int preserve)
    {
        if (buffer.Length >= required)
        {
            return;
        }

        var larger = new byte[Math.Max(required, Math.Max(256, buffer.Length * 2))];
        buffer.AsSpan(0, preserve).CopyTo(larger);
        buffer = larger;
    }

    private readonly struct StringLocation
    {
        public StringLocation(int start, int length, bool huffman, int minimumDecodedLength)
        {
            Start = start;
            Length = length;
            Huffman = huffman;
            MinimumDecodedLength = minimumDecodedLength;
        }

        public int Start { get; }

        public int Length { get; }

        public bool Huffman { get; }

        public int MinimumDecodedLength { get; }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowHeaderListTooLarge() =>
        throw new HpackDecodingException("Decoded header list exceeds the maximum header list size.", headerListTooLarge: true);
}
