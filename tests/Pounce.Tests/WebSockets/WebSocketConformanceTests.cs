using System.Text;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.LifecycleE2E;

namespace Pounce.Tests.WebSockets;

/// <summary>WebSocket edge cases from fuzzing suites, sent as raw bytes: each request still gets exactly one ending.</summary>
public sealed class WebSocketConformanceTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData("Upgrade: websocket\r\nUpgrade: websocket\r\n")]
    [InlineData("Upgrade: websocket, websocket\r\n")]
    [InlineData("Upgrade: websocket\r\nUpgrade: h2c\r\n")]
    public async Task DuplicatedUpgradeHeader_LeavesExactlyOneEndingForTheRequest(string upgradeHeaders)
    {
        var (server, events) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync(
                "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n" + upgradeHeaders +
                $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {WebSocketTests.HandshakeKey}\r\n\r\n");
            var response = await raw.ReadResponseAsync(timeout: Timeout);
            if (response.Status == 101)
            {
                // Masked Close 1000 from the client; the server answers and closes.
                await raw.SendAsync([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE8 ^ 2]);
            }
            raw.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            var connection = await events.CompletedConnectionAsync();
            var started = connection.Where(e => e.Name == "RequestStarted").ToList();
            Assert.Single(started);
            var endings = connection.Where(e => e.Name is "ResponseCompleted" or "ClientDisconnected" && e.RequestId == started[0].RequestId).ToList();
            Assert.True(endings.Count == 1, $"status {response.Status}: {endings.Count} endings: " + string.Join("\n", connection));
        }
    }

    public static TheoryData<string> Protocols => new() { "h1", "h2" };

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task InvalidUtf8_FailsTheWebSocket_AsSoonAsTheBadByteArrives(string protocol)
    {
        var (server, events) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            await using var ws = await WsTestTransport.OpenAsync(protocol, server);
            await ws.SendAsync(WebSocketWire.Text("fine"));
            Assert.Equal("fine", Encoding.UTF8.GetString(await ws.Reader.ReadMessageAsync()));
            // A text frame that announces 1000 bytes, of which only the first few come: "ab", then 0xFF (never UTF-8).
            // The rest never arrives, so only a check of each byte as it comes can answer.
            var frame = WebSocketWire.Frame(Opcode.Text, [.. "ab"u8, 0xFF, .. new byte[997]]);
            await ws.SendAsync(frame[..(2 + 2 + 4 + 3)]);
            var close = await ws.Reader.ExpectAsync(Opcode.Close);
            Assert.Equal(1007, close.CloseCode);
            if (protocol == "h1")
            {
                Assert.Null(await ws.Reader.ReadAsync());
                var end = await events.CompletedConnectionAsync();
                Assert.Equal("error", end[^1].Str("reason"));
                Assert.Equal("websocket_protocol_error", end[^1].Str("detail"));
            }
        }
    }
}
