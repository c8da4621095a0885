using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Pounce.Tests.LifecycleE2E;

namespace Pounce.Tests.WebSockets;

/// <summary>
/// RFC 6455 cases in the spirit of Autobahn|Testsuite (not installable here; see bench/autobahn) that depend on the
/// server rather than only on the BCL's framer: how it reads frames split anywhere, long runs of tiny fragments,
/// control frames in the middle of a message, and how a client's protocol violation ends the WebSocket and what the
/// lifecycle says about it. Each case runs over HTTP/1.1 and over HTTP/2 (RFC 8441), with a hand-written client
/// framer and exact bytes on the wire.
/// </summary>
public sealed class WebSocketServerConformanceTests
{
    public static TheoryData<string> Protocols => new() { "h1", "h2" };

    private static async Task<IReadOnlyList<RecordedEvent>> WebSocketEndAsync(EventRecorder events, string protocol)
    {
        // HTTP/1.1: the connection's end is the WebSocket's. HTTP/2: the stream's ResponseCompleted/ClientDisconnected.
        if (protocol == "h1")
            return await events.CompletedConnectionAsync();
        await events.WaitUntilAsync(e => e.Any(x => x.Name is "ResponseCompleted" or "ClientDisconnected"), "the WebSocket stream's end");
        return events.Snapshot();
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Frames_split_at_every_byte_are_reassembled(string protocol)
    {
        var (server, events) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            await using var ws = await WsTestTransport.OpenAsync(protocol, server);
            // One byte per send (a TCP write or a DATA frame each): head, extended length, mask and payload all split.
            var message = "split into single bytes, " + new string('x', 200);
            foreach (var b in WebSocketWire.Text(message))
                await ws.SendAsync([b]);
            Assert.Equal(message, Encoding.UTF8.GetString(await ws.Reader.ReadMessageAsync()));

            // Every two-piece split of one frame.
            var frame = WebSocketWire.Frame(Opcode.Binary, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
            for (var cut = 1; cut < frame.Length; cut++)
            {
                await ws.SendAsync(frame[..cut]);
                await ws.SendAsync(frame[cut..]);
                Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, await ws.Reader.ReadMessageAsync());
            }

            await ws.SendAsync(WebSocketWire.Close(1000, "bye"u8));
            var close = await ws.Reader.ExpectAsync(Opcode.Close);
            Assert.Equal(1000, close.CloseCode);
        }
        var end = await WebSocketEndAsync(events, protocol);
        if (protocol == "h1")
            Assert.Equal("complete", end[^1].Str("reason"));
        else
            Assert.Contains(end, e => e.Name == "ResponseCompleted" && e.Num("status") == 200);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Ping_between_the_fragments_of_a_message_is_answered_in_between(string protocol)
    {
        var (server, _) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            await using var ws = await WsTestTransport.OpenAsync(protocol, server);
            await ws.SendAsync(WebSocketWire.Frame(Opcode.Text, "frag-"u8, fin: false));
            await ws.SendAsync(WebSocketWire.Frame(Opcode.Ping, "are you there?"u8));
            // RFC 6455 5.4/5.5.2: a control frame may come in the middle of a fragmented message; the Pong answers it
            // before the message is complete (the echo sends the first fragment back as it came).
            var echoed = new MemoryStream();
            WsFrame? pong = null;
            while (pong is null || echoed.Length < 5)
            {
                var frame = await ws.Reader.ReadAsync() ?? throw new Xunit.Sdk.XunitException("The WebSocket ended before the Pong.");
                if (frame.Opcode == Opcode.Pong)
                    pong = frame;
                else
                    echoed.Write(frame.Payload);
            }
            Assert.Equal("are you there?", pong.Text);
            await ws.SendAsync(WebSocketWire.Frame(Opcode.Continuation, "ment"u8, fin: true));
            echoed.Write(await ws.Reader.ReadMessageAsync());
            Assert.Equal("frag-ment", Encoding.UTF8.GetString(echoed.ToArray()));
        }
    }

    /// <summary>Client frames that break RFC 6455, each with the Close status the server must answer (RFC 6455 7.4.1).</summary>
    public static TheoryData<string, string, int> Violations()
    {
        var data = new TheoryData<string, string, int>();
        foreach (var protocol in new[] { "h1", "h2" })
        {
            data.Add(protocol, "invalid UTF-8 in a text frame", 1007);
            data.Add(protocol, "invalid UTF-8 split over fragments", 1007);
            data.Add(protocol, "unmasked frame", 1002);
            data.Add(protocol, "close code 999", 1002);
            data.Add(protocol, "close code 1005", 1002);
            data.Add(protocol, "close with a one-byte payload", 1002);
            data.Add(protocol, "reserved bit without an extension", 1002);
            data.Add(protocol, "reserved opcode", 1002);
            data.Add(protocol, "fragmented ping", 1002);
            data.Add(protocol, "continuation without a message", 1002);
        }
        return data;
    }

