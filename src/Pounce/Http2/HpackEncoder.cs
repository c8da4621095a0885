using System.Buffers;

namespace Pounce.Http2;

/// <summary>
/// Encodes response header blocks with HPACK (RFC 7541) for one HTTP/2 connection.
/// </summary>
/// <remarks>
/// <para>
/// Per field: a full static-table match is sent as an indexed field; otherwise, when the dynamic table is
/// enabled, a full dynamic-table match is indexed, and a field not yet in the table is sent as a literal
/// with incremental indexing and added. Sensitive fields (<c>set-cookie</c>, <c>authorization</c>,
/// <c>proxy-authorization</c>, or any field passed with <c>sensitive: true</c>) are sent as never-indexed
/// literals (RFC 7541 7.1.3) and never enter the table; <c>content-length</c>, which changes with nearly every
/// response, is sent without indexing so that it does not churn the table. Literal names use a static or dynamic name index
/// when there is one. Strings are Huffman-encoded when that is shorter.
/// </para>
/// <para>
/// Usage per header block: <see cref="BeginHeaderBlock"/> (emits a pending dynamic table size update),
/// then <see cref="EncodeStatus"/> and <see cref="EncodeHeader(ReadOnlySpan{byte}, ReadOnlySpan{byte}, IBufferWriter{byte}, bool)"/> per field, in order. Names must be
/// lowercase (RFC 9113 8.2.1); the encoder does not change them.
/// </para>
/// <para>
/// Table size: the table's maximum is <c>min(configured maximum, peer's SETTINGS_HEADER_TABLE_SIZE)</c>.
/// The protocol starts at 4096; a change is applied at once to the encoder's table and announced at the start
/// of the next block, as the smallest size reached followed by the final size when they differ (RFC 7541 4.2).
/// </para>
/// </remarks>
internal sealed class HpackEncoder
{
    private const int InitialProtocolTableSize = HpackDecoder.DefaultHeaderTableSize;
    private const int ContentLengthStaticIndex = 28;

    private readonly HpackDynamicTable _table;
    private readonly int _configuredMaxTableSize;
    private readonly bool _useDynamicTable;
    private int _pendingMinimumSize = -1;
    private int _pendingFinalSize = -1;

