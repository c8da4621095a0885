namespace Pounce.Http2;

/// <summary>
/// An HPACK decoding failure. The decoder's dynamic table is no longer in step with the peer's encoder,
/// so the connection must end with a connection error of type <see cref="Http2ErrorCode.CompressionError"/>
/// (RFC 9113 4.3), also when <see cref="HeaderListTooLarge"/> is set.
/// </summary>
internal sealed class HpackDecodingException : Exception
{
    /// <summary>Creates the exception for a malformed header block.</summary>
    public HpackDecodingException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception, noting whether the cause is the header list size limit.</summary>
    public HpackDecodingException(string message, bool headerListTooLarge)
        : base(message)
    {
        HeaderListTooLarge = headerListTooLarge;
    }

    /// <summary>The decoded header list exceeded the limit (name + value + 32 per field, RFC 9113 6.5.2); decoding stopped there.</summary>
    public bool HeaderListTooLarge { get; }

    /// <summary>The HTTP/2 error code the connection must send: always <see cref="Http2ErrorCode.CompressionError"/>.</summary>
    public Http2ErrorCode ErrorCode => Http2ErrorCode.CompressionError;
}
