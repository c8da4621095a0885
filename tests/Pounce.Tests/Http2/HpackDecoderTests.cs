using Pounce.Http2;
using static Pounce.Tests.Http2.Http2TestSupport;

namespace Pounce.Tests.Http2;

public class HpackDecoderTests
{
    // custom-key: custom-header with incremental indexing (55 octets in the table).
    private const string CustomHeader = "400a637573746f6d2d6b65790d637573746f6d2d686561646572";

    [Fact]
    public void SizeUpdateAtBlockStartEvictsAndChangesMaximum()
    {
        var decoder = new HpackDecoder();
        Decode(decoder, Hex(CustomHeader));
        Assert.Equal(1, decoder.DynamicTable.Count);

        // Size update to 0 (evicts everything), then to 100, then an indexed field.
        Assert.Equal([(":method", "GET")], Decode(decoder, Hex("20 3f45 82")));
        Assert.Equal(0, decoder.DynamicTable.Count);
        Assert.Equal(100, decoder.DynamicTable.MaxSize);
    }

    [Fact]
    public void SizeUpdateInLaterFragmentBeforeAnyFieldIsStillAtBlockStart()
    {
        var decoder = new HpackDecoder();
        var handler = new CollectingHeaderHandler();
        decoder.Decode(ReadOnlySpan<byte>.Empty, endHeaders: false, handler);
        decoder.Decode(Hex("3f"), endHeaders: false, handler);
        decoder.Decode(Hex("45 82"), endHeaders: true, handler);
        Assert.Equal(100, decoder.DynamicTable.MaxSize);
        Assert.Single(handler.Headers);
    }

    [Fact]
    public void SizeUpdateAfterAFieldIsRejected()
    {
        var decoder = new HpackDecoder();
        var ex = Assert.Throws<HpackDecodingException>(() => Decode(decoder, Hex("82 20")));
        Assert.Contains("after the start", ex.Message, StringComparison.Ordinal);
        Assert.Equal(Http2ErrorCode.CompressionError, ex.ErrorCode);
    }

    [Fact]
    public void SizeUpdateAfterAFieldInAnEarlierFragmentIsRejected()
    {
        var decoder = new HpackDecoder();
        var handler = new CollectingHeaderHandler();
        decoder.Decode(Hex("82"), endHeaders: false, handler);
        Assert.Throws<HpackDecodingException>(() => decoder.Decode(Hex("20"), endHeaders: true, handler));
    }

