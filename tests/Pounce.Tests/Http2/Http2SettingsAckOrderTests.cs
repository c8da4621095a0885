using Microsoft.AspNetCore.Http;
using Pounce.Http2;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http2;

/// <summary>
/// A SETTINGS that grows the stream windows lets a blocked response send again: the server acknowledges the SETTINGS
/// before that DATA, as peers that wait for the ACK before reading on expect (h2spec 6.9.2/1 missed the DATA, and timed
/// out, when the woken stream's DATA overtook the ACK under load). A race: with the windows grown before the ACK was in
/// the output, this test failed about one run in four (50 rounds each); with only the wake-up after it, once in a CI run
/// (a writer that was not waiting saw the grown window); with the growth itself after it, in none of 14 runs, 6 of them
/// with both cores busy.
/// </summary>
public sealed class Http2SettingsAckOrderTests
{
    [Fact]
    public async Task The_ack_of_a_window_growing_SETTINGS_comes_before_the_DATA_it_allows()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("Hello, h2spec!"));
        for (var round = 0; round < 50; round++)
        {
            await using var c = await H2SpecClient.ConnectAsync(server.Port);
            await c.HandshakeAsync();
            await c.WriteSettingsAsync((Http2SettingId.InitialWindowSize, 0));
            await c.ExpectFrameAsync(Http2FrameType.Settings);
            await c.WriteHeadersAsync(1, true, true, c.EncodeHeaders(c.CommonHeaders()));
            // The response's DATA waits for window (its HEADERS may go out meanwhile: skipped below).
            // The SETTINGS, then PINGs in the same write: the read loop is still busy with them when the stream wakes.
            var payload = new byte[6];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)Http2SettingId.InitialWindowSize);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(2), 1);
            var batch = new List<byte>(H2SpecClient.Frame(Http2FrameType.Settings, Http2FrameFlags.None, 0, payload));
            for (var i = 0; i < 100; i++)
                batch.AddRange(H2SpecClient.Frame(Http2FrameType.Ping, Http2FrameFlags.None, 0, new byte[8]));
            await c.SendAsync([.. batch]);
            RawFrame? first;
            do
                first = await c.NextFrameAsync();
            while (first is not null && first.Type is not (Http2FrameType.Settings or Http2FrameType.Data));
            Assert.NotNull(first);
            Assert.True(first.Type == Http2FrameType.Settings, $"round {round}: {first} before the SETTINGS ACK");
            Assert.True(first.Flags.HasFlag(Http2FrameFlags.Ack), $"round {round}: {first}");
            var data = await c.ExpectFrameAsync(Http2FrameType.Data);
            Assert.Single(data.Payload);
        }
    }
}
