using System.Buffers;
using System.Buffers.Binary;

namespace Pounce.Http2;

/// <summary>
/// Writes frames (RFC 9113 section 6) into an <see cref="IBufferWriter{T}"/>. Arguments that would produce an
/// invalid frame are programming errors and throw <see cref="ArgumentException"/>; respecting the peer's
/// SETTINGS_MAX_FRAME_SIZE is the caller's job (see <see cref="WriteHeaderBlock"/> for field blocks).
/// </summary>
internal static class Http2FrameWriter
{
    /// <summary>Writes a frame header.</summary>
    public static void WriteFrameHeader(IBufferWriter<byte> output, Http2FrameHeader header)
    {
        header.Write(output.GetSpan(Http2FrameHeader.Size));
        output.Advance(Http2FrameHeader.Size);
    }

    /// <summary>Writes a DATA frame; with <paramref name="padLength"/> it is PADDED with that many zero octets.</summary>
    public static void WriteData(IBufferWriter<byte> output, int streamId, ReadOnlySpan<byte> data, bool endStream, int? padLength = null)
    {
        CheckStream(streamId);
        WritePadded(output, Http2FrameType.Data, endStream ? Http2FrameFlags.EndStream : Http2FrameFlags.None, streamId, padLength, default, data);
    }

    /// <summary>Writes a HEADERS frame, optionally with priority fields (PRIORITY flag) and padding.</summary>
    public static void WriteHeaders(
        IBufferWriter<byte> output,
        int streamId,
        ReadOnlySpan<byte> fieldBlockFragment,
        bool endStream,
        bool endHeaders,
        Http2Priority? priority = null,
        int? padLength = null)
    {
        CheckStream(streamId);
        Http2FrameFlags flags = (endStream ? Http2FrameFlags.EndStream : 0) | (endHeaders ? Http2FrameFlags.EndHeaders : 0);
        Span<byte> fields = stackalloc byte[Http2Priority.Size];
        if (priority is { } p)
        {
            flags |= Http2FrameFlags.Priority;
            p.Write(fields);
        }
        else
        {
            fields = default;
        }

        WritePadded(output, Http2FrameType.Headers, flags, streamId, padLength, fields, fieldBlockFragment);
    }

