using System.Buffers;
using System.Buffers.Binary;

namespace Pounce.Http2;

// Typed views of received frame payloads (RFC 9113 section 6). Each Parse validates what can be checked from
// the frame alone and throws Http2ProtocolException with the RFC-named code and scope; rules that need
// connection or stream state (stream states, CONTINUATION sequencing, flow-control windows) are the
// connection's. Payload slices are views of the read buffer, valid as long as it is.

/// <summary>Stream priority fields of HEADERS and PRIORITY (RFC 9113 5.3.2, 6.3); deprecated, parsed and otherwise ignored.</summary>
internal readonly struct Http2Priority
{
    /// <summary>Creates priority fields.</summary>
    public Http2Priority(bool exclusive, int streamDependency, byte weight)
    {
        Exclusive = exclusive;
        StreamDependency = streamDependency;
        Weight = weight;
    }

    /// <summary>The E flag.</summary>
    public bool Exclusive { get; }

    /// <summary>The 31-bit stream this one depends on.</summary>
    public int StreamDependency { get; }

    /// <summary>The weight field as sent (the weight is this plus one).</summary>
    public byte Weight { get; }

    /// <summary>Size of the fields on the wire.</summary>
    public const int Size = 5;

    internal static Http2Priority Read(ReadOnlySpan<byte> source)
    {
        uint dependency = BinaryPrimitives.ReadUInt32BigEndian(source);
        return new Http2Priority((dependency & 0x80000000u) != 0, (int)(dependency & 0x7FFFFFFFu), source[4]);
    }

    internal void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)StreamDependency | (Exclusive ? 0x80000000u : 0u));
        destination[4] = Weight;
    }
}

/// <summary>Shared checks of the typed frame parsers.</summary>
internal static class Http2FramePayload
{
    /// <summary>Largest payload of the fixed-size frames that are copied to the stack when split across segments.</summary>
    public const int SmallPayloadLimit = 16;

    internal static void CheckType(in Http2Frame frame, Http2FrameType expected)
    {
        if (frame.Type != expected)
        {
            throw new ArgumentException($"Expected a {expected} frame, got {frame.Type}.", nameof(frame));
        }
    }

    internal static void RequireStream(in Http2Frame frame)
    {
        if (frame.StreamId == 0)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, $"{frame.Type} frame on stream 0.");
        }
    }

    internal static void RequireConnection(in Http2Frame frame)
    {
        if (frame.StreamId != 0)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, $"{frame.Type} frame on stream {frame.StreamId}, must be stream 0.", frame.StreamId);
        }
    }

    internal static ReadOnlySpan<byte> Small(in ReadOnlySequence<byte> payload, Span<byte> scratch)
    {
        if (payload.IsSingleSegment)
        {
            return payload.FirstSpan;
        }

        Span<byte> target = scratch.Slice(0, (int)payload.Length);
        payload.CopyTo(target);
        return target;
    }

    // Removes the Pad Length octet and padding; 'fixedFields' is the size of the fields between them.
    internal static ReadOnlySequence<byte> Unpad(in Http2Frame frame, int fixedFields, out int padLength)
    {
        ReadOnlySequence<byte> payload = frame.Payload;
        padLength = 0;
        int prefix = fixedFields;
        if (frame.Header.HasFlag(Http2FrameFlags.Padded))
        {
            if (payload.Length < 1 + fixedFields)
            {
                throw Http2ProtocolException.Connection(Http2ErrorCode.FrameSizeError, $"Padded {frame.Type} frame too short for its fields.", frame.StreamId);
            }

            ReadOnlySpan<byte> first = payload.FirstSpan;
            if (first.IsEmpty)
            {
                Span<byte> padByte = stackalloc byte[1];
                payload.Slice(0, 1).CopyTo(padByte);
                padLength = padByte[0];
            }
            else
            {
                padLength = first[0];
            }

            prefix++;
        }
        else if (payload.Length < fixedFields)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.FrameSizeError, $"{frame.Type} frame too short for its fields.", frame.StreamId);
        }

        long contentLength = payload.Length - prefix - padLength;
        if (contentLength < 0)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, $"{frame.Type} frame padding exceeds the payload.", frame.StreamId);
        }

        return payload.Slice(prefix, contentLength);
    }
}

