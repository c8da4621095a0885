namespace Pounce.Http2;

/// <summary>
/// A violation of RFC 9113 found while reading a frame: the RFC-named error code, and whether the
/// connection must end with GOAWAY (<see cref="IsConnectionError"/>) or only the stream must be reset
/// with RST_STREAM (a stream error, RFC 9113 5.4.2) on <see cref="StreamId"/>.
/// </summary>
internal sealed class Http2ProtocolException : Exception
{
    private Http2ProtocolException(string message, Http2ErrorCode errorCode, bool isConnectionError, int streamId)
        : base(message)
    {
        ErrorCode = errorCode;
        IsConnectionError = isConnectionError;
        StreamId = streamId;
    }

    /// <summary>The error code to send in GOAWAY (connection error) or RST_STREAM (stream error).</summary>
    public Http2ErrorCode ErrorCode { get; }

    /// <summary><see langword="true"/> for a connection error (RFC 9113 5.4.1), <see langword="false"/> for a stream error (5.4.2).</summary>
    public bool IsConnectionError { get; }

    /// <summary>The stream to reset for a stream error; the frame's stream id (possibly 0) for a connection error.</summary>
    public int StreamId { get; }

    /// <summary>Creates a connection error (RFC 9113 5.4.1).</summary>
    public static Http2ProtocolException Connection(Http2ErrorCode errorCode, string message, int streamId = 0) =>
        new(message, errorCode, isConnectionError: true, streamId);

    /// <summary>Creates a stream error (RFC 9113 5.4.2) for <paramref name="streamId"/>.</summary>
    public static Http2ProtocolException Stream(int streamId, Http2ErrorCode errorCode, string message) =>
        new(message, errorCode, isConnectionError: false, streamId);
}