    [Fact]
    public void SizeUpdateAboveTheSettingsLimitIsRejected()
    {
        var decoder = new HpackDecoder(maxHeaderTableSize: 256);
        Decode(decoder, Hex("3fe101 82")); // 256 exactly: allowed
        Assert.Equal(256, decoder.DynamicTable.MaxSize);

        var ex = Assert.Throws<HpackDecodingException>(() => Decode(new HpackDecoder(maxHeaderTableSize: 256), Hex("3fe201 82"))); // 257
        Assert.Contains("SETTINGS_HEADER_TABLE_SIZE", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SizeUpdateAtStartOfEachBlockIsAllowed()
    {
        var decoder = new HpackDecoder();
        Decode(decoder, Hex("3f45 82"));
        Decode(decoder, Hex("20 3fe11f 82"));
        Assert.Equal(4096, decoder.DynamicTable.MaxSize);
    }

    [Fact]
    public void LoweredSettingsLimitRequiresSizeUpdateInNextBlock()
    {
        var decoder = new HpackDecoder();
        Decode(decoder, Hex(CustomHeader));
        decoder.SetMaxHeaderTableSizeLimit(40);

        var ex = Assert.Throws<HpackDecodingException>(() => Decode(decoder, Hex("82")));
        Assert.Contains("required", ex.Message, StringComparison.Ordinal);

        decoder = new HpackDecoder();
        Decode(decoder, Hex(CustomHeader));
        decoder.SetMaxHeaderTableSizeLimit(40);
        Assert.Throws<HpackDecodingException>(() => Decode(decoder, Hex("3f0a 82"))); // 41 > 40
    }

    [Fact]
    public void LoweredSettingsLimitIsSatisfiedBySizeUpdate()
    {
        var decoder = new HpackDecoder();
        Decode(decoder, Hex(CustomHeader));
        decoder.SetMaxHeaderTableSizeLimit(40);
        Assert.Equal([(":method", "GET")], Decode(decoder, Hex("3f09 82"))); // 40
        Assert.Equal(0, decoder.DynamicTable.Count);
        Assert.Equal(40, decoder.DynamicTable.MaxSize);
        Decode(decoder, Hex("82")); // no longer required
    }

    [Fact]
    public void RaisedSettingsLimitDoesNotRequireSizeUpdate()
    {
        var decoder = new HpackDecoder(maxHeaderTableSize: 256);
        decoder.SetMaxHeaderTableSizeLimit(8192);
        Decode(decoder, Hex("82"));
        Decode(decoder, Hex("3fe13f 82")); // 8192
        Assert.Equal(8192, decoder.DynamicTable.MaxSize);
    }

    [Fact]
    public void EvictsOldestEntriesAndEntryLargerThanTableEmptiesIt()
    {
        var decoder = new HpackDecoder(maxHeaderTableSize: 120);
        Decode(decoder, Hex(CustomHeader)); // 55
        Decode(decoder, Hex("4003616161 03626262")); // aaa: bbb = 38 → 93
        Assert.Equal(2, decoder.DynamicTable.Count);
        Decode(decoder, Hex("4003636363 03646464")); // ccc: ddd = 38 → evict custom-key → 76
        Assert.Equal([("ccc", "ddd"), ("aaa", "bbb")], DynamicEntries(decoder.DynamicTable));
        Assert.Equal(76, decoder.DynamicTable.Size);

        // 100-byte value: 1 + 100 + 32 > 120 → table emptied, field still delivered.
        string value = new('v', 100);
        byte[] block = [0x40, 0x01, (byte)'x', 0x64, .. Ascii(value)];
        Assert.Equal([("x", value)], Decode(decoder, block));
        Assert.Equal(0, decoder.DynamicTable.Count);
        Assert.Equal(0, decoder.DynamicTable.Size);
    }

    [Fact]
    public void InsertWithNameOfEntryBeingEvictedKeepsTheName()
    {
        var decoder = new HpackDecoder(maxHeaderTableSize: 60);
        Decode(decoder, Hex(CustomHeader)); // 55, index 62
        // Literal with indexing, name = index 62 (custom-key), value "x": evicts 62 first.
        Assert.Equal([("custom-key", "x")], Decode(decoder, Hex("7e 0178")));
        Assert.Equal([("custom-key", "x")], DynamicEntries(decoder.DynamicTable));
        Assert.Equal(43, decoder.DynamicTable.Size);
    }

    [Theory]
    [InlineData("80")]           // index 0
    [InlineData("be")]           // index 62, empty dynamic table
    [InlineData("7e0178")]       // literal name index 62, empty table
    [InlineData("0f3f0178")]     // literal without indexing, name index 15+63=78
    [InlineData("400178")]       // truncated: name literal "x" then nothing
    [InlineData("4001")]         // truncated name
    [InlineData("8286ff")]       // truncated integer
    [InlineData("00811800")]     // Huffman name "a" padded with zeros: invalid
    public void MalformedBlocksAreCompressionErrors(string hex)
    {
        var ex = Assert.Throws<HpackDecodingException>(() => Decode(new HpackDecoder(), Hex(hex)));
        Assert.Equal(Http2ErrorCode.CompressionError, ex.ErrorCode);
        Assert.False(ex.HeaderListTooLarge);
    }

    [Fact]
    public void HeaderListSizeCountsNameValueAnd32()
    {
        // ":method: GET" = 7 + 3 + 32 = 42 per field.
        var decoder = new HpackDecoder(maxHeaderListSize: 84);
        Assert.Equal(2, Decode(decoder, Hex("8282")).Count);
        Assert.Equal(0, decoder.CurrentHeaderListSize); // reset per block

        var ex = Assert.Throws<HpackDecodingException>(() => Decode(new HpackDecoder(maxHeaderListSize: 83), Hex("8282")));
        Assert.True(ex.HeaderListTooLarge);
        Assert.Equal(Http2ErrorCode.CompressionError, ex.ErrorCode);
    }

    [Fact]
    public void HpackBombIsRejectedEarlyWithBoundedMemory()
    {
        const int limit = 16 * 1024;

        // One 4000-byte field added to the table, then 100,000 one-byte references to it: a 100 KB block that
        // would expand to ~400 MB of header list.
        byte[] value = new byte[4000];
        value.AsSpan().Fill((byte)'a');
        var block = new List<byte> { 0x40, 0x01, (byte)'x', 0x7F, 0xA1, 0x1E };
        block.AddRange(value);
        for (int i = 0; i < 100_000; i++)
        {
            block.Add(0xBE);
        }

        byte[] bytes = block.ToArray();
        var decoder = new HpackDecoder(maxHeaderListSize: limit);
        var handler = new CountingHeaderHandler();
        Decode(decoder, Hex("82")); // warm up code paths

        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<HpackDecodingException>(() => decoder.Decode(bytes, endHeaders: true, handler));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(ex.HeaderListTooLarge);
        Assert.Equal(4, handler.Count); // 4 × 4033 = 16132 fits; the 5th field is refused
        Assert.True(allocated < 64 * 1024, $"allocated {allocated} bytes");
    }

    [Fact]
    public void HugeStringLengthIsRejectedBeforeItsBytesArrive()
    {
        var decoder = new HpackDecoder(maxHeaderListSize: 16 * 1024);
        var handler = new CountingHeaderHandler();

        // Literal without indexing, new name "x", value claiming 1,000,000 raw bytes; only 3 sent.
        byte[] fragment = [0x00, 0x01, (byte)'x', 0x7F, 0xC1, 0x83, 0x3D, (byte)'a', (byte)'a', (byte)'a'];
        var ex = Assert.Throws<HpackDecodingException>(() => decoder.Decode(fragment, endHeaders: false, handler));
        Assert.True(ex.HeaderListTooLarge);

        // Same with a Huffman-encoded value: 100,000 encoded bytes decode to at least 26,666.
        decoder = new HpackDecoder(maxHeaderListSize: 16 * 1024);
        fragment = [0x00, 0x01, (byte)'x', 0xFF, 0xA1, 0x8C, 0x06, 0x1F];
        ex = Assert.Throws<HpackDecodingException>(() => decoder.Decode(fragment, endHeaders: false, handler));
        Assert.True(ex.HeaderListTooLarge);
    }

    [Fact]
    public void HuffmanValueLongerThanBudgetIsRejected()
    {
        // 'a' is 5 bits: 100 bytes of Huffman encode 160 'a's; limit allows 32 + 1 + 100.
        byte[] aaa = new byte[160];
        aaa.AsSpan().Fill((byte)'a');
        byte[] encoded = new byte[HpackHuffman.GetEncodedLength(aaa)];
        HpackHuffman.Encode(aaa, encoded);
        byte[] block = [0x00, 0x01, (byte)'x', (byte)(0x80 | encoded.Length), .. encoded];

        var ex = Assert.Throws<HpackDecodingException>(() => Decode(new HpackDecoder(maxHeaderListSize: 133), block));
        Assert.True(ex.HeaderListTooLarge);
        Assert.Equal([("x", new string('a', 160))], Decode(new HpackDecoder(maxHeaderListSize: 193), block));
    }

    [Fact]
    public void DecoderIsReusableAcrossBlocksAndAllocationFreeForIndexedFields()
    {
        var decoder = new HpackDecoder();
        var handler = new CountingHeaderHandler();
        byte[] block = Hex("828684418cf1e3c2e5f23a6ba0ab90f4ff"); // C.4.1
        decoder.Decode(block, endHeaders: true, handler);
        byte[] indexedOnly = Hex("828684be");

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            decoder.Decode(indexedOnly, endHeaders: true, handler);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(4004, handler.Count);
    }
}

public class HpackDecoderFragmentTests
{
    [Fact]
    public void HuffmanNameThenValueInOneByteFragments()
    {
        // A 4000-byte Huffman name, then a value arriving one byte per fragment: the pending buffer stays
        // bounded and the result is right.
        byte[] name = new byte[4000];
        name.AsSpan().Fill((byte)'n');
        byte[] encodedName = new byte[HpackHuffman.GetEncodedLength(name)];
        HpackHuffman.Encode(name, encodedName);
        var block = new List<byte> { 0x00 };
        byte[] nameLength = new byte[6];
        int written = HpackInteger.Encode(encodedName.Length, 7, 0x80, nameLength);
        block.AddRange(nameLength.AsSpan(0, written).ToArray());
        block.AddRange(encodedName);
        block.AddRange(new byte[] { 0x05, (byte)'v', (byte)'a', (byte)'l', (byte)'u', (byte)'e' });
        byte[] bytes = block.ToArray();

        var decoder = new HpackDecoder(maxHeaderListSize: 8192);
        var handler = new CollectingHeaderHandler();
        int firstPart = bytes.Length - 6;
        decoder.Decode(bytes.AsSpan(0, firstPart), endHeaders: false, handler);
        for (int i = firstPart; i < bytes.Length; i++)
        {
            decoder.Decode(bytes.AsSpan(i, 1), endHeaders: false, handler);
            Assert.Equal(i == bytes.Length - 1 ? 1 : 0, handler.Headers.Count);
        }

        decoder.Decode(ReadOnlySpan<byte>.Empty, endHeaders: true, handler);
        Assert.Equal([(new string('n', 4000), "value")], handler.Headers);
    }

    [Fact]
    public void IndexedNameLengthCountsTowardsValueBudget()
    {
        // Name "www-authenticate" (static 61, 16 bytes) + value + 32: a 10-byte value fits, 11 does not, and
        // that is known from the length prefix alone.
        var decoder = new HpackDecoder(maxHeaderListSize: 32 + 16 + 10);
        Assert.Single(Http2TestSupport.Decode(decoder, [0x0F, 0x2E, 0x0A, .. "0123456789"u8.ToArray()]));
        var ex = Assert.Throws<HpackDecodingException>(() =>
            new HpackDecoder(maxHeaderListSize: 32 + 16 + 10).Decode(new byte[] { 0x0F, 0x2E, 0x0B, (byte)'0' }, endHeaders: false, new CountingHeaderHandler()));
        Assert.True(ex.HeaderListTooLarge);
    }
}

public class HpackDecoderStructHandlerTests
{
    private struct CountingStruct : IHpackHeaderHandler
    {
        public int Count;
        public int Bytes;

        public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            Count++;
            Bytes += name.Length + value.Length;
        }
    }

    [Fact]
    public void StructHandlerByReferenceKeepsItsStateAndAllocatesNothing()
    {
        var decoder = new HpackDecoder();
        byte[] block = Http2TestSupport.Hex("828684418cf1e3c2e5f23a6ba0ab90f4ff"); // C.4.1, Huffman literal
        var handler = new CountingStruct();
        decoder.DecodeInto(block, endHeaders: true, ref handler);
        Assert.Equal(4, handler.Count);

        byte[] next = Http2TestSupport.Hex("828684be5886a8eb10649cbf"); // C.4.2 adds cache-control
        byte[] indexedOnly = Http2TestSupport.Hex("828684be");
        long before = GC.GetAllocatedBytesForCurrentThread();
        decoder.DecodeInto(indexedOnly.AsSpan(), endHeaders: true, ref handler);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(8, handler.Count);
        decoder.DecodeInto(next, endHeaders: true, ref handler);
        Assert.Equal(13, handler.Count);
    }
}