/// <summary>A DATA frame (RFC 9113 6.1).</summary>
internal readonly struct Http2DataFrame
{
    private Http2DataFrame(int streamId, bool endStream, int padLength, int flowControlledLength, ReadOnlySequence<byte> data)
    {
        StreamId = streamId;
        EndStream = endStream;
        PadLength = padLength;
        FlowControlledLength = flowControlledLength;
        Data = data;
    }

    /// <summary>The stream.</summary>
    public int StreamId { get; }

    /// <summary>END_STREAM flag.</summary>
    public bool EndStream { get; }

    /// <summary>Padding length (0 when not padded).</summary>
    public int PadLength { get; }

    /// <summary>The whole payload length, padding included: what counts against flow-control windows (6.9.1).</summary>
    public int FlowControlledLength { get; }

    /// <summary>The data without padding.</summary>
    public ReadOnlySequence<byte> Data { get; }

    /// <summary>Parses a DATA frame.</summary>
    /// <exception cref="Http2ProtocolException">Stream 0 or padding not smaller than the payload: connection PROTOCOL_ERROR; PADDED without room for Pad Length: connection FRAME_SIZE_ERROR.</exception>
    public static Http2DataFrame Parse(in Http2Frame frame)
    {
        Http2FramePayload.CheckType(frame, Http2FrameType.Data);
        Http2FramePayload.RequireStream(frame);
        ReadOnlySequence<byte> data = Http2FramePayload.Unpad(frame, 0, out int padLength);
        return new Http2DataFrame(frame.StreamId, frame.Header.HasFlag(Http2FrameFlags.EndStream), padLength, frame.Header.Length, data);
    }
}

/// <summary>A HEADERS frame (RFC 9113 6.2).</summary>
internal readonly struct Http2HeadersFrame
{
    private Http2HeadersFrame(in Http2Frame frame, int padLength, Http2Priority? priority, ReadOnlySequence<byte> fragment, Http2ProtocolException? streamError)
    {
        StreamId = frame.StreamId;
        EndStream = frame.Header.HasFlag(Http2FrameFlags.EndStream);
        EndHeaders = frame.Header.HasFlag(Http2FrameFlags.EndHeaders);
        PadLength = padLength;
        Priority = priority;
        FieldBlockFragment = fragment;
        StreamError = streamError;
    }

    /// <summary>The stream.</summary>
    public int StreamId { get; }

    /// <summary>END_STREAM flag.</summary>
    public bool EndStream { get; }

    /// <summary>END_HEADERS flag; when clear, CONTINUATION frames follow.</summary>
    public bool EndHeaders { get; }

    /// <summary>Padding length (0 when not padded).</summary>
    public int PadLength { get; }

    /// <summary>Priority fields when the PRIORITY flag is set.</summary>
    public Http2Priority? Priority { get; }

    /// <summary>The field block fragment, for <see cref="HpackDecoder"/>.</summary>
    public ReadOnlySequence<byte> FieldBlockFragment { get; }

    /// <summary>
    /// A stream error found in the frame (the stream depends on itself: PROTOCOL_ERROR, RFC 9113 5.3.1), or null.
    /// It is not thrown because the field block must still be decoded to keep HPACK state in step; decode it,
    /// then reset the stream with this error.
    /// </summary>
    public Http2ProtocolException? StreamError { get; }

    /// <summary>Parses a HEADERS frame.</summary>
    /// <exception cref="Http2ProtocolException">Stream 0 or padding larger than the remaining payload: connection PROTOCOL_ERROR; payload too short for Pad Length / priority fields: connection FRAME_SIZE_ERROR.</exception>
    public static Http2HeadersFrame Parse(in Http2Frame frame)
    {
        Http2FramePayload.CheckType(frame, Http2FrameType.Headers);
        Http2FramePayload.RequireStream(frame);
        bool hasPriority = frame.Header.HasFlag(Http2FrameFlags.Priority);
        int padded = frame.Header.HasFlag(Http2FrameFlags.Padded) ? 1 : 0;
        ReadOnlySequence<byte> fragment = Http2FramePayload.Unpad(frame, hasPriority ? Http2Priority.Size : 0, out int padLength);
        Http2Priority? priority = null;
        Http2ProtocolException? streamError = null;
        if (hasPriority)
        {
            Span<byte> scratch = stackalloc byte[Http2Priority.Size];
            Http2Priority fields = Http2Priority.Read(Http2FramePayload.Small(frame.Payload.Slice(padded, Http2Priority.Size), scratch));
            priority = fields;
            if (fields.StreamDependency == frame.StreamId)
            {
                streamError = Http2ProtocolException.Stream(frame.StreamId, Http2ErrorCode.ProtocolError, "HEADERS frame makes the stream depend on itself.");
            }
        }

        return new Http2HeadersFrame(frame, padLength, priority, fragment, streamError);
    }
}

