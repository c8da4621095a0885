namespace Pounce.Http2;

/// <summary>The error codes of RFC 9113 section 7, carried by RST_STREAM and GOAWAY.</summary>
/// <remarks>Unknown codes received from a peer are kept as their numeric value (RFC 9113 7: they must not trigger special behavior).</remarks>
internal enum Http2ErrorCode : uint
{
    /// <summary>NO_ERROR (0x0): graceful shutdown, not an error.</summary>
    NoError = 0x0,

    /// <summary>PROTOCOL_ERROR (0x1): an unspecific protocol error.</summary>
    ProtocolError = 0x1,

    /// <summary>INTERNAL_ERROR (0x2): an unexpected internal error.</summary>
    InternalError = 0x2,

    /// <summary>FLOW_CONTROL_ERROR (0x3): the peer violated the flow-control protocol.</summary>
    FlowControlError = 0x3,

    /// <summary>SETTINGS_TIMEOUT (0x4): a SETTINGS frame was not acknowledged in time.</summary>
    SettingsTimeout = 0x4,

    /// <summary>STREAM_CLOSED (0x5): a frame was received after a stream was half-closed.</summary>
    StreamClosed = 0x5,

    /// <summary>FRAME_SIZE_ERROR (0x6): a frame had an invalid size.</summary>
    FrameSizeError = 0x6,

    /// <summary>REFUSED_STREAM (0x7): the stream was refused before any application processing.</summary>
    RefusedStream = 0x7,

    /// <summary>CANCEL (0x8): the stream is no longer needed.</summary>
    Cancel = 0x8,

    /// <summary>COMPRESSION_ERROR (0x9): the field-compression context cannot be maintained.</summary>
    CompressionError = 0x9,

    /// <summary>CONNECT_ERROR (0xa): the connection of a CONNECT request was reset or abnormally closed.</summary>
    ConnectError = 0xa,

    /// <summary>ENHANCE_YOUR_CALM (0xb): the peer is generating excessive load.</summary>
    EnhanceYourCalm = 0xb,

    /// <summary>INADEQUATE_SECURITY (0xc): the transport does not meet minimum security requirements.</summary>
    InadequateSecurity = 0xc,

    /// <summary>HTTP_1_1_REQUIRED (0xd): the request must be retried over HTTP/1.1.</summary>
    Http11Required = 0xd,
}
