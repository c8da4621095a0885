using Pounce.Http2;
using static Pounce.Tests.Http2.Http2TestSupport;

namespace Pounce.Tests.Http2;

public class HpackIntegerTests
{
    [Theory]
    [InlineData(10, 5, "0a")]       // RFC 7541 C.1.1
    [InlineData(1337, 5, "1f9a0a")] // C.1.2
    [InlineData(42, 8, "2a")]       // C.1.3
    [InlineData(31, 5, "1f00")]     // exactly the prefix maximum needs one continuation byte
    [InlineData(30, 5, "1e")]
    [InlineData(0, 1, "00")]
    [InlineData(1, 1, "0100")]
    [InlineData(int.MaxValue, 5, "1fe0ffffff07")]
    [InlineData(int.MaxValue, 8, "ff80feffff07")]
    public void EncodesAndDecodes(int value, int prefix, string hex)
    {
        byte[] expected = Hex(hex);
        Assert.Equal(expected.Length, HpackInteger.GetEncodedLength(value, prefix));
        byte[] buffer = new byte[8];
        int written = HpackInteger.Encode(value, prefix, 0, buffer);
        Assert.Equal(expected, buffer.AsSpan(0, written).ToArray());

        int position = 0;
        Assert.True(HpackInteger.TryDecode(expected, ref position, prefix, out int decoded));
        Assert.Equal(value, decoded);
        Assert.Equal(expected.Length, position);
    }

    [Fact]
    public void KeepsFlagBitsAboveThePrefix()
    {
        byte[] buffer = new byte[8];
        HpackInteger.Encode(3, 4, 0x10, buffer);
        Assert.Equal(0x13, buffer[0]);

        int position = 0;
        Assert.True(HpackInteger.TryDecode([0xF3], ref position, 4, out int value));
        Assert.Equal(3, value);
    }

    [Fact]
    public void RoundTripsManyValuesWithEveryPrefix()
    {
        byte[] buffer = new byte[8];
        for (int prefix = 1; prefix <= 8; prefix++)
        {
            foreach (int value in new[] { 0, 1, 126, 127, 128, 254, 255, 256, 16_383, 16_384, 1 << 21, (1 << 28) - 1, 1 << 28, int.MaxValue - 1, int.MaxValue })
            {
                int written = HpackInteger.Encode(value, prefix, 0, buffer);
                int position = 0;
                Assert.True(HpackInteger.TryDecode(buffer.AsSpan(0, written), ref position, prefix, out int decoded));
                Assert.Equal(value, decoded);
                Assert.Equal(written, position);
            }
        }
    }

    [Theory]
    [InlineData("1f")]
    [InlineData("1f9a")]
    [InlineData("1fffffff")]
    public void ReportsIncompleteWithoutMoving(string hex)
    {
        int position = 0;
        Assert.False(HpackInteger.TryDecode(Hex(hex), ref position, 5, out _));
        Assert.Equal(0, position);
    }

    [Theory]
    [InlineData("1fe1ffffff07", 5)]     // 2^31 with a 5-bit prefix
    [InlineData("ff81feffff07", 8)]     // 2^31 with an 8-bit prefix
    [InlineData("7f81ffffff07", 7)]     // 2^31 with a 7-bit prefix
    [InlineData("1fffffffff0f", 5)]     // far above
    [InlineData("1fffffffffff01", 5)]   // a sixth continuation byte
    [InlineData("1f808080808000", 5)]   // zero-padded continuation bytes beyond 31 bits
    public void RejectsOverflow(string hex, int prefix)
    {
        int position = 0;
        Assert.Throws<HpackDecodingException>(() => HpackInteger.TryDecode(Hex(hex), ref position, prefix, out _));
    }
}
