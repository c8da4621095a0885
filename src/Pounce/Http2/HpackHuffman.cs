using System.Runtime.CompilerServices;

namespace Pounce.Http2;

/// <summary>
/// The static Huffman code of RFC 7541 Appendix B: encoding, encoded-length calculation and a
/// table-driven decoder that consumes four bits per step.
/// </summary>
/// <remarks>
/// The decoder tables are built once from the code table: every internal node of the code tree is a
/// state, and for each state and each 4-bit input we precompute the next state and the symbol emitted
/// on the way (at most one, as the shortest code is 5 bits). EOS inside a string is an error
/// (RFC 7541 5.2), and so is padding that is longer than 7 bits or not a prefix of EOS (all ones).
/// </remarks>
internal static class HpackHuffman
{
    /// <summary>The EOS symbol (256).</summary>
    private const int Eos = 256;

    // RFC 7541 Appendix B: code of each symbol 0..256, right-aligned.
    private static readonly uint[] s_codes =
    [
        0x00001ff8, 0x007fffd8, 0x0fffffe2, 0x0fffffe3, 0x0fffffe4, 0x0fffffe5, 0x0fffffe6, 0x0fffffe7,
        0x0fffffe8, 0x00ffffea, 0x3ffffffc, 0x0fffffe9, 0x0fffffea, 0x3ffffffd, 0x0fffffeb, 0x0fffffec,
        0x0fffffed, 0x0fffffee, 0x0fffffef, 0x0ffffff0, 0x0ffffff1, 0x0ffffff2, 0x3ffffffe, 0x0ffffff3,
        0x0ffffff4, 0x0ffffff5, 0x0ffffff6, 0x0ffffff7, 0x0ffffff8, 0x0ffffff9, 0x0ffffffa, 0x0ffffffb,
        0x00000014, 0x000003f8, 0x000003f9, 0x00000ffa, 0x00001ff9, 0x00000015, 0x000000f8, 0x000007fa,
        0x000003fa, 0x000003fb, 0x000000f9, 0x000007fb, 0x000000fa, 0x00000016, 0x00000017, 0x00000018,
        0x00000000, 0x00000001, 0x00000002, 0x00000019, 0x0000001a, 0x0000001b, 0x0000001c, 0x0000001d,
        0x0000001e, 0x0000001f, 0x0000005c, 0x000000fb, 0x00007ffc, 0x00000020, 0x00000ffb, 0x000003fc,
        0x00001ffa, 0x00000021, 0x0000005d, 0x0000005e, 0x0000005f, 0x00000060, 0x00000061, 0x00000062,
        0x00000063, 0x00000064, 0x00000065, 0x00000066, 0x00000067, 0x00000068, 0x00000069, 0x0000006a,
        0x0000006b, 0x0000006c, 0x0000006d, 0x0000006e, 0x0000006f, 0x00000070, 0x00000071, 0x00000072,
        0x000000fc, 0x00000073, 0x000000fd, 0x00001ffb, 0x0007fff0, 0x00001ffc, 0x00003ffc, 0x00000022,
        0x00007ffd, 0x00000003, 0x00000023, 0x00000004, 0x00000024, 0x00000005, 0x00000025, 0x00000026,
        0x00000027, 0x00000006, 0x00000074, 0x00000075, 0x00000028, 0x00000029, 0x0000002a, 0x00000007,
        0x0000002b, 0x00000076, 0x0000002c, 0x00000008, 0x00000009, 0x0000002d, 0x00000077, 0x00000078,
        0x00000079, 0x0000007a, 0x0000007b, 0x00007ffe, 0x000007fc, 0x00003ffd, 0x00001ffd, 0x0ffffffc,
        0x000fffe6, 0x003fffd2, 0x000fffe7, 0x000fffe8, 0x003fffd3, 0x003fffd4, 0x003fffd5, 0x007fffd9,
        0x003fffd6, 0x007fffda, 0x007fffdb, 0x007fffdc, 0x007fffdd, 0x007fffde, 0x00ffffeb, 0x007fffdf,
        0x00ffffec, 0x00ffffed, 0x003fffd7, 0x007fffe0, 0x00ffffee, 0x007fffe1, 0x007fffe2, 0x007fffe3,
        0x007fffe4, 0x001fffdc, 0x003fffd8, 0x007fffe5, 0x003fffd9, 0x007fffe6, 0x007fffe7, 0x00ffffef,
        0x003fffda, 0x001fffdd, 0x000fffe9, 0x003fffdb, 0x003fffdc, 0x007fffe8, 0x007fffe9, 0x001fffde,
        0x007fffea, 0x003fffdd, 0x003fffde, 0x00fffff0, 0x001fffdf, 0x003fffdf, 0x007fffeb, 0x007fffec,
        0x001fffe0, 0x001fffe1, 0x003fffe0, 0x001fffe2, 0x007fffed, 0x003fffe1, 0x007fffee, 0x007fffef,
        0x000fffea, 0x003fffe2, 0x003fffe3, 0x003fffe4, 0x007ffff0, 0x003fffe5, 0x003fffe6, 0x007ffff1,
        0x03ffffe0, 0x03ffffe1, 0x000fffeb, 0x0007fff1, 0x003fffe7, 0x007ffff2, 0x003fffe8, 0x01ffffec,
        0x03ffffe2, 0x03ffffe3, 0x03ffffe4, 0x07ffffde, 0x07ffffdf, 0x03ffffe5, 0x00fffff1, 0x01ffffed,
        0x0007fff2, 0x001fffe3, 0x03ffffe6, 0x07ffffe0, 0x07ffffe1, 0x03ffffe7, 0x07ffffe2, 0x00fffff2,
        0x001fffe4, 0x001fffe5, 0x03ffffe8, 0x03ffffe9, 0x0ffffffd, 0x07ffffe3, 0x07ffffe4, 0x07ffffe5,
        0x000fffec, 0x00fffff3, 0x000fffed, 0x001fffe6, 0x003fffe9, 0x001fffe7, 0x001fffe8, 0x007ffff3,
        0x003fffea, 0x003fffeb, 0x01ffffee, 0x01ffffef, 0x00fffff4, 0x00fffff5, 0x03ffffea, 0x007ffff4,
        0x03ffffeb, 0x07ffffe6, 0x03ffffec, 0x03ffffed, 0x07ffffe7, 0x07ffffe8, 0x07ffffe9, 0x07ffffea,
        0x07ffffeb, 0x0ffffffe, 0x07ffffec, 0x07ffffed, 0x07ffffee, 0x07ffffef, 0x07fffff0, 0x03ffffee,
        0x3fffffff,    ];

