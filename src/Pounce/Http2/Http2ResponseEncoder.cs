using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Pounce.Http2;

/// <summary>
/// Encodes response header blocks (the head and the trailers) with the connection's one HPACK encoder: what the
/// application set, less the connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2), plus <c>date</c>,
/// <c>server</c> and a computed <c>content-length</c>. The encoder's state is shared by every stream, so blocks are
/// encoded in wire order, under the connection's output lock. Not thread-safe, except <see cref="SetPeerTableSize"/>.
/// </summary>
internal sealed class Http2ResponseEncoder
{
    private readonly HpackEncoder _encoder = new();
    private readonly ArrayBufferWriter<byte> _block = new(1024);
    private readonly Http2HeadCache _headCache = new();
    private readonly byte[] _serverHeaderValue;
    private readonly Transport.Heartbeat? _dateSource;
    private int _pendingPeerTableSize = -1;

    /// <summary>
    /// An encoder that adds <c>server: <paramref name="serverHeader"/></c> (none when empty) and the <c>date</c> of
    /// <paramref name="dateSource"/> (none when null).
    /// </summary>
    public Http2ResponseEncoder(string serverHeader, Transport.Heartbeat? dateSource)
    {
        _serverHeaderValue = System.Text.Encoding.ASCII.GetBytes(serverHeader);
        _dateSource = dateSource;
    }

    /// <summary>Any thread (the read loop): the peer's SETTINGS_HEADER_TABLE_SIZE, applied at the start of the next block.</summary>
    public void SetPeerTableSize(uint size) => Volatile.Write(ref _pendingPeerTableSize, (int)Math.Min(size, int.MaxValue));

    /// <summary>
    /// The head: <c>:status</c>, the application's fields (no <c>content-length</c> on 1xx and 204), then <c>date</c>
    /// and <c>server</c> when the application set none, and <paramref name="contentLength"/> when the server computed it.
    /// The block is valid until the next call. The collections are taken as <see cref="HeaderDictionary"/>, not the
    /// interface: its struct enumerator allocates nothing per response.
    /// </summary>
    /// <remarks>A head like the previous one, while the dynamic table is unchanged, is the previous block replayed
    /// (<see cref="Http2HeadCache"/>).</remarks>
    public ReadOnlySpan<byte> EncodeHead(int status, HeaderDictionary headers, long? contentLength)
    {
        var dateLine = _dateSource is null ? default : _dateSource.DateHeaderLine; // "Date: ...\r\n"
        ApplyPeerTableSize();
        var table = _encoder.DynamicTable;
        if (_encoder.HasPendingSizeUpdate)
            _headCache.Clear(); // the block starts with the size update: never replayed
        else if (_headCache.TryGet(status, headers, contentLength, dateLine, table.Version, out var cached))
            return cached;
        var cacheable = !_encoder.HasPendingSizeUpdate;
        var version = table.Version;
        var block = Begin();
        _encoder.EncodeStatus(status, block);
        var mayCarryLength = status >= 200 && status != 204;
        foreach (var header in headers)
        {
            var name = header.Key;
            if (IsConnectionSpecific(name))
                continue;
            if (!mayCarryLength && name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase))
                continue;
            foreach (var value in header.Value)
                _encoder.EncodeHeader(name, value ?? "", block);
        }
        if (dateLine.Length > 8 && !headers.ContainsKey(HeaderNames.Date))
            _encoder.EncodeHeader("date"u8, dateLine[6..^2], block);
        if (_serverHeaderValue.Length != 0 && !headers.ContainsKey(HeaderNames.Server))
            _encoder.EncodeHeader("server"u8, _serverHeaderValue, block);
        if (contentLength is { } length)
        {
            Span<byte> digits = stackalloc byte[20];
            length.TryFormat(digits, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
            _encoder.EncodeHeader("content-length"u8, digits[..written], block);
        }
        if (cacheable && table.Version == version)
            _headCache.Store(status, headers, contentLength, dateLine, version, block.WrittenSpan);
        else
            _headCache.Clear();
        return block.WrittenSpan;
    }

    /// <summary>The trailers (connection-specific fields left out). The block is valid until the next call.</summary>
    public ReadOnlySpan<byte> EncodeTrailers(HeaderDictionary trailers)
    {
        var block = Begin();
        foreach (var trailer in trailers)
        {
            if (IsConnectionSpecific(trailer.Key))
                continue;
            foreach (var value in trailer.Value)
                _encoder.EncodeHeader(trailer.Key, value ?? "", block);
        }
        return block.WrittenSpan;
    }

    private ArrayBufferWriter<byte> Begin()
    {
        var block = _block;
        block.ResetWrittenCount();
        ApplyPeerTableSize();
        _encoder.BeginHeaderBlock(block);
        return block;
    }

    private void ApplyPeerTableSize()
    {
        if (Volatile.Read(ref _pendingPeerTableSize) < 0)
            return;
        var size = Interlocked.Exchange(ref _pendingPeerTableSize, -1);
        if (size >= 0)
            _encoder.SetPeerHeaderTableSize((uint)size);
    }

    /// <summary>Fields of HTTP/1.1 connection management that HTTP/2 forbids (RFC 9113 8.2.2).</summary>
    public static bool IsConnectionSpecific(string name) =>
        name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.KeepAlive, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ProxyConnection, StringComparison.OrdinalIgnoreCase);
}