/// <summary>A PRIORITY frame (RFC 9113 6.3).</summary>
internal readonly struct Http2PriorityFrame
{
    private Http2PriorityFrame(int streamId, Http2Priority priority)
    {
        StreamId = streamId;
        Priority = priority;
    }

    /// <summary>The stream.</summary>
    public int StreamId { get; }

    /// <summary>The priority fields.</summary>
    public Http2Priority Priority { get; }

    /// <summary>Parses a PRIORITY frame.</summary>
    /// <exception cref="Http2ProtocolException">Stream 0: connection PROTOCOL_ERROR; length other than 5: stream FRAME_SIZE_ERROR; depends on itself: stream PROTOCOL_ERROR.</exception>
    public static Http2PriorityFrame Parse(in Http2Frame frame)
    {
        Http2FramePayload.CheckType(frame, Http2FrameType.Priority);
        Http2FramePayload.RequireStream(frame);
        if (frame.Header.Length != Http2Priority.Size)
        {
            throw Http2ProtocolException.Stream(frame.StreamId, Http2ErrorCode.FrameSizeError, "PRIORITY frame length must be 5.");
        }

        Span<byte> scratch = stackalloc byte[Http2Priority.Size];
        Http2Priority priority = Http2Priority.Read(Http2FramePayload.Small(frame.Payload, scratch));
        if (priority.StreamDependency == frame.StreamId)
        {
            throw Http2ProtocolException.Stream(frame.StreamId, Http2ErrorCode.ProtocolError, "PRIORITY frame makes the stream depend on itself.");
        }

        return new Http2PriorityFrame(frame.StreamId, priority);
    }
}

/// <summary>An RST_STREAM frame (RFC 9113 6.4).</summary>
internal readonly struct Http2RstStreamFrame
{
    private Http2RstStreamFrame(int streamId, Http2ErrorCode errorCode)
    {
        StreamId = streamId;
        ErrorCode = errorCode;
    }

    /// <summary>The stream.</summary>
    public int StreamId { get; }

    /// <summary>The error code (possibly a value unknown to <see cref="Http2ErrorCode"/>).</summary>
    public Http2ErrorCode ErrorCode { get; }

    /// <summary>Parses an RST_STREAM frame.</summary>
    /// <exception cref="Http2ProtocolException">Stream 0: connection PROTOCOL_ERROR; length other than 4: connection FRAME_SIZE_ERROR.</exception>
    public static Http2RstStreamFrame Parse(in Http2Frame frame)
    {
        Http2FramePayload.CheckType(frame, Http2FrameType.RstStream);
        Http2FramePayload.RequireStream(frame);
        if (frame.Header.Length != 4)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.FrameSizeError, "RST_STREAM frame length must be 4.", frame.StreamId);
        }

        Span<byte> scratch = stackalloc byte[4];
        uint code = BinaryPrimitives.ReadUInt32BigEndian(Http2FramePayload.Small(frame.Payload, scratch));
        return new Http2RstStreamFrame(frame.StreamId, (Http2ErrorCode)code);
    }
}