    private static byte[] ViolationBytes(string what) => what switch
    {
        // RFC 6455 test vector (Autobahn 6.4.x): "κόσμε" followed by an encoded surrogate, then "edited".
        "invalid UTF-8 in a text frame" => WebSocketWire.Frame(Opcode.Text, [0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64]),
        "invalid UTF-8 split over fragments" => [.. WebSocketWire.Frame(Opcode.Text, [0xce, 0xba, 0xe1], fin: false),
                                                 .. WebSocketWire.Frame(Opcode.Continuation, [0xbd, 0xff], fin: true)],
        "unmasked frame" => WebSocketWire.Frame(Opcode.Text, "not masked"u8, masked: false),
        "close code 999" => WebSocketWire.Close(999),
        "close code 1005" => WebSocketWire.Close(1005),
        "close with a one-byte payload" => WebSocketWire.Frame(Opcode.Close, [0x03]),
        "reserved bit without an extension" => WebSocketWire.Frame(Opcode.Text, "rsv"u8, rsv: 0b100),
        "reserved opcode" => WebSocketWire.Frame(0x3, "?"u8),
        "fragmented ping" => WebSocketWire.Frame(Opcode.Ping, "p"u8, fin: false),
        "continuation without a message" => WebSocketWire.Frame(Opcode.Continuation, "c"u8, fin: true),
        _ => throw new ArgumentOutOfRangeException(nameof(what), what, null),
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public async Task Protocol_violation_gets_its_close_status_and_ends_the_websocket_as_an_error(string protocol, string what, int expectedStatus)
    {
        // No permessage-deflate offered by this client, so a reserved bit has no meaning.
        var (server, events) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            await using var ws = await WsTestTransport.OpenAsync(protocol, server);
            // A good message first: the violation ends a working WebSocket.
            await ws.SendAsync(WebSocketWire.Text("fine"));
            Assert.Equal("fine", Encoding.UTF8.GetString(await ws.Reader.ReadMessageAsync()));
            await ws.SendAsync(ViolationBytes(what));
            var close = await ws.Reader.ExpectAsync(Opcode.Close);
            Assert.True(close.CloseCode == expectedStatus, $"{what}: expected Close {expectedStatus}, got {close.CloseCode}");
            // Then the server ends the transport (RFC 6455 7.1.7: fail the WebSocket connection).
            Assert.Null(await ws.Reader.ReadAsync());
            await AssertFailedAsync(events, protocol);
        }
    }

    private static async Task AssertFailedAsync(EventRecorder events, string protocol)
    {
        // Read while the client is still connected: over HTTP/1.1 the server closed the connection itself.
        var end = await WebSocketEndAsync(events, protocol);
        if (protocol == "h1")
        {
            Assert.Equal("error", end[^1].Str("reason"));
            Assert.Equal("websocket_protocol_error", end[^1].Str("detail"));
            Assert.Equal("websocket", end[^1].Str("protocol"));
            Assert.DoesNotContain(end, e => e.Name == "ClientDisconnected");
        }
        else
        {
            // Over HTTP/2 only the stream ends (the connection goes on); the client did not vanish.
            Assert.Contains(end, e => e.Name == "ResponseCompleted" && e.Str("method") == "CONNECT" && e.Num("status") == 200);
            Assert.DoesNotContain(end, e => e.Name is "ClientDisconnected" or "ConnectionCompleted");
        }
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task Peer_that_ends_its_side_without_a_close_handshake_is_a_client_disconnect(string protocol)
    {
        var (server, events) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            await using var ws = await WsTestTransport.OpenAsync(protocol, server);
            await ws.SendAsync(WebSocketWire.Text("one"));
            await ws.Reader.ReadMessageAsync();
            await ws.EndAsync();
            var end = await WebSocketEndAsync(events, protocol);
            var disconnected = Assert.Single(end, e => e.Name == "ClientDisconnected");
            Assert.Equal(true, disconnected["during_streaming"]);
            if (protocol == "h1")
                Assert.Equal("client_disconnect", end[^1].Str("reason"));
            else
                Assert.DoesNotContain(end, e => e.Name == "ResponseCompleted");
        }
    }

    [Fact]
    public async Task Sixteen_megabyte_message_in_one_byte_fragments_is_received_in_bounded_time()
    {
        const int size = 16 * 1024 * 1024;
        var server = await Infrastructure.TestServer.StartAppAsync(app =>
        {
            app.UseWebSockets();
            app.Map("/count", async (HttpContext context) =>
            {
                // Receives one message whole and answers its length and SHA-256.
                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[64 * 1024];
                long length = 0;
                WebSocketReceiveResult received;
                do
                {
                    received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                    hash.AppendData(buffer, 0, received.Count);
                    length += received.Count;
                }
                while (!received.EndOfMessage);
                var answer = Encoding.ASCII.GetBytes($"{length} {Convert.ToHexString(hash.GetHashAndReset())}");
                await socket.SendAsync(answer, WebSocketMessageType.Text, true, context.RequestAborted);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
            });
        });
        await using (server)
        {
            await using var ws = await WsTestTransport.OpenAsync("h1", server, "/count");
            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            // 16M frames of one payload byte each (7 bytes on the wire per frame), sent in 1 MiB batches.
            const int framesPerBatch = 1024 * 1024 / 7;
            var batch = new byte[framesPerBatch * 7];
            using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var template = WebSocketWire.Frame(Opcode.Continuation, [0]);
            for (var sent = 0; sent < size;)
            {
                var n = Math.Min(framesPerBatch, size - sent);
                for (var i = 0; i < n; i++)
                {
                    var index = sent + i;
                    var span = batch.AsSpan(i * 7, 7);
                    template.CopyTo(span);
                    span[0] = (byte)((index == size - 1 ? 0x80 : 0) | (index == 0 ? Opcode.Binary : Opcode.Continuation));
                    var payload = (byte)(index * 31 + 7);
                    span[6] = (byte)(payload ^ template[2]); // the mask's first byte applies to payload offset 0
                    expected.AppendData([payload]);
                }
                await ws.SendAsync(batch[..(n * 7)]);
                sent += n;
            }
            var answer = Encoding.ASCII.GetString(await ws.Reader.ReadMessageAsync());
            Assert.Equal($"{size} {Convert.ToHexString(expected.GetHashAndReset())}", answer);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(120), $"16 MiB in 1-byte fragments took {stopwatch.Elapsed}");
            Assert.Equal(1000, (await ws.Reader.ExpectAsync(Opcode.Close)).CloseCode);
        }
    }
}