    /// <summary>Creates an encoder.</summary>
    /// <param name="maxDynamicTableSize">Upper bound of the dynamic table this encoder uses, whatever the peer allows.</param>
    /// <param name="useDynamicTable"><see langword="false"/> to never index fields (the table size is then announced as 0).</param>
    public HpackEncoder(int maxDynamicTableSize = InitialProtocolTableSize, bool useDynamicTable = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDynamicTableSize);
        _useDynamicTable = useDynamicTable && maxDynamicTableSize > 0;
        _configuredMaxTableSize = _useDynamicTable ? maxDynamicTableSize : 0;
        _table = new HpackDynamicTable(InitialProtocolTableSize);
        ApplyTableSize(Math.Min(_configuredMaxTableSize, InitialProtocolTableSize));
    }

    /// <summary>The encoder's dynamic table, for inspection (tests, diagnostics).</summary>
    public HpackDynamicTable DynamicTable => _table;

    /// <summary>Whether the next <see cref="BeginHeaderBlock"/> emits a dynamic table size update.</summary>
    public bool HasPendingSizeUpdate => _pendingFinalSize >= 0;

    /// <summary>Applies the peer's SETTINGS_HEADER_TABLE_SIZE (call when its SETTINGS frame is received).</summary>
    public void SetPeerHeaderTableSize(uint peerHeaderTableSize)
    {
        int size = (int)Math.Min(peerHeaderTableSize, (uint)_configuredMaxTableSize);
        ApplyTableSize(size);
    }

    /// <summary>Starts a header block: writes the pending dynamic table size update(s), if any.</summary>
    public void BeginHeaderBlock(IBufferWriter<byte> output)
    {
        if (_pendingFinalSize < 0)
        {
            return;
        }

        Span<byte> span = output.GetSpan(12);
        int written = 0;
        if (_pendingMinimumSize < _pendingFinalSize)
        {
            written += HpackInteger.Encode(_pendingMinimumSize, 5, 0x20, span);
        }

        written += HpackInteger.Encode(_pendingFinalSize, 5, 0x20, span.Slice(written));
        output.Advance(written);
        _pendingMinimumSize = -1;
        _pendingFinalSize = -1;
    }

    /// <summary>Encodes the <c>:status</c> pseudo-header (100..999).</summary>
    public void EncodeStatus(int statusCode, IBufferWriter<byte> output)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(statusCode, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(statusCode, 999);
        int index = statusCode switch
        {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => 0,
        };
        if (index != 0)
        {
            ThrowIfSizeUpdatePending();
            Span<byte> span = output.GetSpan(1);
            span[0] = (byte)(0x80 | index);
            output.Advance(1);
            return;
        }

        Span<byte> digits = stackalloc byte[3];
        digits[0] = (byte)('0' + (statusCode / 100));
        digits[1] = (byte)('0' + (statusCode / 10 % 10));
        digits[2] = (byte)('0' + (statusCode % 10));
        EncodeHeader(":status"u8, digits, output);
    }

    /// <summary>Encodes one field (see the class remarks for the representation chosen).</summary>
    /// <param name="name">Lowercase field name.</param>
    /// <param name="value">Field value.</param>
    /// <param name="output">Where the encoded bytes go.</param>
    /// <param name="sensitive">Send as never-indexed literal even when the name is not a known sensitive one.</param>
    public void EncodeHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, IBufferWriter<byte> output, bool sensitive = false)
    {
        ThrowIfSizeUpdatePending();
        sensitive |= IsSensitive(name);

        int staticIndex = HpackStaticTable.Find(name, value, out int nameIndex);
        if (staticIndex != 0 && !sensitive)
        {
            WriteIndexed(staticIndex, output);
            return;
        }

        bool index = false;
        if (_useDynamicTable && !sensitive && !(nameIndex == ContentLengthStaticIndex && name.Length == 14))
        {
            // content-length is never indexed (its name is in the static table): no dynamic-table scan for it.
            int dynamicIndex = _table.Find(name, value, out int dynamicNameIndex);
            if (dynamicIndex != 0)
            {
                WriteIndexed(HpackStaticTable.Count + dynamicIndex, output);
                return;
            }

            if (nameIndex == 0 && dynamicNameIndex != 0)
            {
                nameIndex = HpackStaticTable.Count + dynamicNameIndex;
            }

            index = (long)name.Length + value.Length + HpackDynamicTable.EntryOverhead <= _table.MaxSize
                && !name.SequenceEqual("content-length"u8);
        }

        // Worst case: 6-byte name index or 1 + 5 + name, then 5 + value (Huffman is used only when shorter).
        Span<byte> span = output.GetSpan(name.Length + value.Length + 16);
        int written;
        if (index)
        {
            written = HpackInteger.Encode(nameIndex, 6, 0x40, span);
        }
        else
        {
            written = HpackInteger.Encode(nameIndex, 4, sensitive ? (byte)0x10 : (byte)0x00, span);
        }

        if (nameIndex == 0)
        {
            written += WriteString(name, span.Slice(written));
        }

        written += WriteString(value, span.Slice(written));
        output.Advance(written);

        if (index)
        {
            _table.Insert(name, value);
        }
    }

    /// <summary>
    /// Encodes a field given as .NET strings (as ASP.NET Core holds headers): the name is lowercased (ASCII
    /// letters), name and value are sent as Latin-1 octets, through a stack or pooled buffer.
    /// </summary>
    /// <exception cref="ArgumentException">A character above U+00FF: decide how to encode such values (for example UTF-8) and use the byte overload.</exception>
    public void EncodeHeader(ReadOnlySpan<char> name, ReadOnlySpan<char> value, IBufferWriter<byte> output, bool sensitive = false)
    {
        const int StackLimit = 512;
        int total = name.Length + value.Length;
        byte[]? rented = null;
        Span<byte> buffer = total <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(total));
        try
        {
            Span<byte> nameBytes = buffer.Slice(0, name.Length);
            for (int i = 0; i < name.Length; i++)
            {
                char c = name[i];
                if (c > 0xFF)
                {
                    ThrowNonLatin1(nameof(name));
                }

                nameBytes[i] = (byte)(c is >= 'A' and <= 'Z' ? c + 0x20 : c);
            }

            Span<byte> valueBytes = buffer.Slice(name.Length, value.Length);
            for (int i = 0; i < value.Length; i++)
            {
                char c = value[i];
                if (c > 0xFF)
                {
                    ThrowNonLatin1(nameof(value));
                }

                valueBytes[i] = (byte)c;
            }

            EncodeHeader(nameBytes, valueBytes, output, sensitive);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Whether a field name is always sent never-indexed.</summary>
    public static bool IsSensitive(ReadOnlySpan<byte> name) =>
        name.SequenceEqual("set-cookie"u8) || name.SequenceEqual("authorization"u8) || name.SequenceEqual("proxy-authorization"u8);

    /// <summary>Writes a string literal (RFC 7541 5.2), Huffman-encoded when shorter. Returns the bytes written.</summary>
    public static int WriteString(ReadOnlySpan<byte> value, Span<byte> destination)
    {
        int huffmanLength = HpackHuffman.GetEncodedLength(value);
        if (huffmanLength < value.Length)
        {
            int written = HpackInteger.Encode(huffmanLength, 7, 0x80, destination);
            return written + HpackHuffman.Encode(value, destination.Slice(written));
        }

        int headerLength = HpackInteger.Encode(value.Length, 7, 0x00, destination);
        value.CopyTo(destination.Slice(headerLength));
        return headerLength + value.Length;
    }

    private static void ThrowNonLatin1(string parameterName) =>
        throw new ArgumentException("Header contains a character above U+00FF; encode it to bytes first.", parameterName);

    private static void WriteIndexed(int index, IBufferWriter<byte> output)
    {
        Span<byte> span = output.GetSpan(6);
        output.Advance(HpackInteger.Encode(index, 7, 0x80, span));
    }

    private void ApplyTableSize(int size)
    {
        if (size == _table.MaxSize && _pendingFinalSize < 0)
        {
            return;
        }

        _table.SetMaxSize(size);
        _pendingMinimumSize = _pendingMinimumSize < 0 ? size : Math.Min(_pendingMinimumSize, size);
        _pendingFinalSize = size;
    }

    private void ThrowIfSizeUpdatePending()
    {
        if (_pendingFinalSize >= 0)
        {
            throw new InvalidOperationException("A dynamic table size update is pending: call BeginHeaderBlock before encoding fields.");
        }
    }
}
