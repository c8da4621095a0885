using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Pounce.Http2;
using Pounce.Tests.Http2;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.WebSockets;

/// <summary>RFC 8441 extended CONNECT with raw HTTP/2 frames: the setting, which requests are malformed, flow control and resets on the tunnel.</summary>
public sealed class Http2ExtendedConnectTests
{
    private static (string, string)[] Without(string name, (string Name, string Value)[] fields) => fields.Where(f => f.Name != name).ToArray();

    private static async Task<Dictionary<int, uint>> ReadServerSettingsAsync(TestServer server)
    {
        await using var raw = await Http2RawClient.ConnectAsync(server.Port, handshake: false);
        await raw.SendAsync(Http2Connection.ClientPreface.ToArray());
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, []));
        var settings = await raw.ReadFrameAsync();
        Assert.Equal(Http2FrameType.Settings, settings.Type);
        return settings.SettingsValues();
    }

    [Fact]
    public async Task Settings_advertise_ENABLE_CONNECT_PROTOCOL_unless_turned_off()
    {
        await using (var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok")))
            Assert.Equal(1u, (await ReadServerSettingsAsync(server))[(int)Http2SettingId.EnableConnectProtocol]);
        await using (var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"), c => c.Http2ExtendedConnect = false))
            Assert.False((await ReadServerSettingsAsync(server)).ContainsKey((int)Http2SettingId.EnableConnectProtocol));
    }

    [Fact]
    public async Task Protocol_pseudo_header_without_the_setting_is_a_stream_protocol_error()
    {
        var (server, _) = await WebSocketTests.StartEchoAsync(c => c.Http2ExtendedConnect = false);
        await using (server)
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            await raw.SendHeadersAsync(1, false, WsTestTransport.ExtendedConnect());
            await raw.ExpectResetAsync(1, Http2ErrorCode.ProtocolError);
            await raw.AssertServesAsync(3, "/plain");
        }
    }

    public static TheoryData<string, (string, string)[]> MalformedExtendedConnects()
    {
        var connect = WsTestTransport.ExtendedConnect();
        return new()
        {
            { ":protocol on GET", [(":method", "GET"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/ws"), (":authority", "localhost")] },
            { ":protocol on POST", [(":method", "POST"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/ws"), (":authority", "localhost")] },
            { "no :scheme", Without(":scheme", connect) },
            { "no :path", Without(":path", connect) },
            { ":path *", connect.Select(f => f.Item1 == ":path" ? (":path", "*") : f).ToArray() },
            { "empty :protocol", connect.Select(f => f.Item1 == ":protocol" ? (":protocol", "") : f).ToArray() },
            { "repeated :protocol", [(":method", "CONNECT"), (":protocol", "websocket"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/ws"), (":authority", "localhost")] },
            { ":protocol after a regular field", [(":method", "CONNECT"), (":scheme", "http"), (":path", "/ws"), (":authority", "localhost"), ("sec-websocket-version", "13"), (":protocol", "websocket")] },
            // RFC 9113 8.5 still holds for a CONNECT without :protocol: :scheme and :path are not allowed.
            { "plain CONNECT with :scheme and :path", Without(":protocol", connect) },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedExtendedConnects))]
    public async Task Malformed_extended_CONNECT_is_a_stream_protocol_error(string what, (string, string)[] fields)
    {
        var (server, events) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            await raw.SendHeadersAsync(1, false, fields);
            await raw.ExpectResetAsync(1, Http2ErrorCode.ProtocolError);
            await raw.AssertServesAsync(3, "/plain");
            Assert.True(!events.Snapshot().Any(e => e.Name == "RequestStarted" && e.Str("method") == "CONNECT"), what + ": the application must not see it");
        }
    }

    [Fact]
    public async Task Plain_CONNECT_with_only_authority_reaches_the_application_as_not_extended()
    {
        var server = await TestServer.StartAsync(async ctx =>
        {
            var connect = ctx.Features.Get<IHttpExtendedConnectFeature>();
            await ctx.Response.WriteAsync($"{ctx.Request.Method} {connect?.IsExtendedConnect} {connect?.Protocol ?? "none"}");
        });
        await using (server)
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            await raw.SendHeadersAsync(1, true, (":method", "CONNECT"), (":authority", "example.com:443"));
            var (headers, body) = await raw.ReadResponseAsync(1);
            Assert.Contains((":status", "200"), headers);
            Assert.Equal("CONNECT False none", System.Text.Encoding.UTF8.GetString(body));
        }
    }

    [Fact]
    public async Task Extended_CONNECT_for_another_protocol_is_for_the_application_to_refuse()
    {
        var (server, _) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            // The WebSocket middleware does not take :protocol webtransport; the echo app answers 400.
            await raw.SendHeadersAsync(1, false, WsTestTransport.ExtendedConnect(protocol: "webtransport"));
            var (headers, _) = await raw.ReadResponseAsync(1);
            Assert.Contains((":status", "400"), headers);
        }
    }

    [Fact]
    public async Task Tunnel_respects_the_clients_stream_window()
    {
        var server = await TestServer.StartAppAsync(app =>
        {
            app.UseWebSockets();
            app.Map("/push", async (HttpContext context) =>
            {
                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                await socket.SendAsync(new byte[100], WebSocketMessageType.Binary, true, context.RequestAborted);
                await socket.ReceiveAsync(new byte[16], context.RequestAborted);
            });
        });
        await using (server)
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port, handshake: false);
            await raw.SendAsync(Http2Connection.ClientPreface.ToArray());
            await raw.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, [new Http2Setting(Http2SettingId.InitialWindowSize, 10)]));
            await raw.ExpectAsync(f => f.Type == Http2FrameType.Settings && !f.Has(Http2FrameFlags.Ack), "the server's SETTINGS");
            await raw.SendFrameAsync(Http2FrameWriter.WriteSettingsAck);
            await raw.ExpectAsync(f => f.Type == Http2FrameType.Settings && f.Has(Http2FrameFlags.Ack), "the ACK of our SETTINGS");
            await raw.SendHeadersAsync(1, false, WsTestTransport.ExtendedConnect("/push"));
            await raw.ExpectAsync(f => f.Type == Http2FrameType.Headers && f.StreamId == 1, "the 200");

            // 100 payload bytes + a 2-byte frame head: 10 bytes now, then exactly what each WINDOW_UPDATE allows.
            var first = await raw.ExpectAsync(f => f.Type == Http2FrameType.Data && f.StreamId == 1, "DATA within the window");
            Assert.Equal(10, first.Payload.Length);
            var received = first.Payload.Length;
            while (received < 102)
            {
                await raw.SendFrameAsync(w => Http2FrameWriter.WriteWindowUpdate(w, 1, 40));
                var data = await raw.ExpectAsync(f => f.Type == Http2FrameType.Data && f.StreamId == 1, "DATA after WINDOW_UPDATE");
                Assert.InRange(data.Payload.Length, 1, 40);
                received += data.Payload.Length;
                if (data.Payload.Length < 40)
                    Assert.Equal(102, received);
            }
            Assert.Equal(102, received);
        }
    }

    [Fact]
    public async Task Client_RST_STREAM_ends_the_tunnel_as_a_client_disconnect_and_the_connection_goes_on()
    {
        var (server, events) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            await using var raw = await Http2RawClient.ConnectAsync(server.Port);
            await raw.SendHeadersAsync(1, false, WsTestTransport.ExtendedConnect());
            await raw.ExpectAsync(f => f.Type == Http2FrameType.Headers && f.StreamId == 1, "the 200");
            await raw.SendDataAsync(1, WebSocketWire.Text("ping me"), endStream: false);
            await raw.ExpectAsync(f => f.Type == Http2FrameType.Data && f.StreamId == 1, "the echo");
            await raw.SendFrameAsync(w => Http2FrameWriter.WriteRstStream(w, 1, Http2ErrorCode.Cancel));

            var disconnected = await events.WaitForAsync("ClientDisconnected");
            Assert.Equal(true, disconnected["during_streaming"]);
            Assert.Equal("1-1", disconnected.RequestId);
            Assert.Equal("CONNECT", disconnected.Str("method"));
            await raw.AssertServesAsync(3, "/plain");
            Assert.DoesNotContain(events.Snapshot(), e => e.Name == "ConnectionCompleted");
        }
    }
}
