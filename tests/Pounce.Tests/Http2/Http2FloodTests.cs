using System.Buffers;
using Microsoft.AspNetCore.Http;
using Pounce.Http2;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.LifecycleE2E;

namespace Pounce.Tests.Http2;

/// <summary>
/// Each flood ends its connection with GOAWAY and the right code, is reported as <c>reason: error</c> with a
/// specific detail, and the server goes on serving other connections.
/// </summary>
public sealed class Http2FloodTests
{
    private static async Task RunFloodAsync(Func<Http2RawClient, Task> flood, Http2ErrorCode code, string detail,
        RequestDelegate? handler = null, Action<ServerConfig>? configure = null, Func<Http2RawClient, Task<Http2RawClient>>? connect = null)
    {
        var (server, events) = await LifecycleEventTests.StartAsync(handler ?? (ctx => ctx.Response.WriteAsync("ok")), configure);
        await using (server)
        {
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
            {
                var sending = flood(raw);
                var goAway = await raw.ExpectGoAwayAsync();
                Assert.Equal(code, goAway.GoAwayCode);
                try
                {
                    await sending.WaitAsync(TimeSpan.FromSeconds(15));
                }
                catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException)
                {
                    // The server closed while we were still flooding.
                }
                Assert.True(await raw.WaitForCloseAsync());
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("error", conn[^1].Str("reason"));
            Assert.Equal(detail, conn[^1].Str("detail"));

            // The server stays up and serves another connection.
            using var client = Http2ConnectionTests.CreateH2Client(server);
            Assert.Equal("ok", await client.GetStringAsync("/"));
        }
    }

