namespace Pounce.Http2;

/// <summary>Receives the fields of a header block as <see cref="HpackDecoder"/> decodes them.</summary>
internal interface IHpackHeaderHandler
{
    /// <summary>
    /// Called once per decoded field, in block order. The spans point into the decoder's buffers, the
    /// input or the dynamic table, and are valid only during the call: copy what must be kept.
    /// </summary>
    void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value);
}
