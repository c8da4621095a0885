using System.Buffers;
using Pounce.Http2;
using static Pounce.Tests.Http2.Http2TestSupport;

namespace Pounce.Tests.Http2;

public class HpackEncoderTests
{
    [Fact]
    public void ReproducesRfcC6_1ResponseWithHuffmanAndIndexing()
    {
        var encoder = new HpackEncoder(maxDynamicTableSize: 256);
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(output); // 4096 → 256: announced
        int updateLength = output.WrittenCount;
        Assert.Equal(Hex("3fe101"), output.WrittenSpan.ToArray());

        encoder.EncodeStatus(302, output);
        encoder.EncodeHeader("cache-control"u8, "private"u8, output);
        encoder.EncodeHeader("date"u8, "Mon, 21 Oct 2013 20:13:21 GMT"u8, output);
        encoder.EncodeHeader("location"u8, "https://www.example.com"u8, output);

        Assert.Equal(
            Hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"),
            output.WrittenSpan.Slice(updateLength).ToArray());
        Assert.Equal(222, encoder.DynamicTable.Size);

        // Second response: repeated fields are now indexed (C.6.2 sends :status 307 as a literal; so do we).
        output.Clear();
        encoder.BeginHeaderBlock(output);
        encoder.EncodeStatus(307, output);
        encoder.EncodeHeader("cache-control"u8, "private"u8, output);
        encoder.EncodeHeader("date"u8, "Mon, 21 Oct 2013 20:13:21 GMT"u8, output);
        encoder.EncodeHeader("location"u8, "https://www.example.com"u8, output);
        Assert.Equal(Hex("4803333037c1c0bf"), output.WrittenSpan.ToArray());
    }

    [Fact]
    public void RoundTripsThroughDecoderKeepingTablesInStep()
    {
        var encoder = new HpackEncoder();
        var decoder = new HpackDecoder();
        var responses = new[]
        {
            new[] { ("content-type", "text/html; charset=utf-8"), ("server", "pounce"), ("x-request-id", "abc") },
            new[] { ("content-type", "text/html; charset=utf-8"), ("server", "pounce"), ("x-request-id", "def") },
            new[] { ("content-type", "application/json"), ("server", "pounce"), ("content-length", "12345") },
        };

        int previousLength = int.MaxValue;
        foreach (var fields in responses)
        {
            var output = new ArrayBufferWriter<byte>();
            encoder.BeginHeaderBlock(output);
            encoder.EncodeStatus(200, output);
            foreach (var (name, value) in fields)
            {
                encoder.EncodeHeader(Ascii(name), Ascii(value), output);
            }

            var decoded = Decode(decoder, output.WrittenSpan.ToArray());
            Assert.Equal([(":status", "200"), .. fields], decoded);
            Assert.Equal(DynamicEntries(encoder.DynamicTable), DynamicEntries(decoder.DynamicTable));
            Assert.Equal(encoder.DynamicTable.Size, decoder.DynamicTable.Size);
            if (fields[2].Item1 == "x-request-id")
            {
                Assert.True(output.WrittenCount < previousLength);
                previousLength = output.WrittenCount;
            }
        }
    }

    [Theory]
    [InlineData(200, "88")]
    [InlineData(204, "89")]
    [InlineData(206, "8a")]
    [InlineData(304, "8b")]
    [InlineData(400, "8c")]
    [InlineData(404, "8d")]
    [InlineData(500, "8e")]
    public void CommonStatusCodesUseStaticIndex(int status, string hex)
    {
        var output = new ArrayBufferWriter<byte>();
        new HpackEncoder().EncodeStatus(status, output);
        Assert.Equal(Hex(hex), output.WrittenSpan.ToArray());
    }

    [Fact]
    public void StaticFullMatchIsIndexedAndStaticNameIsReferenced()
    {
        var encoder = new HpackEncoder(useDynamicTable: false);
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(output); // announces table size 0
        Assert.Equal(Hex("20"), output.WrittenSpan.ToArray());
        output.Clear();
        encoder.EncodeHeader("accept-encoding"u8, "gzip, deflate"u8, output); // static 16
        Assert.Equal(Hex("90"), output.WrittenSpan.ToArray());

        output.Clear();
        encoder.EncodeHeader("content-type"u8, "a"u8, output); // name 31, without indexing: 0000 1111 + 16
        Assert.Equal(Hex("0f10 0161"), output.WrittenSpan.ToArray());
        Assert.Equal(0, encoder.DynamicTable.Count);
    }

    [Theory]
    [InlineData("set-cookie", 55)]
    [InlineData("authorization", 23)]
    [InlineData("proxy-authorization", 49)]
    public void SensitiveHeadersAreNeverIndexed(string name, int staticNameIndex)
    {
        var encoder = new HpackEncoder();
        var output = new ArrayBufferWriter<byte>();
        encoder.EncodeHeader(Ascii(name), "secret-token-value"u8, output);
        encoder.EncodeHeader(Ascii(name), "secret-token-value"u8, output);

        byte[] bytes = output.WrittenSpan.ToArray();
        Assert.Equal(0x10 | 0x0F, bytes[0]); // never indexed, 4-bit prefix overflow
        Assert.Equal(staticNameIndex - 15, bytes[1]);
        Assert.Equal(0, encoder.DynamicTable.Count);

        var decoder = new HpackDecoder();
        Assert.Equal([(name, "secret-token-value"), (name, "secret-token-value")], Decode(decoder, bytes));
        Assert.Equal(0, decoder.DynamicTable.Count);
    }