    /// <summary>
    /// Writes a field block as one HEADERS frame followed by as many CONTINUATION frames as needed so that no
    /// frame exceeds <paramref name="maxFrameSize"/> (the peer's SETTINGS_MAX_FRAME_SIZE).
    /// </summary>
    public static void WriteHeaderBlock(IBufferWriter<byte> output, int streamId, ReadOnlySpan<byte> fieldBlock, bool endStream, int maxFrameSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrameSize, Http2FrameReader.DefaultMaxFrameSize);
        int first = Math.Min(fieldBlock.Length, maxFrameSize);
        WriteHeaders(output, streamId, fieldBlock.Slice(0, first), endStream, endHeaders: first == fieldBlock.Length);
        ReadOnlySpan<byte> rest = fieldBlock.Slice(first);
        while (rest.Length > 0)
        {
            int length = Math.Min(rest.Length, maxFrameSize);
            WriteContinuation(output, streamId, rest.Slice(0, length), endHeaders: length == rest.Length);
            rest = rest.Slice(length);
        }
    }

    /// <summary>Writes a PRIORITY frame.</summary>
    public static void WritePriority(IBufferWriter<byte> output, int streamId, Http2Priority priority)
    {
        CheckStream(streamId);
        Span<byte> span = output.GetSpan(Http2FrameHeader.Size + Http2Priority.Size);
        new Http2FrameHeader(Http2Priority.Size, Http2FrameType.Priority, Http2FrameFlags.None, streamId).Write(span);
        priority.Write(span.Slice(Http2FrameHeader.Size));
        output.Advance(Http2FrameHeader.Size + Http2Priority.Size);
    }

    /// <summary>Writes an RST_STREAM frame.</summary>
    public static void WriteRstStream(IBufferWriter<byte> output, int streamId, Http2ErrorCode errorCode)
    {
        CheckStream(streamId);
        Span<byte> span = output.GetSpan(Http2FrameHeader.Size + 4);
        new Http2FrameHeader(4, Http2FrameType.RstStream, Http2FrameFlags.None, streamId).Write(span);
        BinaryPrimitives.WriteUInt32BigEndian(span.Slice(Http2FrameHeader.Size), (uint)errorCode);
        output.Advance(Http2FrameHeader.Size + 4);
    }

    /// <summary>Writes a SETTINGS frame carrying <paramref name="settings"/> in order.</summary>
    public static void WriteSettings(IBufferWriter<byte> output, ReadOnlySpan<Http2Setting> settings)
    {
        int length = settings.Length * Http2Setting.Size;
        Span<byte> span = output.GetSpan(Http2FrameHeader.Size + length);
        new Http2FrameHeader(length, Http2FrameType.Settings, Http2FrameFlags.None, 0).Write(span);
        Span<byte> payload = span.Slice(Http2FrameHeader.Size);
        for (int i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload.Slice(i * Http2Setting.Size), (ushort)settings[i].Id);
            BinaryPrimitives.WriteUInt32BigEndian(payload.Slice((i * Http2Setting.Size) + 2), settings[i].Value);
        }

        output.Advance(Http2FrameHeader.Size + length);
    }

    /// <summary>Writes an empty SETTINGS frame with ACK.</summary>
    public static void WriteSettingsAck(IBufferWriter<byte> output) =>
        WriteFrameHeader(output, new Http2FrameHeader(0, Http2FrameType.Settings, Http2FrameFlags.Ack, 0));

    /// <summary>Writes a PUSH_PROMISE frame (this server does not push; provided for completeness and tests).</summary>
    public static void WritePushPromise(IBufferWriter<byte> output, int streamId, int promisedStreamId, ReadOnlySpan<byte> fieldBlockFragment, bool endHeaders, int? padLength = null)
    {
        CheckStream(streamId);
        CheckStream(promisedStreamId);
        Span<byte> promised = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(promised, (uint)promisedStreamId);
        WritePadded(output, Http2FrameType.PushPromise, endHeaders ? Http2FrameFlags.EndHeaders : 0, streamId, padLength, promised, fieldBlockFragment);
    }

    /// <summary>Writes a PING frame (with ACK when answering one).</summary>
    public static void WritePing(IBufferWriter<byte> output, ulong opaqueData, bool ack)
    {
        Span<byte> span = output.GetSpan(Http2FrameHeader.Size + Http2PingFrame.PayloadSize);
        new Http2FrameHeader(Http2PingFrame.PayloadSize, Http2FrameType.Ping, ack ? Http2FrameFlags.Ack : 0, 0).Write(span);
        BinaryPrimitives.WriteUInt64BigEndian(span.Slice(Http2FrameHeader.Size), opaqueData);
        output.Advance(Http2FrameHeader.Size + Http2PingFrame.PayloadSize);
    }

    /// <summary>Writes a GOAWAY frame.</summary>
    public static void WriteGoAway(IBufferWriter<byte> output, int lastStreamId, Http2ErrorCode errorCode, ReadOnlySpan<byte> debugData = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lastStreamId);
        int length = 8 + debugData.Length;
        CheckLength(length);
        Span<byte> span = output.GetSpan(Http2FrameHeader.Size + length);
        new Http2FrameHeader(length, Http2FrameType.GoAway, Http2FrameFlags.None, 0).Write(span);
        BinaryPrimitives.WriteUInt32BigEndian(span.Slice(Http2FrameHeader.Size), (uint)lastStreamId);
        BinaryPrimitives.WriteUInt32BigEndian(span.Slice(Http2FrameHeader.Size + 4), (uint)errorCode);
        debugData.CopyTo(span.Slice(Http2FrameHeader.Size + 8));
        output.Advance(Http2FrameHeader.Size + length);
    }

    /// <summary>Writes a WINDOW_UPDATE frame; <paramref name="increment"/> must be 1..2^31-1.</summary>
    public static void WriteWindowUpdate(IBufferWriter<byte> output, int streamId, int increment)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(streamId);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(increment);
        Span<byte> span = output.GetSpan(Http2FrameHeader.Size + 4);
        new Http2FrameHeader(4, Http2FrameType.WindowUpdate, Http2FrameFlags.None, streamId).Write(span);
        BinaryPrimitives.WriteUInt32BigEndian(span.Slice(Http2FrameHeader.Size), (uint)increment);
        output.Advance(Http2FrameHeader.Size + 4);
    }

    /// <summary>Writes a CONTINUATION frame.</summary>
    public static void WriteContinuation(IBufferWriter<byte> output, int streamId, ReadOnlySpan<byte> fieldBlockFragment, bool endHeaders)
    {
        CheckStream(streamId);
        CheckLength(fieldBlockFragment.Length);
        Span<byte> span = output.GetSpan(Http2FrameHeader.Size + fieldBlockFragment.Length);
        new Http2FrameHeader(fieldBlockFragment.Length, Http2FrameType.Continuation, endHeaders ? Http2FrameFlags.EndHeaders : 0, streamId).Write(span);
        fieldBlockFragment.CopyTo(span.Slice(Http2FrameHeader.Size));
        output.Advance(Http2FrameHeader.Size + fieldBlockFragment.Length);
    }

    // [Pad Length?] [fixed fields] [content] [padding?]
    private static void WritePadded(
        IBufferWriter<byte> output,
        Http2FrameType type,
        Http2FrameFlags flags,
        int streamId,
        int? padLength,
        ReadOnlySpan<byte> fixedFields,
        ReadOnlySpan<byte> content)
    {
        int pad = 0;
        int padPrefix = 0;
        if (padLength is { } requested)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(requested, nameof(padLength));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(requested, 255, nameof(padLength));
            pad = requested;
            padPrefix = 1;
            flags |= Http2FrameFlags.Padded;
        }

        int length = padPrefix + fixedFields.Length + content.Length + pad;
        CheckLength(length);
        Span<byte> span = output.GetSpan(Http2FrameHeader.Size + length);
        new Http2FrameHeader(length, type, flags, streamId).Write(span);
        int position = Http2FrameHeader.Size;
        if (padPrefix != 0)
        {
            span[position++] = (byte)pad;
        }

        fixedFields.CopyTo(span.Slice(position));
        position += fixedFields.Length;
        content.CopyTo(span.Slice(position));
        position += content.Length;
        span.Slice(position, pad).Clear();
        output.Advance(position + pad);
    }

    private static void CheckStream(int streamId) => ArgumentOutOfRangeException.ThrowIfNegativeOrZero(streamId);

    private static void CheckLength(int length)
    {
        if (length > Http2FrameHeader.MaxLength)
        {
            throw new ArgumentException("Frame payload does not fit in 24 bits.");
        }
    }
}