    // RFC 7541 Appendix B: length in bits of each symbol's code.
    private static ReadOnlySpan<byte> CodeLengths =>
    [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
        28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
        5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
        6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
        24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
        21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
        19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
        26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
        30,
    ];

    private const int FlagEmit = 1 << 16;
    private const int FlagFail = 1 << 17;

    // s_transitions[state * 16 + nibble] = next state | (symbol << 8) | flags.
    private static readonly int[] s_transitions = BuildDecoder(out s_accepting);

    // s_accepting[state]: the string may end in this state (root, or within at most 7 bits of the all-ones EOS prefix).
    private static readonly bool[] s_accepting;

    /// <summary>Returns the number of bytes <paramref name="source"/> takes once Huffman-encoded.</summary>
    public static int GetEncodedLength(ReadOnlySpan<byte> source)
    {
        ReadOnlySpan<byte> lengths = CodeLengths;
        long bits = 0;
        for (int i = 0; i < source.Length; i++)
        {
            bits += lengths[source[i]];
        }

        return (int)((bits + 7) >> 3);
    }

    /// <summary>
    /// Huffman-encodes <paramref name="source"/> into <paramref name="destination"/>, padding the last byte
    /// with the most significant bits of EOS. Returns the number of bytes written.
    /// </summary>
    /// <exception cref="ArgumentException">The destination is shorter than <see cref="GetEncodedLength"/>.</exception>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        uint[] codes = s_codes;
        ReadOnlySpan<byte> lengths = CodeLengths;
        ulong accumulator = 0;
        int bitCount = 0;
        int written = 0;
        for (int i = 0; i < source.Length; i++)
        {
            byte symbol = source[i];
            int length = lengths[symbol];
            accumulator = (accumulator << length) | codes[symbol];
            bitCount += length;
            while (bitCount >= 8)
            {
                bitCount -= 8;
                if ((uint)written >= (uint)destination.Length)
                {
                    ThrowDestinationTooSmall();
                }

                destination[written++] = (byte)(accumulator >> bitCount);
            }
        }

        if (bitCount > 0)
        {
            if ((uint)written >= (uint)destination.Length)
            {
                ThrowDestinationTooSmall();
            }

            destination[written++] = (byte)((accumulator << (8 - bitCount)) | (0xFFu >> bitCount));
        }

