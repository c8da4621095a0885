using Pounce.Http2;
using Pounce.Tests.Http2;

namespace Pounce.Tests.WebSockets;

/// <summary>
/// WebSockets over HTTP/2 (RFC 8441): the same raw extended CONNECT requests go to Kestrel (its HTTP/2-only h2c
/// endpoint) and to Pounce hosting the same app, and get the same answer: a 200 that leaves the stream open, the
/// app's 400 for what the WebSocket middleware does not take, or the same stream error.
/// </summary>
public sealed class Http2KestrelComparisonTests : IClassFixture<KestrelAndPounce>
{
    private readonly KestrelAndPounce _servers;

    public Http2KestrelComparisonTests(KestrelAndPounce servers) => _servers = servers;

    private static async Task<string> AskAsync(int port, (string, string)[] fields)
    {
        await using var raw = await Http2RawClient.ConnectAsync(port);
        await raw.SendHeadersAsync(1, false, fields);
        var frame = await raw.ExpectAsync(f => (f.StreamId == 1 && f.Type is Http2FrameType.Headers or Http2FrameType.RstStream) || f.Type == Http2FrameType.GoAway, "an answer");
        return frame.Type switch
        {
            Http2FrameType.Headers => "status " + raw.HeadersOf(1).First(h => h.Name == ":status").Value + (frame.Has(Http2FrameFlags.EndStream) ? " end" : " open"),
            Http2FrameType.RstStream => "RST_STREAM " + frame.RstCode,
            _ => "GOAWAY " + frame.GoAwayCode,
        };
    }

    public static TheoryData<string, (string, string)[], string> Cases()
    {
        var connect = WsTestTransport.ExtendedConnect();
        return new()
        {
            { "WebSocket extended CONNECT", connect, "status 200 open" },
            { "without :authority (RFC 8441 4 asks only for :scheme and :path)", connect.Where(f => f.Item1 != ":authority").ToArray(), "status 200 open" },
            { "sec-websocket-version 12", connect.Select(f => f.Item1 == "sec-websocket-version" ? (f.Item1, "12") : f).ToArray(), "status 400 open" },
            { "no sec-websocket-version", connect.Where(f => f.Item1 != "sec-websocket-version").ToArray(), "status 400 open" },
            { ":protocol webtransport", WsTestTransport.ExtendedConnect(protocol: "webtransport"), "status 400 open" },
            { ":protocol on GET", [(":method", "GET"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/ws"), (":authority", "localhost")], "RST_STREAM ProtocolError" },
            { "no :path", connect.Where(f => f.Item1 != ":path").ToArray(), "RST_STREAM ProtocolError" },
            { "no :scheme", connect.Where(f => f.Item1 != ":scheme").ToArray(), "RST_STREAM ProtocolError" },
            { "CONNECT with :scheme and :path but no :protocol", connect.Where(f => f.Item1 != ":protocol").ToArray(), "RST_STREAM ProtocolError" },
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Kestrel_and_Pounce_answer_extended_CONNECT_alike(string what, (string, string)[] fields, string expected)
    {
        var kestrel = await AskAsync(_servers.KestrelHttp2Port, fields);
        var pounce = await AskAsync(_servers.PouncePort, fields);
        Assert.True(kestrel == pounce, $"{what}:\n  Kestrel: {kestrel}\n  Pounce:  {pounce}");
        Assert.Equal(expected, pounce);
    }
}
