using System.Buffers;
using System.Buffers.Binary;
using Microsoft.AspNetCore.Http;
using Pounce.Http2;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.LifecycleE2E;

namespace Pounce.Tests.Http2;

/// <summary>Raw frames against RFC 9113: each malformed input gets the connection or stream error the RFC names.</summary>
public sealed class Http2ProtocolErrorTests
{
    private static Task<TestServer> StartAsync(RequestDelegate? handler = null, Action<ServerConfig>? configure = null)
        => TestServer.StartAsync(handler ?? (ctx => ctx.Response.WriteAsync("ok")), configure);

    private static async Task AssertStillServesAsync(Http2RawClient raw, int streamId)
    {
        await raw.SendHeadersAsync(streamId, true, Http2RawClient.Get("/after"));
        var (headers, _) = await raw.ReadResponseAsync(streamId);
        Assert.Contains((":status", "200"), headers);
    }

    [Fact]
    public async Task Settings_AreExchanged_AndPingIsAcknowledged()
    {
        await using var server = await StartAsync(configure: c =>
        {
            c.Http2MaxConcurrentStreams = 7;
            c.Http2InitialWindowSize = 100_000;
            c.Http2MaxHeaderListSize = 9000;
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port, handshake: false);
        await raw.SendAsync(Http2Connection.ClientPreface.ToArray());
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, []));
        var settings = await raw.ReadFrameAsync();
        Assert.Equal(Http2FrameType.Settings, settings.Type);
        var values = new Dictionary<int, uint>();
        for (var i = 0; i < settings.Payload.Length; i += 6)
            values[BinaryPrimitives.ReadUInt16BigEndian(settings.Payload.AsSpan(i))] = BinaryPrimitives.ReadUInt32BigEndian(settings.Payload.AsSpan(i + 2));
        Assert.Equal(7u, values[(int)Http2SettingId.MaxConcurrentStreams]);
        Assert.Equal(100_000u, values[(int)Http2SettingId.InitialWindowSize]);
        Assert.Equal(9000u, values[(int)Http2SettingId.MaxHeaderListSize]);
        await raw.ExpectAsync(f => f.Type == Http2FrameType.Settings && f.Has(Http2FrameFlags.Ack), "SETTINGS ACK");
        await raw.SendFrameAsync(w => Http2FrameWriter.WritePing(w, 0x0102030405060708, ack: false));
        var ping = await raw.ExpectAsync(f => f.Type == Http2FrameType.Ping, "PING ACK");
        Assert.True(ping.Has(Http2FrameFlags.Ack));
        Assert.Equal(0x0102030405060708ul, BinaryPrimitives.ReadUInt64BigEndian(ping.Payload));
    }

    [Fact]
    public async Task FirstFrameNotSettings_IsProtocolError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port, handshake: false);
        await raw.SendAsync(Http2Connection.ClientPreface.ToArray());
        await raw.SendFrameAsync(w => Http2FrameWriter.WritePing(w, 1, ack: false));
        await raw.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        Assert.True(await raw.WaitForCloseAsync());
    }

    [Fact]
    public async Task HeadersOnEvenStream_IsProtocolError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(2, true, Http2RawClient.Get());
        await raw.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task DecreasingStreamId_IsProtocolError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(5, true, Http2RawClient.Get());
        await raw.ReadResponseAsync(5);
        await raw.SendHeadersAsync(3, true, Http2RawClient.Get());
        await raw.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task HeadersOnClosedStream_IsStreamClosed()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
        await raw.ReadResponseAsync(1);
        await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
        await raw.ExpectGoAwayAsync(Http2ErrorCode.StreamClosed);
    }

    [Fact]
    public async Task DataOnIdleStream_IsProtocolError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendDataAsync(1, [1, 2, 3], endStream: true);
        await raw.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task DataAfterEndStream_IsStreamClosed()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(async ctx =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
            await ctx.Response.WriteAsync("x");
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
        await raw.SendDataAsync(1, [1], endStream: false);
        await raw.ExpectResetAsync(1, Http2ErrorCode.StreamClosed);
        release.TrySetResult();
        await AssertStillServesAsync(raw, 3);
    }

    [Fact]
    public async Task InterleavedFrameInHeaderBlock_IsProtocolError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        var block = raw.Encode(Http2RawClient.Get());
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteHeaders(w, 1, block, endStream: true, endHeaders: false));
        await raw.SendFrameAsync(w => Http2FrameWriter.WritePing(w, 1, ack: false));
        await raw.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task ContinuationOnAnotherStream_IsProtocolError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        var block = raw.Encode(Http2RawClient.Get());
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteHeaders(w, 1, block.AsSpan(0, 2), endStream: true, endHeaders: false));
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteContinuation(w, 3, block.AsSpan(2), endHeaders: true));
        await raw.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task HeaderBlockSplitOverContinuations_IsServed()
    {
        await using var server = await StartAsync(ctx => ctx.Response.WriteAsync(ctx.Request.Headers["x-long"].ToString().Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        var block = raw.Encode([.. Http2RawClient.Get(), ("x-long", new string('a', 5000))]);
        await raw.SendFrameAsync(w =>
        {
            Http2FrameWriter.WriteHeaders(w, 1, block.AsSpan(0, 10), endStream: true, endHeaders: false);
            Http2FrameWriter.WriteContinuation(w, 1, block.AsSpan(10, 100), endHeaders: false);
            Http2FrameWriter.WriteContinuation(w, 1, block.AsSpan(110), endHeaders: true);
        });
        var (_, body) = await raw.ReadResponseAsync(1);
        Assert.Equal("5000", System.Text.Encoding.ASCII.GetString(body));
    }

    [Fact]
    public async Task FrameLargerThanMaxFrameSize_IsFrameSizeError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, Http2RawClient.Post());
        await raw.SendDataAsync(1, new byte[16_385], endStream: true);
        await raw.ExpectGoAwayAsync(Http2ErrorCode.FrameSizeError);
    }

    [Fact]
    public async Task WindowUpdateZeroOnConnection_IsProtocolError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendAsync([0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        await raw.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task WindowUpdateOverflowOnConnection_IsFlowControlError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteWindowUpdate(w, 0, int.MaxValue));
        await raw.ExpectGoAwayAsync(Http2ErrorCode.FlowControlError);
    }

    [Fact]
    public async Task DataBeyondStreamWindow_IsFlowControlError()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(async ctx =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
        }, c => c.Http2InitialWindowSize = 65_535);
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, Http2RawClient.Post());
        for (var i = 0; i < 4; i++)
            await raw.SendDataAsync(1, new byte[16_384], endStream: false);
        await raw.SendDataAsync(1, new byte[100], endStream: false);
        await raw.ExpectResetAsync(1, Http2ErrorCode.FlowControlError);
        release.TrySetResult();
    }

    [Fact]
    public async Task UnknownFrameAndPriority_AreIgnored()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendAsync([0, 0, 3, 0xEE, 0xFF, 0, 0, 0, 1, 1, 2, 3]);
        await raw.SendFrameAsync(w => Http2FrameWriter.WritePriority(w, 9, new Http2Priority(false, 0, 16)));
        await AssertStillServesAsync(raw, 1);
    }

    [Fact]
    public async Task PushPromiseFromClient_IsProtocolError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendFrameAsync(w => Http2FrameWriter.WritePushPromise(w, 1, 2, raw.Encode(Http2RawClient.Get()), endHeaders: true));
        await raw.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    public static TheoryData<string> MalformedRequests => new()
    {
        "missing-path", "uppercase-name", "connection-header", "te-gzip", "pseudo-after-regular", "unknown-pseudo",
        "status-pseudo", "repeated-method", "empty-path", "transfer-encoding", "trailer-with-pseudo", "content-length-mismatch",
    };

    [Theory]
    [MemberData(nameof(MalformedRequests))]
    public async Task MalformedRequest_IsStreamProtocolError(string kind)
    {
        await using var server = await StartAsync(async ctx =>
        {
            await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            await ctx.Response.WriteAsync("ok");
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        (string, string)[] get = Http2RawClient.Get();
        switch (kind)
        {
            case "missing-path":
                await raw.SendHeadersAsync(1, true, (":method", "GET"), (":scheme", "http"), (":authority", "x"));
                break;
            case "uppercase-name":
                await raw.SendHeadersAsync(1, true, [.. get, ("X-Upper", "1")]);
                break;
            case "connection-header":
                await raw.SendHeadersAsync(1, true, [.. get, ("connection", "keep-alive")]);
                break;
            case "te-gzip":
                await raw.SendHeadersAsync(1, true, [.. get, ("te", "gzip")]);
                break;
            case "pseudo-after-regular":
                await raw.SendHeadersAsync(1, true, (":method", "GET"), (":scheme", "http"), ("x-a", "1"), (":path", "/"));
                break;
            case "unknown-pseudo":
                await raw.SendHeadersAsync(1, true, [.. get, (":foo", "1")]);
                break;
            case "status-pseudo":
                await raw.SendHeadersAsync(1, true, [(":status", "200"), .. get]);
                break;
            case "repeated-method":
                await raw.SendHeadersAsync(1, true, [.. get.Take(1), .. get]);
                break;
            case "empty-path":
                await raw.SendHeadersAsync(1, true, (":method", "GET"), (":scheme", "http"), (":path", ""));
                break;
            case "transfer-encoding":
                await raw.SendHeadersAsync(1, true, [.. get, ("transfer-encoding", "chunked")]);
                break;
            case "trailer-with-pseudo":
                await raw.SendHeadersAsync(1, false, Http2RawClient.Post());
                await raw.SendHeadersAsync(1, true, (":path", "/x"));
                break;
            case "content-length-mismatch":
                await raw.SendHeadersAsync(1, false, [.. Http2RawClient.Post(), ("content-length", "10")]);
                await raw.SendDataAsync(1, new byte[3], endStream: true);
                break;
        }
        await raw.ExpectResetAsync(1, Http2ErrorCode.ProtocolError);
        await AssertStillServesAsync(raw, 3);
    }

    [Fact]
    public async Task StreamsOverMaxConcurrentStreams_AreRefused()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(async ctx =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
            await ctx.Response.WriteAsync("ok");
        }, c => c.Http2MaxConcurrentStreams = 2);
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
        await raw.SendHeadersAsync(3, true, Http2RawClient.Get());
        await raw.SendHeadersAsync(5, true, Http2RawClient.Get());
        await raw.ExpectResetAsync(5, Http2ErrorCode.RefusedStream);
        release.TrySetResult();
        await raw.ReadResponseAsync(1);
    }

    [Fact]
    public async Task ProtocolError_IsReportedWithSpecificDetail_AndServerStaysUp()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("ok"));
        await using (server)
        {
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
            {
                await raw.SendHeadersAsync(2, true, Http2RawClient.Get());
                await raw.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("error", conn[^1].Str("reason"));
            Assert.Equal("protocol_error", conn[^1].Str("detail"));
            Assert.Equal("h2", conn[^1].Str("protocol"));
            using var client = Http2ConnectionTests.CreateH2Client(server);
            Assert.Equal("ok", await client.GetStringAsync("/"));
        }
    }

    [Fact]
    public async Task ServerWritesWaitForWindow_AndResumeOnWindowUpdate()
    {
        await using var server = await StartAsync(ctx => ctx.Response.Body.WriteAsync(new byte[100_000]).AsTask());
        await using var raw = await Http2RawClient.ConnectAsync(server.Port, handshake: false);
        await raw.SendAsync(Http2Connection.ClientPreface.ToArray());
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, [new Http2Setting(Http2SettingId.InitialWindowSize, 1000)]));
        await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
        var received = 0;
        while (received < 1000)
        {
            var frame = await raw.ExpectAsync(f => f.Type == Http2FrameType.Data, "DATA");
            received += frame.Payload.Length;
        }
        Assert.Equal(1000, received);
        await raw.SendFrameAsync(w =>
        {
            Http2FrameWriter.WriteWindowUpdate(w, 0, 100_000);
            Http2FrameWriter.WriteWindowUpdate(w, 1, 99_000);
        });
        while (true)
        {
            var frame = await raw.ExpectAsync(f => f.Type == Http2FrameType.Data, "DATA");
            received += frame.Payload.Length;
            if (frame.Has(Http2FrameFlags.EndStream))
                break;
        }
        Assert.Equal(100_000, received);
    }

    [Fact]
    public async Task DataAfterClientReset_IsStreamClosed()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(async ctx =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
            await ctx.Response.WriteAsync("ok");
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, Http2RawClient.Post());
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteRstStream(w, 1, Http2ErrorCode.Cancel));
        await raw.SendDataAsync(1, [1, 2], endStream: false);
        var frame = await raw.ExpectAsync(f => f.Type is Http2FrameType.RstStream or Http2FrameType.GoAway, "STREAM_CLOSED");
        Assert.Equal(Http2ErrorCode.StreamClosed, frame.Type == Http2FrameType.GoAway ? frame.GoAwayCode : frame.RstCode);
        release.TrySetResult();
    }

    [Fact]
    public async Task HeadRequest_GetsHeadersWithoutBody()
    {
        await using var server = await StartAsync(ctx => ctx.Response.WriteAsync("hello"));
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, (":method", "HEAD"), (":scheme", "http"), (":path", "/"), (":authority", "x"));
        var (headers, body) = await raw.ReadResponseAsync(1);
        Assert.Contains((":status", "200"), headers);
        Assert.Empty(body);
    }

    [Fact]
    public async Task Cookies_AreJoined_AndAuthorityBecomesHost()
    {
        await using var server = await StartAsync(ctx => ctx.Response.WriteAsync(ctx.Request.Headers.Cookie + "|" + ctx.Request.Host));
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, [.. Http2RawClient.Get(), ("cookie", "a=1"), ("cookie", "b=2")]);
        var (_, body) = await raw.ReadResponseAsync(1);
        Assert.Equal("a=1; b=2|localhost", System.Text.Encoding.ASCII.GetString(body));
    }

    [Fact]
    public async Task OptionsAsterisk_IsServed_AndAsteriskOnGet_IsMalformed()
    {
        await using var server = await StartAsync(ctx => ctx.Response.WriteAsync(ctx.Request.Method));
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, (":path", "*"), (":method", "OPTIONS"), (":scheme", "http"), (":authority", "x"));
        var (_, body) = await raw.ReadResponseAsync(1);
        Assert.Equal("OPTIONS", System.Text.Encoding.ASCII.GetString(body));
        await raw.SendHeadersAsync(3, true, (":path", "*"), (":method", "GET"), (":scheme", "http"), (":authority", "x"));
        await raw.ExpectResetAsync(3, Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task AppReset_SendsRstStreamWithItsCode()
    {
        await using var server = await StartAsync(ctx =>
        {
            ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResetFeature>()!.Reset((int)Http2ErrorCode.Cancel);
            return Task.CompletedTask;
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
        await raw.ExpectResetAsync(1, Http2ErrorCode.Cancel);
        await raw.SendHeadersAsync(3, true, Http2RawClient.Get());
        await raw.ExpectResetAsync(3, Http2ErrorCode.Cancel);
    }

    [Fact]
    public async Task StalledRequestBody_Gets408_AfterBodyReadTimeout()
    {
        await using var server = await StartAsync(async ctx =>
        {
            await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            await ctx.Response.WriteAsync("read");
        }, c => c.BodyReadTimeout = TimeSpan.FromMilliseconds(500));
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, Http2RawClient.Post());
        await raw.SendDataAsync(1, [1, 2, 3], endStream: false);
        var (headers, _) = await raw.ReadResponseAsync(1);
        Assert.Contains((":status", "408"), headers);
        await raw.ExpectResetAsync(1, Http2ErrorCode.NoError);
        await AssertStillServesAsync(raw, 3);
    }

    /// <summary>Raw frame: 9-byte header then payload.</summary>
    private static byte[] Frame(byte type, byte flags, int streamId, params byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
        payload.CopyTo(frame, 9);
        return frame;
    }

    public static TheoryData<string, byte[], uint> ConnectionErrors => new()
    {
        { "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1", Frame(4, 0, 0, 0, 4, 0x80, 0, 0, 0), (uint)Http2ErrorCode.FlowControlError },
        { "SETTINGS_ENABLE_PUSH 2", Frame(4, 0, 0, 0, 2, 0, 0, 0, 2), (uint)Http2ErrorCode.ProtocolError },
        { "SETTINGS_MAX_FRAME_SIZE too small", Frame(4, 0, 0, 0, 5, 0, 0, 0x3F, 0xFF), (uint)Http2ErrorCode.ProtocolError },
        { "SETTINGS ACK with a payload", Frame(4, 1, 0, 0, 1, 0, 0, 0x10, 0), (uint)Http2ErrorCode.FrameSizeError },
        { "SETTINGS length not a multiple of 6", Frame(4, 0, 0, 0, 1, 0, 0, 0x10), (uint)Http2ErrorCode.FrameSizeError },
        { "SETTINGS on a stream", Frame(4, 0, 1), (uint)Http2ErrorCode.ProtocolError },
        { "PING of 7 bytes", Frame(6, 0, 0, 1, 2, 3, 4, 5, 6, 7), (uint)Http2ErrorCode.FrameSizeError },
        { "PING on a stream", Frame(6, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8), (uint)Http2ErrorCode.ProtocolError },
        { "GOAWAY on a stream", Frame(7, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0), (uint)Http2ErrorCode.ProtocolError },
        { "RST_STREAM on an idle stream", Frame(3, 0, 1, 0, 0, 0, 8), (uint)Http2ErrorCode.ProtocolError },
        { "RST_STREAM on stream 0", Frame(3, 0, 0, 0, 0, 0, 8), (uint)Http2ErrorCode.ProtocolError },
        { "WINDOW_UPDATE on an idle stream", Frame(8, 0, 1, 0, 0, 0, 1), (uint)Http2ErrorCode.ProtocolError },
        { "CONTINUATION without HEADERS", Frame(9, 4, 1, 0x82), (uint)Http2ErrorCode.ProtocolError },
        { "DATA on stream 0", Frame(0, 0, 0, 1), (uint)Http2ErrorCode.ProtocolError },
        { "HEADERS on stream 0", Frame(1, 4, 0, 0x82), (uint)Http2ErrorCode.ProtocolError },
        { "HPACK index 0", Frame(1, 5, 1, 0x80), (uint)Http2ErrorCode.CompressionError },
        { "HPACK index past the tables", Frame(1, 5, 1, 0xFF, 0x00), (uint)Http2ErrorCode.CompressionError },
        { "DATA padding longer than the payload", Frame(0, 8, 1, 5, 0), (uint)Http2ErrorCode.ProtocolError },
    };

    [Theory]
    [MemberData(nameof(ConnectionErrors))]
    public async Task ConnectionError_GetsGoAwayWithItsCode(string what, byte[] frame, uint code)
    {
        Assert.NotEmpty(what);
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendAsync(frame);
        await raw.ExpectGoAwayAsync((Http2ErrorCode)code);
        Assert.True(await raw.WaitForCloseAsync());
    }

    [Fact]
    public async Task HeadersDependingOnItself_IsStreamProtocolError()
    {
        await using var server = await StartAsync();
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        var block = raw.Encode(Http2RawClient.Get());
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteHeaders(w, 1, block, endStream: true, endHeaders: true, priority: new Http2Priority(false, 1, 16)));
        await raw.ExpectResetAsync(1, Http2ErrorCode.ProtocolError);
        await AssertStillServesAsync(raw, 3);
    }

    [Fact]
    public async Task StreamWindowOverflow_IsStreamFlowControlError()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(async ctx =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
            await ctx.Response.WriteAsync("ok");
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteWindowUpdate(w, 1, int.MaxValue));
        await raw.ExpectResetAsync(1, Http2ErrorCode.FlowControlError);
        release.TrySetResult();
    }

    [Fact]
    public async Task StreamWindowUpdateOfZero_IsStreamProtocolError()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(async ctx =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
            await ctx.Response.WriteAsync("ok");
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
        await raw.SendAsync(Frame(8, 0, 1, 0, 0, 0, 0));
        await raw.ExpectResetAsync(1, Http2ErrorCode.ProtocolError);
        release.TrySetResult();
    }

    [Fact]
    public async Task InitialWindowSizeChange_OverflowingAStream_IsFlowControlError()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(async ctx =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
            await ctx.Response.WriteAsync("ok");
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, true, Http2RawClient.Get());
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteWindowUpdate(w, 1, int.MaxValue - 65_535));
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, [new Http2Setting(Http2SettingId.InitialWindowSize, 65_536)]));
        await raw.ExpectGoAwayAsync(Http2ErrorCode.FlowControlError);
        release.TrySetResult();
    }

    [Fact]
    public async Task PaddedData_IsDeliveredWithoutPadding()
    {
        await using var server = await StartAsync(async ctx => await ctx.Response.WriteAsync(await new StreamReader(ctx.Request.Body).ReadToEndAsync()));
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        await raw.SendHeadersAsync(1, false, Http2RawClient.Post());
        await raw.SendFrameAsync(w => Http2FrameWriter.WriteData(w, 1, "padded"u8, endStream: true, padLength: 20));
        var (_, body) = await raw.ReadResponseAsync(1);
        Assert.Equal("padded", System.Text.Encoding.ASCII.GetString(body));
    }
}
