using System.Buffers;

namespace Pounce.Http2;

/// <summary>A complete frame: its header and its payload, a slice of the buffer it was read from.</summary>
internal readonly struct Http2Frame
{
    /// <summary>Creates a frame.</summary>
    public Http2Frame(Http2FrameHeader header, ReadOnlySequence<byte> payload)
    {
        Header = header;
        Payload = payload;
    }

    /// <summary>The frame header.</summary>
    public Http2FrameHeader Header { get; }

    /// <summary>The payload; valid as long as the buffer it was sliced from.</summary>
    public ReadOnlySequence<byte> Payload { get; }

    /// <summary>Shortcut for <c>Header.Type</c>.</summary>
    public Http2FrameType Type => Header.Type;

    /// <summary>Shortcut for <c>Header.StreamId</c>.</summary>
    public int StreamId => Header.StreamId;

    /// <summary>Shortcut for <c>Header.Flags</c>.</summary>
    public Http2FrameFlags Flags => Header.Flags;
}

/// <summary>Splits received bytes into frames (RFC 9113 4.1, 4.2).</summary>
internal static class Http2FrameReader
{
    /// <summary>The minimum (and initial) SETTINGS_MAX_FRAME_SIZE.</summary>
    public const int DefaultMaxFrameSize = 16_384;

    /// <summary>
    /// Reads one complete frame from the start of <paramref name="buffer"/>. On success, <paramref name="buffer"/>
    /// is advanced past the frame; when the frame is not complete yet, returns <see langword="false"/> and leaves
    /// <paramref name="buffer"/> unchanged (the caller should keep the bytes and read more).
    /// </summary>
    /// <param name="buffer">Received bytes.</param>
    /// <param name="maxFrameSize">The SETTINGS_MAX_FRAME_SIZE this endpoint advertised.</param>
    /// <param name="frame">The frame read.</param>
    /// <exception cref="Http2ProtocolException">
    /// FRAME_SIZE_ERROR, as a connection error, when the length exceeds <paramref name="maxFrameSize"/> or is wrong
    /// for a fixed-size connection-level frame (SETTINGS, PING, WINDOW_UPDATE, RST_STREAM): checked as soon as the
    /// header is in, without waiting for the payload. RFC 9113 4.2 allows a stream error for frames that
    /// cannot change connection state, but the frame's bytes would still have to be skipped; ending the
    /// connection is the simple, allowed choice.
    /// </exception>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, int maxFrameSize, out Http2Frame frame)
    {
        frame = default;
        if (buffer.Length < Http2FrameHeader.Size)
        {
            return false;
        }

        Http2FrameHeader header;
        ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (first.Length >= Http2FrameHeader.Size)
        {
            header = Http2FrameHeader.Read(first);
        }
        else
        {
            Span<byte> headerBytes = stackalloc byte[Http2FrameHeader.Size];
            buffer.Slice(0, Http2FrameHeader.Size).CopyTo(headerBytes);
            header = Http2FrameHeader.Read(headerBytes);
        }

        if (header.Length > maxFrameSize)
        {
            throw Http2ProtocolException.Connection(
                Http2ErrorCode.FrameSizeError,
                $"Frame length {header.Length} exceeds SETTINGS_MAX_FRAME_SIZE {maxFrameSize}.",
                header.StreamId);
        }

        CheckFixedLength(header);
        long total = Http2FrameHeader.Size + (long)header.Length;
        if (buffer.Length < total)
        {
            return false;
        }

        frame = new Http2Frame(header, buffer.Slice(Http2FrameHeader.Size, header.Length));
        buffer = buffer.Slice(total);
        return true;
    }

    /// <summary>
    /// Frames of a fixed size that could change connection state are refused on their header alone (connection
    /// FRAME_SIZE_ERROR): a wrong length is known before the payload arrives, and a peer announcing more octets than
    /// it sends must not leave the connection waiting for them. The typed parsers check the same again.
    /// </summary>
    private static void CheckFixedLength(in Http2FrameHeader header)
    {
        bool wrong = header.Type switch
        {
            Http2FrameType.Settings => header.HasFlag(Http2FrameFlags.Ack) ? header.Length != 0 : header.Length % Http2Setting.Size != 0,
            Http2FrameType.Ping => header.Length != Http2PingFrame.PayloadSize,
            Http2FrameType.WindowUpdate or Http2FrameType.RstStream => header.Length != 4,
            _ => false,
        };
        if (wrong)
        {
            throw Http2ProtocolException.Connection(
                Http2ErrorCode.FrameSizeError, $"{header.Type} frame with length {header.Length}.", header.StreamId);
        }
    }
}
