using Pounce.Http2;
using static Pounce.Tests.Http2.Http2TestSupport;

namespace Pounce.Tests.Http2;

public class HpackHuffmanTests
{
    [Theory]
    [InlineData("www.example.com", "f1e3c2e5f23a6ba0ab90f4ff")]
    [InlineData("no-cache", "a8eb10649cbf")]
    [InlineData("custom-key", "25a849e95ba97d7f")]
    [InlineData("custom-value", "25a849e95bb8e8b4bf")]
    [InlineData("302", "6402")]
    [InlineData("private", "aec3771a4b")]
    [InlineData("Mon, 21 Oct 2013 20:13:21 GMT", "d07abe941054d444a8200595040b8166e082a62d1bff")]
    [InlineData("https://www.example.com", "9d29ad171863c78f0b97c8e9ae82ae43d3")]
    [InlineData("", "")]
    public void EncodesAndDecodesRfcVectors(string text, string hex)
    {
        byte[] raw = Ascii(text);
        byte[] encoded = Hex(hex);
        Assert.Equal(encoded.Length, HpackHuffman.GetEncodedLength(raw));

        byte[] output = new byte[encoded.Length];
        Assert.Equal(encoded.Length, HpackHuffman.Encode(raw, output));
        Assert.Equal(encoded, output);

        byte[] decoded = new byte[HpackHuffman.GetMaxDecodedLength(encoded.Length)];
        Assert.True(HpackHuffman.TryDecode(encoded, decoded, out int written));
        Assert.Equal(raw, decoded.AsSpan(0, written).ToArray());
    }

    [Fact]
    public void RoundTripsEverySymbolAndRandomStrings()
    {
        byte[] all = new byte[256];
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = (byte)i;
        }

        AssertRoundTrip(all);

        var random = new Random(7541);
        for (int length = 0; length < 300; length++)
        {
            byte[] data = new byte[length];
            random.NextBytes(data);
            AssertRoundTrip(data);
        }
    }

    [Theory]
    [InlineData("ffffffff")]         // 30 ones decode as EOS
    [InlineData("1fffffffff")]       // 'a' then EOS
    public void RejectsEos(string hex)
    {
        var ex = Assert.Throws<HpackDecodingException>(() => HpackHuffman.TryDecode(Hex(hex), new byte[64], out _));
        Assert.Contains("EOS", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("18")]   // 'a' (00011) + padding 000: not all ones
    [InlineData("1c")]   // 'a' + 100
    [InlineData("1fff")] // 'a' + 11 ones: padding longer than 7 bits
    [InlineData("ff")]   // 8 ones of padding
    [InlineData("fe")]   // 1111 1110: a prefix of no valid end, not ones
    public void RejectsBadPadding(string hex)
    {
        var ex = Assert.Throws<HpackDecodingException>(() => HpackHuffman.TryDecode(Hex(hex), new byte[64], out _));
        Assert.Contains("padding", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AcceptsUpToSevenOnesOfPadding()
    {
        Assert.True(HpackHuffman.TryDecode(Hex("1f"), new byte[4], out int written)); // 'a' + 111
        Assert.Equal(1, written);

        // '0' is 00000 (5 bits); "00" is 10 bits + 6 ones of padding.
        Assert.True(HpackHuffman.TryDecode([0x00, 0x3F], new byte[4], out written));
        Assert.Equal(2, written);
    }

    [Fact]
    public void ReportsDestinationTooSmall()
    {
        byte[] encoded = Hex("f1e3c2e5f23a6ba0ab90f4ff");
        Assert.False(HpackHuffman.TryDecode(encoded, new byte[14], out _));
        Assert.True(HpackHuffman.TryDecode(encoded, new byte[15], out int written));
        Assert.Equal(15, written);
    }

    private static void AssertRoundTrip(byte[] data)
    {
        byte[] encoded = new byte[HpackHuffman.GetEncodedLength(data)];
        Assert.Equal(encoded.Length, HpackHuffman.Encode(data, encoded));
        Assert.True(HpackHuffman.GetMinDecodedLength(encoded.Length) <= data.Length);
        Assert.True(HpackHuffman.GetMaxDecodedLength(encoded.Length) >= data.Length);
        byte[] decoded = new byte[data.Length];
        Assert.True(HpackHuffman.TryDecode(encoded, decoded, out int written));
        Assert.Equal(data.Length, written);
        Assert.Equal(data, decoded);
    }
}
