using Microsoft.AspNetCore.Http;

namespace Pounce.Http2;

/// <summary>
/// The HPACK block of the last response head encoded without changing the connection's dynamic table, and what it was
/// encoded from: the status, the application's header collection (its field names and single values, compared by
/// reference: a minimal API answers every request with the same constant strings), the <c>date</c> line and the computed
/// <c>content-length</c>. While the dynamic table is unchanged (<see cref="HpackDynamicTable.Version"/>), encoding the
/// same head again would write exactly the same bytes (the same references into the tables, the same literals) and
/// change nothing, so the block is replayed instead. A head whose encoding inserted into the table (the first one, the
/// first of a new second's <c>date</c>) is never stored: its bytes are only valid once. Not thread-safe (used under the
/// connection's output lock, like the encoder).
/// </summary>
internal sealed class Http2HeadCache
{
    /// <summary>Heads with more fields than this are not cached.</summary>
    public const int MaxFields = 8;

    /// <summary>Blocks longer than this are not cached.</summary>
    public const int MaxBlockBytes = 512;

    /// <summary>A <c>date</c> line longer than this is not cached.</summary>
    private const int MaxDateBytes = 64;

    private readonly string?[] _names = new string?[MaxFields];
    private readonly string?[] _values = new string?[MaxFields];
    private readonly byte[] _block = new byte[MaxBlockBytes];
    private readonly byte[] _date = new byte[MaxDateBytes];
    private int _blockLength = -1;
    private int _fields;
    private int _dateLength;
    private int _status;
    private long? _contentLength;
    private int _tableVersion;

    /// <summary>Whether a block is stored.</summary>
    public bool HasBlock => _blockLength >= 0;

    /// <summary>
    /// The stored block when it was encoded from the same head and <paramref name="tableVersion"/> is the dynamic
    /// table's version it was encoded with; valid until the next <see cref="Store"/>.
    /// </summary>
    public bool TryGet(int status, HeaderDictionary headers, long? contentLength, ReadOnlySpan<byte> date, int tableVersion, out ReadOnlySpan<byte> block)
    {
        block = default;
        if (_blockLength < 0 || status != _status || tableVersion != _tableVersion || contentLength != _contentLength
            || headers.Count != _fields || !date.SequenceEqual(_date.AsSpan(0, _dateLength)))
        {
            return false;
        }
        var i = 0;
        foreach (var header in headers)
        {
            if (i == _fields || !ReferenceEquals(header.Key, _names[i]) || header.Value.Count != 1 || !ReferenceEquals(header.Value[0], _values[i]))
                return false;
            i++;
        }
        if (i != _fields)
            return false;
        block = _block.AsSpan(0, _blockLength);
        return true;
    }

    /// <summary>
    /// Remembers <paramref name="block"/>, encoded from this head without changing the dynamic table (now at
    /// <paramref name="tableVersion"/>); a head that cannot be compared cheaply (too many fields, a field with several
    /// values, a long block) forgets the stored one instead.
    /// </summary>
    public void Store(int status, HeaderDictionary headers, long? contentLength, ReadOnlySpan<byte> date, int tableVersion, ReadOnlySpan<byte> block)
    {
        _blockLength = -1;
        if (block.Length > MaxBlockBytes || date.Length > MaxDateBytes || headers.Count > MaxFields)
            return;
        var i = 0;
        foreach (var header in headers)
        {
            if (i == MaxFields || header.Value.Count != 1)
            {
                Array.Clear(_names);
                Array.Clear(_values);
                return;
            }
            _names[i] = header.Key;
            _values[i] = header.Value[0];
            i++;
        }
        Array.Clear(_names, i, MaxFields - i);
        Array.Clear(_values, i, MaxFields - i);
        _fields = i;
        _status = status;
        _contentLength = contentLength;
        _tableVersion = tableVersion;
        date.CopyTo(_date);
        _dateLength = date.Length;
        block.CopyTo(_block);
        _blockLength = block.Length;
    }

    /// <summary>Forgets the stored block.</summary>
    public void Clear() => _blockLength = -1;
}
