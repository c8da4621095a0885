using System.Text;
using Pounce.Http2;
using static Pounce.Http2.Http2ErrorCode;

namespace Pounce.Tests.Http2;

/// <summary>One h2spec case: its id as h2spec prints it (<c>http2/6.5.3/1</c>), what it checks, and its replay.</summary>
internal sealed record H2SpecCase(string Id, string Description, Func<H2SpecClient, Task> Run)
{
    public override string ToString() => Id;
}

/// <summary>
/// The cases of h2spec 2.x (generic, http2 and hpack groups; 147 with the strict ones), each replayed with the frames
/// h2spec sends and judged as h2spec judges it (see <see cref="H2SpecClient"/>). Written from reading h2spec's
/// sources, not copied from them. The server must answer <c>/</c> with a body of at least 5 bytes (h2spec skips
/// the flow-control cases otherwise).
/// </summary>
internal static class H2SpecCases
{
    private static readonly byte[] Test = "test"u8.ToArray();
    private static readonly byte[] H2Spec = [(byte)'h', (byte)'2', (byte)'s', (byte)'p', (byte)'e', (byte)'c', 0, 0];
    private static readonly byte[] Zeros = new byte[8];

    public static readonly IReadOnlyList<H2SpecCase> All = Build();

    public static H2SpecCase Find(string id) => All.First(c => c.Id == id);

    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    private static List<H2SpecCase> Build()
    {
        var cases = new List<H2SpecCase>();
        void Add(string id, string description, Func<H2SpecClient, Task> run) => cases.Add(new H2SpecCase(id, description, run));

        // ---------------------------------------------------------------- generic
        Add("generic/1/1", "Sends a client connection preface", async c =>
        {
            await c.SendPrefaceAsync();
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 65_535));
            var first = await c.NextFrameAsync();
            Assert.True(first is { Type: Http2FrameType.Settings } && !first.Has(Http2FrameFlags.Ack), $"first frame: {first}");
        });
        Add("generic/2/1", "Sends a PRIORITY frame on idle stream", async c =>
        {
            await c.HandshakeAsync();
            await c.WritePriorityAsync(1, 0, false, 255);
            await c.WritePingAsync(false, Zeros);
            await c.VerifyPingAckAsync(Zeros);
        });
        Add("generic/2/2", "Sends a WINDOW_UPDATE frame on half-closed (remote) stream", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 0));
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteWindowUpdateAsync(1, 1);
            await c.ExpectFrameAsync(Http2FrameType.Data);
        });
        Add("generic/2/3", "Sends a PRIORITY frame on half-closed (remote) stream", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 0));
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WritePriorityAsync(1, 0, false, 255);
            await c.WriteWindowUpdateAsync(1, 1);
            await c.ExpectFrameAsync(Http2FrameType.Data);
        });
        Add("generic/2/4", "Sends a RST_STREAM frame on half-closed (remote) stream", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteRstStreamAsync(1, (uint)Cancel);
            await c.WritePingAsync(false, Zeros);
            await c.VerifyPingAckOrCloseAsync(Zeros);
        });
        Add("generic/2/5", "Sends a PRIORITY frame on closed stream", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyStreamCloseAsync();
            await c.WritePriorityAsync(1, 0, false, 255);
            await c.WritePingAsync(false, Zeros);
            await c.VerifyPingAckAsync(Zeros);
        });
        Add("generic/3.1/1", "Sends a DATA frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyHeadersFrameAsync(1);
        });
        Add("generic/3.1/2", "Sends multiple DATA frames", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteDataAsync(1, false, Test);
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyHeadersFrameAsync(1);
        });
        Add("generic/3.1/3", "Sends a DATA frame with padding", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteDataPaddedAsync(1, true, Test, "padded"u8.ToArray());
            await c.VerifyHeadersFrameAsync(1);
        });
        Add("generic/3.2/1", "Sends a HEADERS frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyHeadersFrameAsync(1);
        });
        Add("generic/3.2/2", "Sends a HEADERS frame with padding", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()), padLength: 8);
            await c.VerifyHeadersFrameAsync(1);
        });
        Add("generic/3.2/3", "Sends a HEADERS frame with priority", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()), priority: (0, false, 255));
            await c.VerifyHeadersFrameAsync(1);
        });
        foreach (var (n, description, stream, dependency, exclusive, weight) in new[]
        {
            (1, "Sends a PRIORITY frame with priority 1", 1, 0, false, (byte)0),
            (2, "Sends a PRIORITY frame with priority 256", 1, 0, false, (byte)255),
            (3, "Sends a PRIORITY frame with stream dependency", 3, 1, false, (byte)0),
            (4, "Sends a PRIORITY frame with exclusive", 1, 0, true, (byte)0),
            (5, "Sends a PRIORITY frame for an idle stream, then send a HEADER frame for a lower stream ID", 3, 0, false, (byte)255),
        })
        {
            Add($"generic/3.3/{n}", description, async c =>
            {
                await c.HandshakeAsync();
                await c.WritePriorityAsync(stream, dependency, exclusive, weight);
                await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
                await c.VerifyHeadersFrameAsync(1);
            });
        }
        Add("generic/3.4/1", "Sends a RST_STREAM frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteRstStreamAsync(1, (uint)Cancel);
            await c.WritePingAsync(false, Zeros);
            await c.VerifyPingAckOrCloseAsync(Zeros);
        });
        Add("generic/3.5/1", "Sends a SETTINGS frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync(
                (Http2SettingId.HeaderTableSize, 4096), (Http2SettingId.EnablePush, 1), (Http2SettingId.MaxConcurrentStreams, 100),
                (Http2SettingId.InitialWindowSize, 65_535), (Http2SettingId.MaxFrameSize, 16_384), (Http2SettingId.MaxHeaderListSize, 100));
            await c.VerifySettingsAckAsync();
        });
        Add("generic/3.7/1", "Sends a PING frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WritePingAsync(false, H2Spec);
            await c.VerifyPingAckAsync(H2Spec);
        });
        Add("generic/3.8/1", "Sends a GOAWAY frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteGoAwayAsync(0, (uint)NoError, "h2spec"u8.ToArray());
            await c.VerifyConnectionCloseAsync();
        });
        Add("generic/3.9/1", "Sends a WINDOW_UPDATE frame with stream ID 0", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteWindowUpdateAsync(0, 1);
            await c.WritePingAsync(false, Zeros);
            await c.ExpectFrameAsync(Http2FrameType.Ping);
        });
        Add("generic/3.9/2", "Sends a WINDOW_UPDATE frame with stream ID 1", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteWindowUpdateAsync(1, 1);
            await c.ExpectFrameAsync(Http2FrameType.Headers);
        });
        Add("generic/3.10/1", "Sends a CONTINUATION frame", async c =>
        {
            await c.HandshakeAsync();
            var block = c.EncodeHeaders(c.CommonHeaders());
            await c.WriteHeadersAsync(1, true, false, block[..5]);
            await c.WriteContinuationAsync(1, true, block[5..]);
            await c.VerifyHeadersFrameAsync(1);
        });
        Add("generic/3.10/2", "Sends multiple CONTINUATION frames", async c =>
        {
            await c.HandshakeAsync();
            var block = c.EncodeHeaders(c.CommonHeaders());
            await c.WriteHeadersAsync(1, true, false, block[..5]);
            await c.WriteContinuationAsync(1, false, block[5..10]);
            await c.WriteContinuationAsync(1, true, block[10..]);
            await c.VerifyHeadersFrameAsync(1);
        });
        Add("generic/4/1", "Sends a GET request", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyHeadersFrameAsync(1);
        });
        Add("generic/4/2", "Sends a HEAD request", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders("HEAD")));
            await c.VerifyHeadersFrameAsync(1);
        });
        Add("generic/4/3", "Sends a POST request", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyHeadersFrameAsync(1);
        });
        Add("generic/4/4", "Sends a POST request with trailers", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders([.. c.CommonHeaders("POST"), ("trailer", "x-test")]));
            await c.WriteDataAsync(1, false, Test);
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(("x-test", "ok")));
            await c.VerifyHeadersFrameAsync(1);
        });
        // RFC 7541 representations appended to (or, for size updates, put before) the common request fields.
        foreach (var (n, description, representation, before) in new[]
        {
            (1, "Sends a indexed header field representation", "ba", false),
            (2, "Sends a literal header field with incremental indexing - indexed name", "7a 06 683273706563", false),
            (3, "Sends a literal header field with incremental indexing - indexed name (with Huffman coding)", "7a 84 9c48aca4", false),
            (4, "Sends a literal header field with incremental indexing - new name", "40 06 782d74657374 06 683273706563", false),
            (5, "Sends a literal header field with incremental indexing - new name (with Huffman coding)", "40 85 f2b24a84ff 84 9c48aca4", false),
            (6, "Sends a literal header field without indexing - indexed name", "0f2b 06 683273706563", false),
            (7, "Sends a literal header field without indexing - indexed name (with Huffman coding)", "0f2b 84 9c48aca4", false),
            (8, "Sends a literal header field without indexing - new name", "00 06 782d74657374 06 683273706563", false),
            (9, "Sends a literal header field without indexing - new name (huffman encoded)", "00 85 f2b24a84ff 84 9c48aca4", false),
            (10, "Sends a literal header field never indexed - indexed name", "1f2b 06 683273706563", false),
            (11, "Sends a literal header field never indexed - indexed name (huffman encoded)", "1f2b 84 9c48aca4", false),
            (12, "Sends a literal header field never indexed - new name", "10 06 782d74657374 06 683273706563", false),
            (13, "Sends a literal header field never indexed - new name (huffman encoded)", "10 85 f2b24a84ff 84 9c48aca4", false),
            (14, "Sends a dynamic table size update", "20", true),
            (15, "Sends multiple dynamic table size update", "20 3fe11f", true),
        })
        {
            Add($"generic/5/{n}", description, async c =>
            {
                await c.HandshakeAsync();
                var fields = c.EncodeHeaders(c.CommonHeaders());
                var rep = Hex(representation);
                await c.WriteHeadersAsync(1, true, true, before ? [.. rep, .. fields] : [.. fields, .. rep]);
                await c.VerifyHeadersFrameAsync(1);
            });
        }

        // ---------------------------------------------------------------- http2
        Add("http2/3.5/1", "Sends client connection preface", async c =>
        {
            await c.SendPrefaceAsync();
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 65_535));
            var settings = await c.ExpectFrameAsync(Http2FrameType.Settings);
            Assert.False(settings.Has(Http2FrameFlags.Ack), "the server's first SETTINGS must not be an ACK");
        });
        Add("http2/3.5/2", "Sends invalid connection preface", async c =>
        {
            await c.SendAsync("INVALID CONNECTION PREFACE\r\n\r\n"u8.ToArray());
            await c.DrainUntilCloseAsync();
        });
        Add("http2/4.1/1", "Sends a frame with unknown type", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000008 16 00 00000000 0000000000000000");
            await c.WritePingAsync(false, Zeros);
            await c.ExpectFrameAsync(Http2FrameType.Ping);
        });
        Add("http2/4.1/2", "Sends a frame with undefined flag", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000008 06 16 00000000 0000000000000000");
            await c.ExpectFrameAsync(Http2FrameType.Ping);
        });
        Add("http2/4.1/3", "Sends a frame with reserved field bit", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000008 06 16 80000000 0000000000000000");
            await c.ExpectFrameAsync(Http2FrameType.Ping);
        });
        Add("http2/4.2/1", "Sends a DATA frame with 2^14 octets in length", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteDataAsync(1, true, Encoding.ASCII.GetBytes(new string('x', c.MaxFrameSize)));
            await c.ExpectFrameAsync(Http2FrameType.Headers);
        });
        Add("http2/4.2/2", "Sends a large size DATA frame that exceeds the SETTINGS_MAX_FRAME_SIZE", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteDataAsync(1, true, Encoding.ASCII.GetBytes(new string('x', c.MaxFrameSize + 1)));
            await c.VerifyStreamErrorAsync(FrameSizeError);
        });
        Add("http2/4.2/3", "Sends a large size HEADERS frame that exceeds the SETTINGS_MAX_FRAME_SIZE", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders([.. c.CommonHeaders(), .. H2SpecClient.DummyHeaders(5)]));
            await c.VerifyConnectionErrorAsync(FrameSizeError);
        });
        Add("http2/4.3/1", "Sends invalid header block fragment", async c =>
        {
            await c.HandshakeAsync();
            // A literal with incremental indexing and nothing after its first octet.
            await c.SendHexAsync("000001 01 05 00000001 40");
            await c.VerifyConnectionErrorAsync(CompressionError);
        });
        Add("http2/4.3/2", "Sends a PRIORITY frame while sending the header blocks", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, false, c.EncodeHeaders(c.CommonHeaders()));
            await c.WritePriorityAsync(1, 0, false, 255);
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/4.3/3", "Sends a HEADERS frame to another stream while sending the header blocks", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, false, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteHeadersAsync(3, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/5.1/1", "idle: Sends a DATA frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/5.1/2", "idle: Sends a RST_STREAM frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteRstStreamAsync(1, (uint)Cancel);
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/5.1/3", "idle: Sends a WINDOW_UPDATE frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteWindowUpdateAsync(1, 100);
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/5.1/4", "idle: Sends a CONTINUATION frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/5.1/5", "half closed (remote): Sends a DATA frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyStreamErrorAsync(StreamClosed);
        });
        Add("http2/5.1/6", "half closed (remote): Sends a HEADERS frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyStreamErrorAsync(StreamClosed);
        });
        Add("http2/5.1/7", "half closed (remote): Sends a CONTINUATION frame", async c =>
        {
            await c.HandshakeAsync();
            var block = c.EncodeHeaders(c.CommonHeaders());
            await c.WriteHeadersAsync(1, true, true, block);
            await c.WriteContinuationAsync(1, true, block);
            await c.VerifyStreamErrorAsync(StreamClosed, ProtocolError);
        });
        Add("http2/5.1/8", "closed: Sends a DATA frame after sending RST_STREAM frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteRstStreamAsync(1, (uint)Cancel);
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyStreamErrorAsync(StreamClosed);
        });
        Add("http2/5.1/9", "closed: Sends a HEADERS frame after sending RST_STREAM frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteRstStreamAsync(1, (uint)Cancel);
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyStreamErrorAsync(StreamClosed);
        });
        Add("http2/5.1/10", "closed: Sends a CONTINUATION frame after sending RST_STREAM frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteRstStreamAsync(1, (uint)Cancel);
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.VerifyStreamErrorAsync(StreamClosed, ProtocolError);
        });
        Add("http2/5.1/11", "closed: Sends a DATA frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyStreamCloseAsync();
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyConnectionErrorAsync(StreamClosed);
        });
        Add("http2/5.1/12", "closed: Sends a HEADERS frame", async c =>
        {
            await c.HandshakeAsync();
            var block = c.EncodeHeaders(c.CommonHeaders());
            await c.WriteHeadersAsync(1, true, true, block);
            await c.VerifyStreamCloseAsync();
            await c.WriteHeadersAsync(1, true, true, block);
            await c.VerifyConnectionErrorAsync(StreamClosed);
        });
        Add("http2/5.1/13", "closed: Sends a CONTINUATION frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyStreamCloseAsync();
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.VerifyConnectionErrorAsync(StreamClosed, ProtocolError);
        });
        Add("http2/5.1.1/1", "Sends even-numbered stream identifier", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(2, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/5.1.1/2", "Sends stream identifier that is numerically smaller than previous", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(5, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteHeadersAsync(3, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/5.1.1/3", "Sends HEADERS frame with the stream which is in half-closed (remote) state", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(5, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteHeadersAsync(5, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyStreamErrorAsync(StreamClosed);
        });
        Add("http2/5.1.2/1", "Sends HEADERS frames that causes their advertised concurrent stream limit to be exceeded", async c =>
        {
            await c.HandshakeAsync();
            Assert.True(c.ServerSettings.TryGetValue(Http2SettingId.MaxConcurrentStreams, out var max), "SETTINGS_MAX_CONCURRENT_STREAMS not advertised");
            // A zero window keeps every response (and so every stream) open.
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 0));
            var block = c.EncodeHeaders(c.CommonHeaders());
            for (var i = 0; i <= max; i++)
                await c.WriteHeadersAsync(1 + 2 * i, true, true, block);
            await c.VerifyStreamErrorAsync(ProtocolError, RefusedStream);
        });
        Add("http2/5.3.1/1", "Sends HEADERS frame that depends on itself", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()), priority: (1, false, 255));
            await c.VerifyStreamErrorAsync(ProtocolError);
        });
        Add("http2/5.3.1/2", "Sends PRIORITY frame that depend on itself", async c =>
        {
            await c.HandshakeAsync();
            await c.WritePriorityAsync(1, 1, false, 255);
            await c.VerifyStreamErrorAsync(ProtocolError);
        });
        Add("http2/5.4.1/1", "Sends an invalid PING frame for connection close", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000008 06 00 00000003 0000000000000000");
            await c.VerifyConnectionCloseAsync();
        });
        Add("http2/5.4.1/2", "Sends an invalid PING frame to receive GOAWAY frame (strict)", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000008 06 00 00000003 0000000000000000");
            await c.ExpectFrameAsync(Http2FrameType.GoAway);
        });
        Add("http2/5.5/1", "Sends an unknown extension frame", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000008 16 00 00000000 0000000000000000");
            await c.WritePingAsync(false, Zeros);
            await c.ExpectFrameAsync(Http2FrameType.Ping);
        });
        Add("http2/5.5/2", "Sends an unknown extension frame in the middle of a header block", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, false, c.EncodeHeaders(c.CommonHeaders()));
            await c.SendHexAsync("000008 16 00 00000000 0000000000000000");
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.1/1", "Sends a DATA frame with 0x0 stream identifier", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteDataAsync(0, true, Test);
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.1/2", "Sends a DATA frame on the stream that is not in \"open\" or \"half-closed (local)\" state", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyStreamErrorAsync(StreamClosed);
        });
        Add("http2/6.1/3", "Sends a DATA frame with invalid pad length", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders([.. c.CommonHeaders("POST"), ("content-length", "4")]));
            // Length 5: pad length 6, then "Test".
            await c.SendHexAsync("000005 00 09 00000001 06 54657374");
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.2/1", "Sends a HEADERS frame without the END_HEADERS flag, and a PRIORITY frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, false, c.EncodeHeaders(c.CommonHeaders()));
            await c.WritePriorityAsync(1, 0, false, 255);
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.2/2", "Sends a HEADERS frame to another stream while sending a HEADERS frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, false, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteHeadersAsync(3, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.2/3", "Sends a HEADERS frame with 0x0 stream identifier", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(0, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.2/4", "Sends a HEADERS frame with invalid pad length", async c =>
        {
            await c.HandshakeAsync();
            var block = c.EncodeHeaders(c.CommonHeaders());
            // PADDED | END_HEADERS | END_STREAM, pad length two more than what is left after it.
            await c.SendAsync([.. H2SpecClient.Frame(Http2FrameType.Headers, (Http2FrameFlags)0x0d, 1, [(byte)(block.Length + 2), .. block])]);
            await c.VerifyStreamErrorAsync(ProtocolError);
        });
        Add("http2/6.3/1", "Sends a PRIORITY frame with 0x0 stream identifier", async c =>
        {
            await c.HandshakeAsync();
            await c.WritePriorityAsync(0, 0, false, 255);
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.3/2", "Sends a PRIORITY frame with a length other than 5 octets", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.SendHexAsync("000004 02 00 00000001 80000001");
            await c.VerifyStreamErrorAsync(FrameSizeError);
        });
        Add("http2/6.4/1", "Sends a RST_STREAM frame with 0x0 stream identifier", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteRstStreamAsync(0, (uint)Cancel);
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.4/2", "Sends a RST_STREAM frame on a idle stream", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteRstStreamAsync(1, (uint)Cancel);
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.4/3", "Sends a RST_STREAM frame with a length other than 4 octets", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.SendHexAsync("000003 03 00 00000001 000000");
            await c.VerifyConnectionErrorAsync(FrameSizeError);
        });
        Add("http2/6.5/1", "Sends a SETTINGS frame with ACK flag and payload", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000001 04 01 00000000 00");
            await c.VerifyConnectionErrorAsync(FrameSizeError);
        });
        Add("http2/6.5/2", "Sends a SETTINGS frame with a stream identifier other than 0x0", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000006 04 00 00000001 0003 00000064");
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.5/3", "Sends a SETTINGS frame with a length other than a multiple of 6 octets", async c =>
        {
            await c.HandshakeAsync();
            // As h2spec sends it: the header says 9 octets, 8 follow. The length alone must be enough to answer.
            await c.SendHexAsync("000009 04 00 00000000 0003 00000064 0002");
            await c.VerifyStreamErrorAsync(ProtocolError, FrameSizeError);
        });
        Add("http2/6.5.2/1", "SETTINGS_ENABLE_PUSH (0x2): Sends the value other than 0 or 1", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.EnablePush, 2));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.5.2/2", "SETTINGS_INITIAL_WINDOW_SIZE (0x4): Sends the value above the maximum flow control window size", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 2_147_483_648));
            await c.VerifyConnectionErrorAsync(FlowControlError);
        });
        Add("http2/6.5.2/3", "SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value below the initial value", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.MaxFrameSize, 16_383));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.5.2/4", "SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value above the maximum allowed frame size", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.MaxFrameSize, 16_777_216));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.5.2/5", "Sends a SETTINGS frame with unknown identifier", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync(((Http2SettingId)0xFF, 1));
            await c.WritePingAsync(false, Zeros);
            await c.ExpectFrameAsync(Http2FrameType.Ping);
        });
        Add("http2/6.5.3/1", "Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 100), (Http2SettingId.InitialWindowSize, 1));
            await c.ExpectFrameAsync(Http2FrameType.Settings);
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyDataLengthAsync(1);
        });
        Add("http2/6.5.3/2", "Sends a SETTINGS frame without ACK flag", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.EnablePush, 0));
            await c.VerifySettingsAckAsync();
        });
        Add("http2/6.7/1", "Sends a PING frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WritePingAsync(false, H2Spec);
            await c.VerifyPingAckAsync(H2Spec);
        });
        Add("http2/6.7/2", "Sends a PING frame with ACK", async c =>
        {
            await c.HandshakeAsync();
            var unexpected = "invalid\0"u8.ToArray();
            await c.WritePingAsync(true, unexpected);
            await c.WritePingAsync(false, H2Spec);
            // The first PING back must answer the second one: the ACK of an ACK is never sent.
            await c.VerifyPingAckAsync(H2Spec);
        });
        Add("http2/6.7/3", "Sends a PING frame with a stream identifier field value other than 0x0", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000008 06 00 00000001 0000000000000000");
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.7/4", "Sends a PING frame with a length field value other than 8", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000006 06 00 00000000 000000000000");
            await c.VerifyConnectionErrorAsync(FrameSizeError);
        });
        Add("http2/6.8/1", "Sends a GOAWAY frame with a stream identifier other than 0x0", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000008 07 00 00000001 0000000000000000");
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.9/1", "Sends a WINDOW_UPDATE frame with a flow control window increment of 0", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteWindowUpdateAsync(0, 0);
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.9/2", "Sends a WINDOW_UPDATE frame with a flow control window increment of 0 on a stream", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteWindowUpdateAsync(1, 0);
            await c.VerifyStreamErrorAsync(ProtocolError);
        });
        Add("http2/6.9/3", "Sends a WINDOW_UPDATE frame with a length other than 4 octets", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000003 08 00 00000000 000001");
            await c.VerifyConnectionErrorAsync(FrameSizeError);
        });
        Add("http2/6.9.1/1", "Sends SETTINGS frame to set the initial window size to 1 and sends HEADERS frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 1));
            await c.ExpectFrameAsync(Http2FrameType.Settings);
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyDataLengthAsync(1);
        });
        Add("http2/6.9.1/2", "Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteWindowUpdateAsync(0, 2_147_483_647);
            await c.WriteWindowUpdateAsync(0, 2_147_483_647);
            var goAway = await c.ExpectFrameAsync(Http2FrameType.GoAway);
            Assert.Equal(FlowControlError, goAway.GoAwayCode);
        });
        Add("http2/6.9.1/3", "Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1 on a stream", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteWindowUpdateAsync(1, 2_147_483_647);
            await c.WriteWindowUpdateAsync(1, 2_147_483_647);
            var reset = await c.ExpectFrameAsync(Http2FrameType.RstStream);
            Assert.Equal(1, reset.StreamId);
            Assert.Equal(FlowControlError, reset.RstCode);
        });
        Add("http2/6.9.2/1", "Changes SETTINGS_INITIAL_WINDOW_SIZE after sending HEADERS frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 0));
            await c.ExpectFrameAsync(Http2FrameType.Settings);
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 1));
            await c.ExpectFrameAsync(Http2FrameType.Settings);
            await c.VerifyDataLengthAsync(1);
        });
        Add("http2/6.9.2/2", "Sends a SETTINGS frame for window size to be negative", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 3));
            await c.ExpectFrameAsync(Http2FrameType.Settings);
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyDataLengthAsync(3);
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 2));
            await c.ExpectFrameAsync(Http2FrameType.Settings);
            // The window is now -1: an increment of 2 allows exactly one more octet.
            await c.WriteWindowUpdateAsync(1, 2);
            await c.VerifyDataLengthAsync(1);
        });
        Add("http2/6.9.2/3", "Sends a SETTINGS_INITIAL_WINDOW_SIZE settings with an exceeded maximum window size value", async c =>
        {
            await c.HandshakeAsync();
            await c.SendHexAsync("000006 04 00 00000000 0004 80000000");
            await c.VerifyConnectionErrorAsync(FlowControlError);
        });
        Add("http2/6.10/1", "Sends multiple CONTINUATION frames preceded by a HEADERS frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, false, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteContinuationAsync(1, false, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.ExpectFrameAsync(Http2FrameType.Headers);
        });
        Add("http2/6.10/2", "Sends a CONTINUATION frame followed by any frame other than CONTINUATION", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, false, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteContinuationAsync(1, false, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.10/3", "Sends a CONTINUATION frame with 0x0 stream identifier", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, false, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteContinuationAsync(0, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.10/4", "Sends a CONTINUATION frame preceded by a HEADERS frame with END_HEADERS flag", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.10/5", "Sends a CONTINUATION frame preceded by a CONTINUATION frame with END_HEADERS flag", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, true, false, c.EncodeHeaders(c.CommonHeaders()));
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.WriteContinuationAsync(1, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/6.10/6", "Sends a CONTINUATION frame preceded by a DATA frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, false, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteDataAsync(1, true, Test);
            await c.WriteContinuationAsync(1, false, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.WriteContinuationAsync(0, true, c.EncodeHeaders(H2SpecClient.DummyHeaders(1)));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });
        Add("http2/7/1", "Sends a GOAWAY frame with unknown error code", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteGoAwayAsync(0, 0xff, []);
            await c.VerifyConnectionCloseAsync();
        });
        Add("http2/7/2", "Sends a RST_STREAM frame with unknown error code", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteRstStreamAsync(1, 0xff);
            await c.WritePingAsync(false, Zeros);
            await c.ExpectFrameAsync(Http2FrameType.Ping);
        });
        Add("http2/8.1/1", "Sends a second HEADERS frame without the END_STREAM flag", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteDataAsync(1, false, Test);
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(("x-test", "ok")));
            await c.VerifyStreamErrorAsync(ProtocolError);
        });
        // Malformed requests: one HEADERS frame (END_STREAM, END_HEADERS) answered with a stream PROTOCOL_ERROR.
        foreach (var (id, description, fields) in new (string, string, Func<H2SpecClient, (string, string)[]>)[]
        {
            ("http2/8.1.2/1", "Sends a HEADERS frame that contains the header field name in uppercase letters", c => [.. c.CommonHeaders(), ("X-TEST", "ok")]),
            ("http2/8.1.2.1/1", "Sends a HEADERS frame that contains a unknown pseudo-header field", c => [.. c.CommonHeaders(), (":test", "ok")]),
            ("http2/8.1.2.1/2", "Sends a HEADERS frame that contains the pseudo-header field defined for response", c => [.. c.CommonHeaders(), (":status", "200")]),
            ("http2/8.1.2.1/4", "Sends a HEADERS frame that contains a pseudo-header field that appears in a header block after a regular header field", c => [("x-test", "ok"), .. c.CommonHeaders()]),
            ("http2/8.1.2.2/1", "Sends a HEADERS frame that contains the connection-specific header field", c => [.. c.CommonHeaders(), ("connection", "keep-alive")]),
            ("http2/8.1.2.2/2", "Sends a HEADERS frame that contains the TE header field with any value other than \"trailers\"", c => [.. c.CommonHeaders(), ("trailers", "test"), ("te", "trailers, deflate")]),
            ("http2/8.1.2.3/1", "Sends a HEADERS frame with empty \":path\" pseudo-header field", c => Replace(c.CommonHeaders(), ":path", "")),
            ("http2/8.1.2.3/2", "Sends a HEADERS frame that omits \":method\" pseudo-header field", c => Without(c.CommonHeaders(), ":method")),
            ("http2/8.1.2.3/3", "Sends a HEADERS frame that omits \":scheme\" pseudo-header field", c => Without(c.CommonHeaders(), ":scheme")),
            ("http2/8.1.2.3/4", "Sends a HEADERS frame that omits \":path\" pseudo-header field", c => Without(c.CommonHeaders(), ":path")),
            ("http2/8.1.2.3/5", "Sends a HEADERS frame with duplicated \":method\" pseudo-header field", c => [.. c.CommonHeaders(), (":method", "GET")]),
            ("http2/8.1.2.3/6", "Sends a HEADERS frame with duplicated \":scheme\" pseudo-header field", c => [.. c.CommonHeaders(), (":scheme", "http")]),
            ("http2/8.1.2.3/7", "Sends a HEADERS frame with duplicated \":path\" pseudo-header field", c => [.. c.CommonHeaders(), (":path", "/")]),
        })
        {
            Add(id, description, async c =>
            {
                await c.HandshakeAsync();
                await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(fields(c)));
                await c.VerifyStreamErrorAsync(ProtocolError);
            });
        }
        Add("http2/8.1.2.1/3", "Sends a HEADERS frame that contains a pseudo-header field as trailers", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders(c.CommonHeaders("POST")));
            await c.WriteDataAsync(1, false, Test);
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders((":method", "POST")));
            await c.VerifyStreamErrorAsync(ProtocolError);
        });
        Add("http2/8.1.2.6/1", "Sends a HEADERS frame with the \"content-length\" header field which does not equal the DATA frame payload length", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders([.. c.CommonHeaders("POST"), ("content-length", "1")]));
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyStreamErrorAsync(ProtocolError);
        });
        Add("http2/8.1.2.6/2", "Sends a HEADERS frame with the \"content-length\" header field which does not equal the sum of the multiple DATA frames payload length", async c =>
        {
            await c.HandshakeAsync();
            await c.WriteHeadersAsync(1, false, true, c.EncodeHeaders([.. c.CommonHeaders("POST"), ("content-length", "1")]));
            await c.WriteDataAsync(1, false, Test);
            await c.WriteDataAsync(1, true, Test);
            await c.VerifyStreamErrorAsync(ProtocolError);
        });
        Add("http2/8.2/1", "Sends a PUSH_PROMISE frame", async c =>
        {
            await c.HandshakeAsync();
            await c.WritePushPromiseAsync(1, 3, c.EncodeHeaders(c.CommonHeaders()));
            await c.VerifyConnectionErrorAsync(ProtocolError);
        });

        // ---------------------------------------------------------------- hpack
        foreach (var (id, description, representation, before) in new[]
        {
            ("hpack/2.3.3/1", "Sends a indexed header field representation with invalid index", "fe", false),
            ("hpack/2.3.3/2", "Sends a literal header field representation with invalid index", "7f07 00", false),
            ("hpack/4.2/1", "Sends a dynamic table size update at the end of header block", "21", false),
            ("hpack/5.2/1", "Sends a Huffman-encoded string literal representation with padding longer than 7 bits", "00 85 f2b24a84ff 84 49509fff", false),
            ("hpack/5.2/2", "Sends a Huffman-encoded string literal representation padded by zero", "00 85 f2b24a84ff 83 495090", false),
            ("hpack/5.2/3", "Sends a Huffman-encoded string literal representation containing the EOS symbol", "00 85 f2b24a84ff 87 fffffffd25427f", false),
            ("hpack/6.1/1", "Sends a indexed header field representation with index 0", "80", false),
            ("hpack/6.3/1", "Sends a dynamic table size update larger than the value of SETTINGS_HEADER_TABLE_SIZE", "3fe21f", true),
        })
        {
            Add(id, description, async c =>
            {
                await c.HandshakeAsync();
                var fields = c.EncodeHeaders(c.CommonHeaders());
                var rep = Hex(representation);
                await c.WriteHeadersAsync(1, true, true, before ? [.. rep, .. fields] : [.. fields, .. rep]);
                await c.VerifyConnectionErrorAsync(CompressionError);
            });
        }
        return cases;
    }

    private static (string, string)[] Replace((string Name, string Value)[] fields, string name, string value) =>
        [.. fields.Select(f => f.Name == name ? (f.Name, value) : f)];

    private static (string, string)[] Without((string Name, string Value)[] fields, string name) =>
        [.. fields.Where(f => f.Name != name)];
}