/// <summary>A PUSH_PROMISE frame (RFC 9113 6.6). Clients never push to a server, so a server rejects it.</summary>
internal readonly struct Http2PushPromiseFrame
{
    private Http2PushPromiseFrame(int streamId, bool endHeaders, int padLength, int promisedStreamId, ReadOnlySequence<byte> fragment)
    {
        StreamId = streamId;
        EndHeaders = endHeaders;
        PadLength = padLength;
        PromisedStreamId = promisedStreamId;
        FieldBlockFragment = fragment;
    }

    /// <summary>The associated stream.</summary>
    public int StreamId { get; }

    /// <summary>END_HEADERS flag.</summary>
    public bool EndHeaders { get; }

    /// <summary>Padding length (0 when not padded).</summary>
    public int PadLength { get; }

    /// <summary>The promised stream id (reserved bit dropped).</summary>
    public int PromisedStreamId { get; }

    /// <summary>The field block fragment.</summary>
    public ReadOnlySequence<byte> FieldBlockFragment { get; }

    /// <summary>Parses a PUSH_PROMISE frame.</summary>
    /// <param name="frame">The frame.</param>
    /// <param name="receivedByServer">
    /// <see langword="true"/> (the default, as this is a server): receiving PUSH_PROMISE is a connection
    /// PROTOCOL_ERROR (RFC 9113 8.4). <see langword="false"/> parses it, for completeness and tests.
    /// </param>
    /// <exception cref="Http2ProtocolException">See <paramref name="receivedByServer"/>; stream 0 or bad padding: connection PROTOCOL_ERROR; too short: connection FRAME_SIZE_ERROR.</exception>
    public static Http2PushPromiseFrame Parse(in Http2Frame frame, bool receivedByServer = true)
    {
        Http2FramePayload.CheckType(frame, Http2FrameType.PushPromise);
        if (receivedByServer)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "A server must not receive PUSH_PROMISE.", frame.StreamId);
        }

        Http2FramePayload.RequireStream(frame);
        int padded = frame.Header.HasFlag(Http2FrameFlags.Padded) ? 1 : 0;
        ReadOnlySequence<byte> fragment = Http2FramePayload.Unpad(frame, 4, out int padLength);
        Span<byte> scratch = stackalloc byte[4];
        uint promised = BinaryPrimitives.ReadUInt32BigEndian(Http2FramePayload.Small(frame.Payload.Slice(padded, 4), scratch));
        return new Http2PushPromiseFrame(frame.StreamId, frame.Header.HasFlag(Http2FrameFlags.EndHeaders), padLength, (int)(promised & 0x7FFFFFFFu), fragment);
    }
}

/// <summary>A PING frame (RFC 9113 6.7).</summary>
internal readonly struct Http2PingFrame
{
    private Http2PingFrame(bool isAck, ulong opaqueData)
    {
        IsAck = isAck;
        OpaqueData = opaqueData;
    }

    /// <summary>Size of the payload.</summary>
    public const int PayloadSize = 8;

    /// <summary>ACK flag: a response to our PING.</summary>
    public bool IsAck { get; }

    /// <summary>The 8 opaque octets, big-endian, to echo back.</summary>
    public ulong OpaqueData { get; }

    /// <summary>Parses a PING frame.</summary>
    /// <exception cref="Http2ProtocolException">Stream other than 0: connection PROTOCOL_ERROR; length other than 8: connection FRAME_SIZE_ERROR.</exception>
    public static Http2PingFrame Parse(in Http2Frame frame)
    {
        Http2FramePayload.CheckType(frame, Http2FrameType.Ping);
        Http2FramePayload.RequireConnection(frame);
        if (frame.Header.Length != PayloadSize)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.FrameSizeError, "PING frame length must be 8.");
        }

        Span<byte> scratch = stackalloc byte[PayloadSize];
        ulong data = BinaryPrimitives.ReadUInt64BigEndian(Http2FramePayload.Small(frame.Payload, scratch));
        return new Http2PingFrame(frame.Header.HasFlag(Http2FrameFlags.Ack), data);
    }
}

