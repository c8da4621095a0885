using System.Buffers.Binary;

namespace Pounce.Http2;

/// <summary>The frame types of RFC 9113 section 6. Other values are unknown types, which a receiver ignores.</summary>
internal enum Http2FrameType : byte
{
    /// <summary>DATA (0x0).</summary>
    Data = 0x0,

    /// <summary>HEADERS (0x1).</summary>
    Headers = 0x1,

    /// <summary>PRIORITY (0x2), deprecated but still parsed.</summary>
    Priority = 0x2,

    /// <summary>RST_STREAM (0x3).</summary>
    RstStream = 0x3,

    /// <summary>SETTINGS (0x4).</summary>
    Settings = 0x4,

    /// <summary>PUSH_PROMISE (0x5).</summary>
    PushPromise = 0x5,

    /// <summary>PING (0x6).</summary>
    Ping = 0x6,

    /// <summary>GOAWAY (0x7).</summary>
    GoAway = 0x7,

    /// <summary>WINDOW_UPDATE (0x8).</summary>
    WindowUpdate = 0x8,

    /// <summary>CONTINUATION (0x9).</summary>
    Continuation = 0x9,
}

/// <summary>Frame flags (RFC 9113 section 6); the meaning of a bit depends on the frame type.</summary>
[Flags]
internal enum Http2FrameFlags : byte
{
    /// <summary>No flags.</summary>
    None = 0x0,

    /// <summary>END_STREAM (DATA, HEADERS).</summary>
    EndStream = 0x1,

    /// <summary>ACK (SETTINGS, PING); same bit as <see cref="EndStream"/>.</summary>
    Ack = 0x1,

    /// <summary>END_HEADERS (HEADERS, PUSH_PROMISE, CONTINUATION).</summary>
    EndHeaders = 0x4,

    /// <summary>PADDED (DATA, HEADERS, PUSH_PROMISE).</summary>
    Padded = 0x8,

    /// <summary>PRIORITY (HEADERS).</summary>
    Priority = 0x20,
}

/// <summary>
/// The 9-octet frame header of RFC 9113 4.1: 24-bit payload length, type, flags, and a 31-bit stream id
/// after one reserved bit (ignored on receipt, sent as 0).
/// </summary>
internal readonly struct Http2FrameHeader : IEquatable<Http2FrameHeader>
{
    /// <summary>Size of the frame header in octets.</summary>
    public const int Size = 9;

    /// <summary>Largest length the 24-bit field can carry (also the largest SETTINGS_MAX_FRAME_SIZE).</summary>
    public const int MaxLength = 0xFFFFFF;

    /// <summary>Creates a frame header.</summary>
    public Http2FrameHeader(int length, Http2FrameType type, Http2FrameFlags flags, int streamId)
    {
        Length = length;
        Type = type;
        Flags = flags;
        StreamId = streamId;
    }

    /// <summary>Payload length in octets (0..2^24-1).</summary>
    public int Length { get; }

    /// <summary>Frame type; may be a value outside <see cref="Http2FrameType"/> (an unknown type).</summary>
    public Http2FrameType Type { get; }

    /// <summary>Flags as sent.</summary>
    public Http2FrameFlags Flags { get; }

    /// <summary>Stream identifier (31 bits); 0 for connection frames.</summary>
    public int StreamId { get; }

    /// <summary>Whether the type is one of RFC 9113's (unknown types must be ignored, 4.1/5.5).</summary>
    public bool IsKnownType => (byte)Type <= (byte)Http2FrameType.Continuation;

    /// <summary>Whether all of <paramref name="flags"/> are set.</summary>
    public bool HasFlag(Http2FrameFlags flags) => (Flags & flags) == flags;

    /// <summary>Reads a header from the first 9 bytes of <paramref name="source"/>; the reserved bit is dropped.</summary>
    public static Http2FrameHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ArgumentException("A frame header is 9 bytes.", nameof(source));
        }

        int length = (source[0] << 16) | (source[1] << 8) | source[2];
        int streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(source.Slice(5)) & 0x7FFFFFFFu);
        return new Http2FrameHeader(length, (Http2FrameType)source[3], (Http2FrameFlags)source[4], streamId);
    }

    /// <summary>Writes this header into the first 9 bytes of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        if ((uint)Length > MaxLength)
        {
            throw new InvalidOperationException("Frame length does not fit in 24 bits.");
        }

        if (StreamId < 0)
        {
            throw new InvalidOperationException("Stream id must be 31 bits.");
        }

        if (destination.Length < Size)
        {
            throw new ArgumentException("A frame header is 9 bytes.", nameof(destination));
        }

        destination[0] = (byte)(Length >> 16);
        destination[1] = (byte)(Length >> 8);
        destination[2] = (byte)Length;
        destination[3] = (byte)Type;
        destination[4] = (byte)Flags;
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(5), (uint)StreamId);
    }

    /// <inheritdoc/>
    public bool Equals(Http2FrameHeader other) =>
        Length == other.Length && Type == other.Type && Flags == other.Flags && StreamId == other.StreamId;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Http2FrameHeader other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Length, Type, Flags, StreamId);

    /// <inheritdoc/>
    public override string ToString() => $"{Type} len={Length} flags=0x{(byte)Flags:x2} stream={StreamId}";
}