    [Fact]
    public void CallerCanMarkAnyFieldSensitive()
    {
        var encoder = new HpackEncoder();
        var output = new ArrayBufferWriter<byte>();
        encoder.EncodeHeader("x-token"u8, "t"u8, output, sensitive: true);
        Assert.Equal(0x10, output.WrittenSpan[0]);
        Assert.Equal(0, encoder.DynamicTable.Count);
    }

    [Fact]
    public void LiteralUsesHuffmanOnlyWhenShorter()
    {
        var encoder = new HpackEncoder(useDynamicTable: false);
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(output); // announces table size 0
        Assert.Equal(Hex("20"), output.WrittenSpan.ToArray());
        output.Clear();
        encoder.EncodeHeader("x"u8, "\u00ff\u00fe"u8.ToArray(), output);
        byte[] bytes = output.WrittenSpan.ToArray();
        // Name "x" raw (Huffman of 'x' is 7 bits = 1 byte, not shorter), value raw.
        Assert.Equal(0x00, bytes[0]);
        Assert.Equal(0x01, bytes[1]);
        Assert.Equal("x", Decode(new HpackDecoder(), bytes)[0].Name);
    }

    [Fact]
    public void PeerTableSizeChangesAreAnnouncedAsMinimumThenFinal()
    {
        var encoder = new HpackEncoder();
        Assert.False(encoder.HasPendingSizeUpdate);

        encoder.SetPeerHeaderTableSize(0);
        encoder.SetPeerHeaderTableSize(1024);
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(output);
        Assert.Equal(Hex("20 3fe107"), output.WrittenSpan.ToArray()); // 0, then 1024

        var decoder = new HpackDecoder();
        output.Clear();
        encoder.SetPeerHeaderTableSize(100_000); // capped at the configured 4096
        encoder.BeginHeaderBlock(output);
        Assert.Equal(Hex("3fe11f"), output.WrittenSpan.ToArray());
        Decode(decoder, [.. output.WrittenSpan.ToArray(), 0x82]);
        Assert.Equal(4096, decoder.DynamicTable.MaxSize);
    }

    [Fact]
    public void EncodingWithoutBeginningTheBlockWhileUpdatePendingThrows()
    {
        var encoder = new HpackEncoder();
        encoder.SetPeerHeaderTableSize(0);
        Assert.Throws<InvalidOperationException>(() => encoder.EncodeHeader("a"u8, "b"u8, new ArrayBufferWriter<byte>()));
    }

    [Fact]
    public void ShrinkingEvictsEncoderEntriesLikeTheDecoder()
    {
        var encoder = new HpackEncoder();
        var decoder = new HpackDecoder();
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(output);
        encoder.EncodeHeader("x-a"u8, "1"u8, output);
        encoder.EncodeHeader("x-b"u8, "2"u8, output);
        Decode(decoder, output.WrittenSpan.ToArray());
        Assert.Equal(2, encoder.DynamicTable.Count);

        encoder.SetPeerHeaderTableSize(40); // fits one entry
        output.Clear();
        encoder.BeginHeaderBlock(output);
        encoder.EncodeHeader("x-a"u8, "1"u8, output); // the oldest, evicted by the shrink: sent as a literal again
        encoder.EncodeHeader("x-a"u8, "1"u8, output); // now indexed
        Assert.Equal([("x-a", "1"), ("x-a", "1")], Decode(decoder, output.WrittenSpan.ToArray()));
        Assert.Equal(1, decoder.DynamicTable.Count);
        Assert.Equal(DynamicEntries(encoder.DynamicTable), DynamicEntries(decoder.DynamicTable));
        Assert.Equal(0xBE, output.WrittenSpan[^1]);
    }

    [Fact]
    public void SmallerConfiguredTableIsAnnouncedInFirstBlock()
    {
        var encoder = new HpackEncoder(maxDynamicTableSize: 0);
        Assert.True(encoder.HasPendingSizeUpdate);
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(output);
        encoder.EncodeHeader("x-a"u8, "1"u8, output);
        Assert.Equal(0x20, output.WrittenSpan[0]);
        Assert.Equal(0, encoder.DynamicTable.Count);
        Assert.Equal([("x-a", "1")], Decode(new HpackDecoder(), output.WrittenSpan.ToArray()));
    }
}

public class HpackEncoderStringTests
{
    [Fact]
    public void StringOverloadLowercasesNameAndSendsLatin1()
    {
        var encoder = new HpackEncoder();
        var output = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(output);
        encoder.EncodeHeader("Content-Type", "text/plain; charset=\u00e9", output);
        string longValue = new('z', 2000);
        encoder.EncodeHeader("X-Long", longValue, output);
        Assert.Equal(
            [("content-type", "text/plain; charset=\u00e9"), ("x-long", longValue)],
            Http2TestSupport.Decode(new HpackDecoder(), output.WrittenSpan.ToArray()));
    }

    [Fact]
    public void StringOverloadRejectsCharactersAboveLatin1()
    {
        var encoder = new HpackEncoder();
        Assert.Throws<ArgumentException>(() => encoder.EncodeHeader("x-a", "\u20ac", new ArrayBufferWriter<byte>()));
    }

    [Fact]
    public void ContentLengthIsNotIndexed()
    {
        var encoder = new HpackEncoder();
        var output = new ArrayBufferWriter<byte>();
        encoder.EncodeHeader("content-length"u8, "123"u8, output);
        Assert.Equal(0x0F, output.WrittenSpan[0]); // without indexing, name index 28 = 15 + 13
        Assert.Equal(13, output.WrittenSpan[1]);
        Assert.Equal(0, encoder.DynamicTable.Count);
    }
}
