namespace Pounce.Http2;

/// <summary>HPACK prefixed integers (RFC 7541 5.1), limited to <see cref="int.MaxValue"/>.</summary>
internal static class HpackInteger
{
    /// <summary>
    /// Decodes an integer whose first byte is <c>source[position]</c>, using its low <paramref name="prefixBits"/> bits.
    /// Returns <see langword="false"/> when <paramref name="source"/> ends before the integer does; then
    /// <paramref name="position"/> is unchanged. On success <paramref name="position"/> is just past the integer.
    /// </summary>
    /// <exception cref="HpackDecodingException">The value exceeds <see cref="int.MaxValue"/> (or is padded with too many zero continuation bytes).</exception>
    public static bool TryDecode(ReadOnlySpan<byte> source, ref int position, int prefixBits, out int value)
    {
        int pos = position;
        int prefixMask = (1 << prefixBits) - 1;
        value = source[pos++] & prefixMask;
        if (value < prefixMask)
        {
            position = pos;
            return true;
        }

        ulong result = (ulong)value;
        int shift = 0;
        while (true)
        {
            if (pos >= source.Length)
            {
                value = 0;
                return false;
            }

            byte b = source[pos++];

            // 31 bits of value fit in 5 continuation bytes (shift 0..28); a sixth one can only overflow.
            if (shift > 28)
            {
                throw new HpackDecodingException("HPACK integer exceeds 2^31-1.");
            }

            result += (ulong)(b & 0x7F) << shift;
            if (result > int.MaxValue)
            {
                throw new HpackDecodingException("HPACK integer exceeds 2^31-1.");
            }

            shift += 7;
            if ((b & 0x80) == 0)
            {
                break;
            }
        }

        value = (int)result;
        position = pos;
        return true;
    }

    /// <summary>Returns the number of bytes <paramref name="value"/> takes with an N-bit prefix.</summary>
    public static int GetEncodedLength(int value, int prefixBits)
    {
        int prefixMask = (1 << prefixBits) - 1;
        if (value < prefixMask)
        {
            return 1;
        }

        int length = 1;
        uint rest = (uint)(value - prefixMask);
        do
        {
            length++;
            rest >>= 7;
        }
        while (rest != 0);
        return length;
    }

    /// <summary>
    /// Encodes <paramref name="value"/> with an N-bit prefix; <paramref name="firstByteFlags"/> are the
    /// representation bits above the prefix. Returns the number of bytes written.
    /// </summary>
    public static int Encode(int value, int prefixBits, byte firstByteFlags, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        int prefixMask = (1 << prefixBits) - 1;
        if (value < prefixMask)
        {
            destination[0] = (byte)(firstByteFlags | value);
            return 1;
        }

        destination[0] = (byte)(firstByteFlags | prefixMask);
        uint rest = (uint)(value - prefixMask);
        int written = 1;
        while (rest >= 0x80)
        {
            destination[written++] = (byte)((rest & 0x7F) | 0x80);
            rest >>= 7;
        }

        destination[written++] = (byte)rest;
        return written;
    }
}
