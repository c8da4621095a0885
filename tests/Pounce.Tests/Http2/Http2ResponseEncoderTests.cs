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
}