/// <summary>A GOAWAY frame (RFC 9113 6.8).</summary>
internal readonly struct Http2GoAwayFrame
{
    private Http2GoAwayFrame(int lastStreamId, Http2ErrorCode errorCode, ReadOnlySequence<byte> debugData)
    {
        LastStreamId = lastStreamId;
        ErrorCode = errorCode;
        DebugData = debugData;
    }

    /// <summary>The last stream id the sender may have processed (reserved bit dropped).</summary>
    public int LastStreamId { get; }

    /// <summary>The error code (possibly a value unknown to <see cref="Http2ErrorCode"/>).</summary>
    public Http2ErrorCode ErrorCode { get; }

    /// <summary>Additional debug data; opaque, possibly empty.</summary>
    public ReadOnlySequence<byte> DebugData { get; }

    /// <summary>Parses a GOAWAY frame.</summary>
    /// <exception cref="Http2ProtocolException">Stream other than 0: connection PROTOCOL_ERROR; shorter than 8: connection FRAME_SIZE_ERROR.</exception>
    public static Http2GoAwayFrame Parse(in Http2Frame frame)
    {
        Http2FramePayload.CheckType(frame, Http2FrameType.GoAway);
        Http2FramePayload.RequireConnection(frame);
        if (frame.Header.Length < 8)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.FrameSizeError, "GOAWAY frame shorter than 8.");
        }

        Span<byte> scratch = stackalloc byte[8];
        ReadOnlySpan<byte> fixedFields = Http2FramePayload.Small(frame.Payload.Slice(0, 8), scratch);
        uint lastStreamId = BinaryPrimitives.ReadUInt32BigEndian(fixedFields) & 0x7FFFFFFFu;
        uint code = BinaryPrimitives.ReadUInt32BigEndian(fixedFields.Slice(4));
        return new Http2GoAwayFrame((int)lastStreamId, (Http2ErrorCode)code, frame.Payload.Slice(8));
    }
}

/// <summary>A WINDOW_UPDATE frame (RFC 9113 6.9).</summary>
internal readonly struct Http2WindowUpdateFrame
{
    private Http2WindowUpdateFrame(int streamId, int increment)
    {
        StreamId = streamId;
        Increment = increment;
    }

    /// <summary>The stream, or 0 for the connection window.</summary>
    public int StreamId { get; }

    /// <summary>The window size increment, 1..2^31-1 (reserved bit dropped).</summary>
    public int Increment { get; }

    /// <summary>Parses a WINDOW_UPDATE frame.</summary>
    /// <exception cref="Http2ProtocolException">
    /// Length other than 4: connection FRAME_SIZE_ERROR; increment 0: PROTOCOL_ERROR, a connection error on
    /// stream 0 and a stream error otherwise. (Window overflow past 2^31-1 needs the window: the connection's check.)
    /// </exception>
    public static Http2WindowUpdateFrame Parse(in Http2Frame frame)
    {
        Http2FramePayload.CheckType(frame, Http2FrameType.WindowUpdate);
        if (frame.Header.Length != 4)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.FrameSizeError, "WINDOW_UPDATE frame length must be 4.", frame.StreamId);
        }

        Span<byte> scratch = stackalloc byte[4];
        int increment = (int)(BinaryPrimitives.ReadUInt32BigEndian(Http2FramePayload.Small(frame.Payload, scratch)) & 0x7FFFFFFFu);
        if (increment == 0)
        {
            if (frame.StreamId == 0)
            {
                throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "WINDOW_UPDATE with increment 0 on the connection.");
            }

            throw Http2ProtocolException.Stream(frame.StreamId, Http2ErrorCode.ProtocolError, "WINDOW_UPDATE with increment 0.");
        }

        return new Http2WindowUpdateFrame(frame.StreamId, increment);
    }
}

/// <summary>A CONTINUATION frame (RFC 9113 6.10).</summary>
internal readonly struct Http2ContinuationFrame
{
    private Http2ContinuationFrame(int streamId, bool endHeaders, ReadOnlySequence<byte> fragment)
    {
        StreamId = streamId;
        EndHeaders = endHeaders;
        FieldBlockFragment = fragment;
    }

    /// <summary>The stream.</summary>
    public int StreamId { get; }

    /// <summary>END_HEADERS flag.</summary>
    public bool EndHeaders { get; }

    /// <summary>The field block fragment.</summary>
    public ReadOnlySequence<byte> FieldBlockFragment { get; }

    /// <summary>Parses a CONTINUATION frame. That it directly follows HEADERS/CONTINUATION of the same stream is the connection's check (connection PROTOCOL_ERROR).</summary>
    /// <exception cref="Http2ProtocolException">Stream 0: connection PROTOCOL_ERROR.</exception>
    public static Http2ContinuationFrame Parse(in Http2Frame frame)
    {
        Http2FramePayload.CheckType(frame, Http2FrameType.Continuation);
        Http2FramePayload.RequireStream(frame);
        return new Http2ContinuationFrame(frame.StreamId, frame.Header.HasFlag(Http2FrameFlags.EndHeaders), frame.Payload);
    }
}
