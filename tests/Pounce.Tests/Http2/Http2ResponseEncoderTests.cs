using Microsoft.AspNetCore.Http;
using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>The response head and trailer encoding alone, checked by decoding what it wrote.</summary>
public sealed class Http2ResponseEncoderTests
{
    private static List<(string Name, string Value)> Decode(HpackDecoder decoder, ReadOnlySpan<byte> block)
    {
        var handler = new CollectingHeaderHandler();
        decoder.Decode(block, endHeaders: true, handler);
        return handler.Headers;
    }

    [Fact]
    public void Head_CarriesStatus_Fields_Server_AndTheComputedLength_WithoutConnectionSpecificFields()
    {
        var encoder = new Http2ResponseEncoder("Pounce", dateSource: null);
        var headers = new HeaderDictionary
        {
            ["Content-Type"] = "text/plain",
            ["Connection"] = "close",
            ["Transfer-Encoding"] = "chunked",
            ["Keep-Alive"] = "timeout=5",
            ["Upgrade"] = "h2c",
            ["X-Multi"] = new Microsoft.Extensions.Primitives.StringValues(["a", "b"]),
        };
        var fields = Decode(new HpackDecoder(), encoder.EncodeHead(200, headers, contentLength: 5));
        Assert.Equal(
            [(":status", "200"), ("content-type", "text/plain"), ("x-multi", "a"), ("x-multi", "b"), ("server", "Pounce"), ("content-length", "5")],
            fields);
    }

    [Fact]
    public void Head_OfA204_DropsContentLength_AndAnApplicationServerHeaderWins()
    {
        var encoder = new Http2ResponseEncoder("Pounce", dateSource: null);
        var headers = new HeaderDictionary { ["Content-Length"] = "0", ["Server"] = "mine" };
        var fields = Decode(new HpackDecoder(), encoder.EncodeHead(204, headers, contentLength: null));
        Assert.Equal([(":status", "204"), ("server", "mine")], fields);
    }

    [Fact]
    public void SuccessiveHeads_ShareTheDynamicTable_AndShrink()
    {
        var encoder = new Http2ResponseEncoder("", dateSource: null);
        var decoder = new HpackDecoder();
        var headers = new HeaderDictionary { ["X-Custom-Header"] = "some-long-value-to-index" };
        var first = encoder.EncodeHead(200, headers, null).ToArray();
        var second = encoder.EncodeHead(200, headers, null).ToArray();
        Assert.True(second.Length < first.Length, $"second block {second.Length} bytes, first {first.Length}");
        Assert.Equal(Decode(decoder, first), Decode(decoder, second));
    }

    [Fact]
    public void PeerTableSize_IsAnnouncedAtTheStartOfTheNextBlock()
    {
        var encoder = new Http2ResponseEncoder("", dateSource: null);
        var decoder = new HpackDecoder();
        var headers = new HeaderDictionary { ["X-Custom-Header"] = "value" };
        Decode(decoder, encoder.EncodeHead(200, headers, null));
        encoder.SetPeerTableSize(0);
        var block = encoder.EncodeHead(200, headers, null).ToArray();
        Assert.Equal(0x20, block[0]); // dynamic table size update to 0 (RFC 7541 6.3)
        Assert.Equal([(":status", "200"), ("x-custom-header", "value")], Decode(decoder, block));
    }

    [Fact]
    public void Trailers_LeaveOutConnectionSpecificFields()
    {
        var encoder = new Http2ResponseEncoder("Pounce", dateSource: null);
        var trailers = new HeaderDictionary { ["grpc-status"] = "0", ["Connection"] = "close" };
        Assert.Equal([("grpc-status", "0")], Decode(new HpackDecoder(), encoder.EncodeTrailers(trailers)));
    }
    [Fact]
    public void RepeatedHeads_ReplayTheSameBlock_AndStayInStepAcrossTableChanges()
    {
        // One decoder follows every block in order, as the client does: replayed blocks must mean what a fresh
        // encoding would, also after trailers or a new value inserted into the table, and after a table size change.
        var encoder = new Http2ResponseEncoder("Pounce", dateSource: null);
        var decoder = new HpackDecoder();
        const string ContentType = "text/plain; charset=utf-8";
        var plain = new HeaderDictionary { ["Content-Type"] = ContentType };
        var expected = new List<(string, string)> { (":status", "200"), ("content-type", ContentType), ("server", "Pounce") };

        var first = encoder.EncodeHead(200, plain, null).ToArray(); // inserts content-type and server
        var second = encoder.EncodeHead(200, plain, null).ToArray(); // references only: stored
        var third = encoder.EncodeHead(200, plain, null).ToArray(); // replayed
        Assert.Equal(second, third);
        Assert.True(second.Length < first.Length);
        Assert.Equal(expected, Decode(decoder, first));
        Assert.Equal(expected, Decode(decoder, second));
        Assert.Equal(expected, Decode(decoder, third));

        // Trailers insert a field: the table changed, so the next head is encoded again (and still decodes).
        Assert.Equal([("grpc-status", "0")], Decode(decoder, encoder.EncodeTrailers(new HeaderDictionary { ["grpc-status"] = "0" })));
        Assert.Equal(expected, Decode(decoder, encoder.EncodeHead(200, plain, null)));
        Assert.Equal(expected, Decode(decoder, encoder.EncodeHead(200, plain, null)));

        // A different value (another string, the same field name) is never taken for the stored head.
        var other = new HeaderDictionary { ["Content-Type"] = "application/json" };
        Assert.Equal([(":status", "200"), ("content-type", "application/json"), ("server", "Pounce")], Decode(decoder, encoder.EncodeHead(200, other, null)));
        Assert.Equal([(":status", "404"), ("content-type", ContentType), ("server", "Pounce")], Decode(decoder, encoder.EncodeHead(404, plain, null)));
        Assert.Equal([.. expected, ("content-length", "13")], Decode(decoder, encoder.EncodeHead(200, plain, 13)));
        Assert.Equal(expected, Decode(decoder, encoder.EncodeHead(200, plain, null)));

        // A new peer table size: the next block starts with the size update, replayed or not.
        encoder.SetPeerTableSize(0);
        var afterResize = encoder.EncodeHead(200, plain, null).ToArray();
        Assert.Equal(0x20, afterResize[0]);
        Assert.Equal(expected, Decode(decoder, afterResize));
        var next = encoder.EncodeHead(200, plain, null).ToArray();
        Assert.NotEqual(0x20, next[0] & 0xE0);
        Assert.Equal(expected, Decode(decoder, next));
    }
}