    private static byte[] Frames(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public async Task RapidReset_EndsWithEnhanceYourCalm()
    {
        await RunFloodAsync(async raw =>
        {
            for (var batch = 0; batch < 10; batch++)
            {
                var bytes = Frames(w =>
                {
                    for (var i = 0; i < 100; i++)
                    {
                        var id = 1 + 2 * (batch * 100 + i);
                        Http2FrameWriter.WriteHeaders(w, id, raw.Encode(Http2RawClient.Get("/")), endStream: true, endHeaders: true);
                        Http2FrameWriter.WriteRstStream(w, id, Http2ErrorCode.Cancel);
                    }
                });
                await raw.SendAsync(bytes);
            }
        }, Http2ErrorCode.EnhanceYourCalm, "rapid_reset",
            handler: async ctx =>
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(10), ctx.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                }
                await ctx.Response.WriteAsync("ok");
            });
    }

    [Fact]
    public async Task MalformedStreamFlood_EndsWithEnhanceYourCalm()
    {
        await RunFloodAsync(async raw =>
        {
            for (var batch = 0; batch < 10; batch++)
            {
                var bytes = Frames(w =>
                {
                    for (var i = 0; i < 100; i++)
                    {
                        var id = 1 + 2 * (batch * 100 + i);
                        Http2FrameWriter.WriteHeaders(w, id, raw.Encode((":method", "GET"), (":path", "/")), endStream: true, endHeaders: true);
                    }
                });
                await raw.SendAsync(bytes);
            }
        }, Http2ErrorCode.EnhanceYourCalm, "rapid_reset");
    }

    [Fact]
    public async Task ContinuationFlood_EndsWithEnhanceYourCalm()
    {
        await RunFloodAsync(async raw =>
        {
            var first = raw.Encode(Http2RawClient.Get("/"));
            await raw.SendFrameAsync(w => Http2FrameWriter.WriteHeaders(w, 1, first, endStream: true, endHeaders: false));
            var field = raw.Encode(("x-a", "b"));
            var bytes = Frames(w =>
            {
                for (var i = 0; i < 500; i++)
                    Http2FrameWriter.WriteContinuation(w, 1, field, endHeaders: false);
            });
            await raw.SendAsync(bytes);
        }, Http2ErrorCode.EnhanceYourCalm, "continuation_flood");
    }

    [Fact]
    public async Task SettingsFlood_EndsWithEnhanceYourCalm()
    {
        await RunFloodAsync(raw => raw.SendAsync(Frames(w =>
        {
            for (var i = 0; i < 300; i++)
                Http2FrameWriter.WriteSettings(w, []);
        })), Http2ErrorCode.EnhanceYourCalm, "settings_flood");
    }

    [Fact]
    public async Task PingFlood_EndsWithEnhanceYourCalm()
    {
        await RunFloodAsync(raw => raw.SendAsync(Frames(w =>
        {
            for (var i = 0; i < 2000; i++)
                Http2FrameWriter.WritePing(w, (ulong)i, ack: false);
        })), Http2ErrorCode.EnhanceYourCalm, "ping_flood");
    }

    [Fact]
    public async Task EmptyDataFlood_EndsWithEnhanceYourCalm()
    {
        await RunFloodAsync(async raw =>
        {
            await raw.SendHeadersAsync(1, false, Http2RawClient.Post());
            await raw.SendAsync(Frames(w =>
            {
                for (var i = 0; i < 2000; i++)
                    Http2FrameWriter.WriteData(w, 1, [], endStream: false);
            }));
        }, Http2ErrorCode.EnhanceYourCalm, "empty_data_flood",
            handler: async ctx =>
            {
                try
                {
                    await new StreamReader(ctx.Request.Body).ReadToEndAsync();
                }
                catch (IOException)
                {
                }
                await ctx.Response.WriteAsync("ok");
            });
    }

    [Fact]
    public async Task HpackBomb_EndsWithCompressionError()
    {
        await RunFloodAsync(async raw =>
        {
            // One 4000-byte entry inserted into the dynamic table, then referenced over and over: a small block
            // that expands far past the header list limit.
            var bytes = new ArrayBufferWriter<byte>();
            var encoder = new HpackEncoder();
            encoder.BeginHeaderBlock(bytes);
            foreach (var (name, value) in Http2RawClient.Get("/"))
                encoder.EncodeHeader(System.Text.Encoding.ASCII.GetBytes(name), System.Text.Encoding.ASCII.GetBytes(value), bytes);
            // Literal with incremental indexing, new name "x-bomb".
            var big = new string('a', 4000);
            var literal = new ArrayBufferWriter<byte>();
            literal.Write<byte>([0x40]);
            literal.Write<byte>([0x06]);
            literal.Write("x-bomb"u8);
            var length = new byte[8];
            var n = HpackInteger.Encode(big.Length, 7, 0, length);
            literal.Write(length.AsSpan(0, n));
            literal.Write(System.Text.Encoding.ASCII.GetBytes(big));
            var block = new List<byte>();
            block.AddRange(literal.WrittenSpan.ToArray());
            for (var i = 0; i < 2000; i++)
                block.Add(0x80 | 62); // indexed: the newest dynamic entry
            var blockBytes = block.ToArray();
            await raw.SendFrameAsync(w => Http2FrameWriter.WriteHeaderBlock(w, 1, [.. bytes.WrittenSpan.ToArray(), .. blockBytes], true, 16_384));
        }, Http2ErrorCode.CompressionError, "hpack_bomb");
    }

    [Fact]
    public async Task ZeroWindowStall_EndsWithEnhanceYourCalm()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.Body.WriteAsync(new byte[10_000]).AsTask(),
            c => c.ResponseWriteTimeout = TimeSpan.FromSeconds(1));
        await using (server)
        {
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port, handshake: false))
            {
                await raw.SendAsync(Http2Connection.ClientPreface.ToArray());
                await raw.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, [new Http2Setting(Http2SettingId.InitialWindowSize, 0)]));
                await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
                var goAway = await raw.ExpectGoAwayAsync();
                Assert.Equal(Http2ErrorCode.EnhanceYourCalm, goAway.GoAwayCode);
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("error", conn[^1].Str("reason"));
            Assert.Equal("flow_control_stall", conn[^1].Str("detail"));
            Assert.Contains(conn, e => e.Name == "ClientDisconnected");
            using var client = Http2ConnectionTests.CreateH2Client(server);
            Assert.Equal(10_000, (await client.GetByteArrayAsync("/")).Length);
        }
    }

    [Fact]
    public async Task UnacknowledgedSettings_EndWithSettingsTimeout()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("ok"),
            c => c.HeaderTimeout = TimeSpan.FromMilliseconds(500));
        await using (server)
        {
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port, handshake: false))
            {
                await raw.SendAsync(Http2Connection.ClientPreface.ToArray());
                await raw.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, []));
                // Never ACK the server's SETTINGS.
                await raw.ExpectGoAwayAsync(Http2ErrorCode.SettingsTimeout);
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("timeout", conn[^1].Str("reason"));
            Assert.Equal("settings_timeout", conn[^1].Str("detail"));
        }
    }
}