        return written;
    }

    /// <summary>
    /// Decodes a Huffman-encoded string literal into <paramref name="destination"/>.
    /// Returns <see langword="false"/> (with <paramref name="written"/> undefined) when the decoded
    /// string does not fit, so that the caller can apply its own size limit.
    /// </summary>
    /// <exception cref="HpackDecodingException">The input contains EOS, or its padding is longer than 7 bits or not all ones.</exception>
    public static bool TryDecode(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        int[] transitions = s_transitions;
        int state = 0;
        written = 0;
        for (int i = 0; i < source.Length; i++)
        {
            int input = source[i];
            int entry = transitions[(state << 4) | (input >> 4)];
            if ((entry & (FlagEmit | FlagFail)) != 0)
            {
                if ((entry & FlagFail) != 0)
                {
                    throw new HpackDecodingException("Huffman-encoded string contains the EOS symbol.");
                }

                if ((uint)written >= (uint)destination.Length)
                {
                    return false;
                }

                destination[written++] = (byte)(entry >> 8);
            }

            state = entry & 0xFF;
            entry = transitions[(state << 4) | (input & 0x0F)];
            if ((entry & (FlagEmit | FlagFail)) != 0)
            {
                if ((entry & FlagFail) != 0)
                {
                    throw new HpackDecodingException("Huffman-encoded string contains the EOS symbol.");
                }

                if ((uint)written >= (uint)destination.Length)
                {
                    return false;
                }

                destination[written++] = (byte)(entry >> 8);
            }

            state = entry & 0xFF;
        }

        if (!s_accepting[state])
        {
            throw new HpackDecodingException("Huffman-encoded string has invalid padding (longer than 7 bits or not all ones).");
        }

        return true;
    }

    /// <summary>Returns an upper bound of the decoded length of a Huffman string of <paramref name="encodedLength"/> bytes (shortest code: 5 bits).</summary>
    public static int GetMaxDecodedLength(int encodedLength) => (int)(((long)encodedLength * 8) / 5);

    /// <summary>Returns a lower bound of the decoded length of a Huffman string of <paramref name="encodedLength"/> bytes (longest code: 30 bits, at most 7 padding bits).</summary>
    public static int GetMinDecodedLength(int encodedLength) => encodedLength == 0 ? 0 : (int)((((long)encodedLength * 8) - 7) / 30);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDestinationTooSmall() =>
        throw new ArgumentException("Destination is too small for the Huffman-encoded string.", "destination");

    private static int[] BuildDecoder(out bool[] accepting)
    {
        ReadOnlySpan<byte> lengths = CodeLengths;

        // Binary code tree: node 0 is the root; children[node * 2 + bit]; leaves carry symbol + 1 in symbols[].
        const int MaxNodes = 513;
        int[] children = new int[MaxNodes * 2];
        int[] symbols = new int[MaxNodes];
        int nodeCount = 1;
        for (int symbol = 0; symbol <= Eos; symbol++)
        {
            uint code = s_codes[symbol];
            int length = lengths[symbol];
            int node = 0;
            for (int bit = length - 1; bit >= 0; bit--)
            {
                int slot = (node * 2) + (int)((code >> bit) & 1);
                if (children[slot] == 0)
                {
                    children[slot] = nodeCount++;
                }

                node = children[slot];
            }

            symbols[node] = symbol + 1;
        }

        // Number the internal nodes; they are the decoder's states (the root is state 0).
        int[] stateOfNode = new int[nodeCount];
        int stateCount = 0;
        for (int node = 0; node < nodeCount; node++)
        {
            stateOfNode[node] = symbols[node] == 0 ? stateCount++ : -1;
        }

        // A string may end at the root or on the all-ones path at depth 1..7 (padding: a prefix of EOS).
        accepting = new bool[stateCount];
        int onesNode = 0;
        accepting[0] = true;
        for (int depth = 1; depth <= 7; depth++)
        {
            onesNode = children[(onesNode * 2) + 1];
            accepting[stateOfNode[onesNode]] = true;
        }

        int[] transitions = new int[stateCount * 16];
        for (int node = 0; node < nodeCount; node++)
        {
            int state = stateOfNode[node];
            if (state < 0)
            {
                continue;
            }

            for (int nibble = 0; nibble < 16; nibble++)
            {
                int current = node;
                int entry = 0;
                for (int bit = 3; bit >= 0; bit--)
                {
                    current = children[(current * 2) + ((nibble >> bit) & 1)];
                    int symbol = symbols[current] - 1;
                    if (symbol >= 0)
                    {
                        if (symbol == Eos)
                        {
                            entry |= FlagFail;
                            current = 0;
                            break;
                        }

                        entry |= FlagEmit | (symbol << 8);
                        current = 0;
                    }
                }

                transitions[(state * 16) + nibble] = entry | stateOfNode[current];
            }
        }

        return transitions;
    }
}