/// <summary>The stored head block alone (<see cref="Http2HeadCache"/>).</summary>
public sealed class Http2HeadCacheTests
{
    private const string ContentType = "text/plain";
    private static readonly byte[] Date = "Date: Sat, 05 Dec 2026 10:00:00 GMT\r\n"u8.ToArray();
    private static readonly byte[] Block = [0x88, 0xBE, 0xBF];

    private static (Http2HeadCache Cache, HeaderDictionary Headers) Stored()
    {
        var cache = new Http2HeadCache();
        var headers = new HeaderDictionary { ["Content-Type"] = ContentType };
        cache.Store(200, headers, null, Date, tableVersion: 7, Block);
        return (cache, headers);
    }

    [Fact]
    public void TheSameHead_AndTableVersion_GetTheStoredBlock()
    {
        var (cache, headers) = Stored();
        Assert.True(cache.TryGet(200, headers, null, Date, 7, out var block));
        Assert.Equal(Block, block.ToArray());
        var sameStrings = new HeaderDictionary { ["Content-Type"] = ContentType };
        Assert.True(cache.TryGet(200, sameStrings, null, Date, 7, out _));
    }

    [Fact]
    public void AnyDifference_IsAMiss()
    {
        var (cache, headers) = Stored();
        Assert.False(cache.TryGet(200, headers, null, Date, 8, out _)); // the table changed
        Assert.False(cache.TryGet(201, headers, null, Date, 7, out _));
        Assert.False(cache.TryGet(200, headers, 5, Date, 7, out _));
        Assert.False(cache.TryGet(200, headers, null, "Date: Sat, 05 Dec 2026 10:00:01 GMT\r\n"u8, 7, out _));
        var equalButNotTheSameString = new HeaderDictionary { ["Content-Type"] = new string(ContentType.AsSpan()) };
        Assert.False(cache.TryGet(200, equalButNotTheSameString, null, Date, 7, out _));
        var more = new HeaderDictionary { ["Content-Type"] = ContentType, ["X-A"] = "a" };
        Assert.False(cache.TryGet(200, more, null, Date, 7, out _));
        Assert.False(cache.TryGet(200, new HeaderDictionary(), null, Date, 7, out _));
    }

    [Fact]
    public void HeadsThatCannotBeComparedCheaply_AreNotStored()
    {
        var cache = new Http2HeadCache();
        var multi = new HeaderDictionary { ["X-Multi"] = new Microsoft.Extensions.Primitives.StringValues(["a", "b"]) };
        cache.Store(200, multi, null, Date, 1, Block);
        Assert.False(cache.HasBlock);
        Assert.False(cache.TryGet(200, multi, null, Date, 1, out _));

        var many = new HeaderDictionary();
        for (var i = 0; i <= Http2HeadCache.MaxFields; i++)
            many["X-" + i] = "v";
        cache.Store(200, many, null, Date, 1, Block);
        Assert.False(cache.HasBlock);

        cache.Store(200, new HeaderDictionary(), null, Date, 1, new byte[Http2HeadCache.MaxBlockBytes + 1]);
        Assert.False(cache.HasBlock);
    }

    [Fact]
    public void Clear_ForgetsTheBlock()
    {
        var (cache, headers) = Stored();
        cache.Clear();
        Assert.False(cache.HasBlock);
        Assert.False(cache.TryGet(200, headers, null, Date, 7, out _));
    }
}

