using Pounce.Http2;
using static Pounce.Tests.Http2.Http2TestSupport;

namespace Pounce.Tests.Http2;

/// <summary>The examples of RFC 7541 Appendix C.2 to C.6, decoded, with the dynamic table checked after each block.</summary>
public class HpackAppendixCTests
{
    private const string C3_1 = "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d";
    private const string C3_2 = "8286 84be 5808 6e6f 2d63 6163 6865";
    private const string C3_3 = "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65";
    private const string C4_1 = "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff";
    private const string C4_2 = "8286 84be 5886 a8eb 1064 9cbf";
    private const string C4_3 = "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf";

    private const string C5_1 = "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d";
    private const string C5_2 = "4803 3330 37c1 c0bf";
    private const string C5_3 = "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31";
    private const string C6_1 = "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3";
    private const string C6_2 = "4883 640e ffc1 c0bf";
    private const string C6_3 = "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07";

    private const string Date21 = "Mon, 21 Oct 2013 20:13:21 GMT";
    private const string Date22 = "Mon, 21 Oct 2013 20:13:22 GMT";
    private const string Cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

    [Fact]
    public void C2_1_LiteralWithIndexing()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([("custom-key", "custom-header")], Decode(decoder, Hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")));
        Assert.Equal([("custom-key", "custom-header")], DynamicEntries(decoder.DynamicTable));
        Assert.Equal(55, decoder.DynamicTable.Size);
    }

    [Fact]
    public void C2_2_LiteralWithoutIndexing()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([(":path", "/sample/path")], Decode(decoder, Hex("040c 2f73 616d 706c 652f 7061 7468")));
        Assert.Equal(0, decoder.DynamicTable.Count);
    }

    [Fact]
    public void C2_3_LiteralNeverIndexed()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([("password", "secret")], Decode(decoder, Hex("1008 7061 7373 776f 7264 0673 6563 7265 74")));
        Assert.Equal(0, decoder.DynamicTable.Count);
    }

    [Fact]
    public void C2_4_Indexed()
    {
        var decoder = new HpackDecoder();
        Assert.Equal([(":method", "GET")], Decode(decoder, Hex("82")));
        Assert.Equal(0, decoder.DynamicTable.Count);
    }

    [Theory]
    [InlineData(C3_1, C3_2, C3_3)]
    [InlineData(C4_1, C4_2, C4_3)]
    public void C3_C4_Requests(string first, string second, string third)
    {
        var decoder = new HpackDecoder();

        Assert.Equal(
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")],
            Decode(decoder, Hex(first)));
        Assert.Equal([(":authority", "www.example.com")], DynamicEntries(decoder.DynamicTable));
        Assert.Equal(57, decoder.DynamicTable.Size);

        Assert.Equal(
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"), ("cache-control", "no-cache")],
            Decode(decoder, Hex(second)));
        Assert.Equal([("cache-control", "no-cache"), (":authority", "www.example.com")], DynamicEntries(decoder.DynamicTable));
        Assert.Equal(110, decoder.DynamicTable.Size);

        Assert.Equal(
            [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value")],
            Decode(decoder, Hex(third)));
        Assert.Equal(
            [("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")],
            DynamicEntries(decoder.DynamicTable));
        Assert.Equal(164, decoder.DynamicTable.Size);
    }

    [Theory]
    [InlineData(C5_1, C5_2, C5_3)]
    [InlineData(C6_1, C6_2, C6_3)]
    public void C5_C6_ResponsesWithEviction(string first, string second, string third)
    {
        var decoder = new HpackDecoder(maxHeaderTableSize: 256);

        Assert.Equal(
            [(":status", "302"), ("cache-control", "private"), ("date", Date21), ("location", "https://www.example.com")],
            Decode(decoder, Hex(first)));
        Assert.Equal(
            [("location", "https://www.example.com"), ("date", Date21), ("cache-control", "private"), (":status", "302")],
            DynamicEntries(decoder.DynamicTable));
        Assert.Equal(222, decoder.DynamicTable.Size);

        Assert.Equal(
            [(":status", "307"), ("cache-control", "private"), ("date", Date21), ("location", "https://www.example.com")],
            Decode(decoder, Hex(second)));
        Assert.Equal(
            [(":status", "307"), ("location", "https://www.example.com"), ("date", Date21), ("cache-control", "private")],
            DynamicEntries(decoder.DynamicTable));
        Assert.Equal(222, decoder.DynamicTable.Size);

        Assert.Equal(
            [(":status", "200"), ("cache-control", "private"), ("date", Date22), ("location", "https://www.example.com"), ("content-encoding", "gzip"), ("set-cookie", Cookie)],
            Decode(decoder, Hex(third)));
        Assert.Equal(
            [("set-cookie", Cookie), ("content-encoding", "gzip"), ("date", Date22)],
            DynamicEntries(decoder.DynamicTable));
        Assert.Equal(215, decoder.DynamicTable.Size);
    }

    public static TheoryData<string> AllBlocks() => new() { C3_3, C4_3, C5_1, C6_1, C6_3 };

    [Theory]
    [MemberData(nameof(AllBlocks))]
    public void EverySplitIntoTwoFragmentsDecodesTheSame(string hex)
    {
        byte[] block = Hex(hex);
        List<(string, string)> expected = Decode(Prepared(hex), block);
        for (int split = 0; split <= block.Length; split++)
        {
            HpackDecoder decoder = Prepared(hex);
            var handler = new CollectingHeaderHandler();
            decoder.Decode(block.AsSpan(0, split), endHeaders: false, handler);
            decoder.Decode(block.AsSpan(split), endHeaders: true, handler);
            Assert.Equal(expected, handler.Headers);
        }
    }

    [Theory]
    [MemberData(nameof(AllBlocks))]
    public void OneByteFragmentsAndMultiSegmentSequencesDecodeTheSame(string hex)
    {
        byte[] block = Hex(hex);
        List<(string, string)> expected = Decode(Prepared(hex), block);

        HpackDecoder decoder = Prepared(hex);
        var handler = new CollectingHeaderHandler();
        for (int i = 0; i < block.Length; i++)
        {
            decoder.Decode(block.AsSpan(i, 1), endHeaders: false, handler);
        }

        decoder.Decode(ReadOnlySpan<byte>.Empty, endHeaders: true, handler);
        Assert.Equal(expected, handler.Headers);

        for (int chunk = 1; chunk <= 7; chunk++)
        {
            decoder = Prepared(hex);
            handler = new CollectingHeaderHandler();
            decoder.Decode(Chunked(block, chunk), endHeaders: true, handler);
            Assert.Equal(expected, handler.Headers);
        }
    }

    // The third blocks refer to entries added by the earlier ones: replay those first.
    private static HpackDecoder Prepared(string hex)
    {
        var decoder = new HpackDecoder(maxHeaderTableSize: hex is C5_1 or C6_1 or C6_3 ? 256 : 4096);
        string[] earlier = hex switch
        {
            C3_3 => [C3_1, C3_2],
            C4_3 => [C4_1, C4_2],
            C6_3 => [C6_1, C6_2],
            _ => [],
        };
        foreach (string block in earlier)
        {
            Decode(decoder, Hex(block));
        }

        return decoder;
    }
}
