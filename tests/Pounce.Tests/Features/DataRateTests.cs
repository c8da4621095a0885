using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.LifecycleE2E;

namespace Pounce.Tests.Features;

/// <summary>
/// Kestrel's minimum data rates (<c>MinRequestBodyDataRate</c>, <c>MinResponseDataRate</c>) and their per-request
/// features, seen from the client: a trickling body is cut off with its own lifecycle detail, a request that turns the
/// rate off (as Grpc.AspNetCore does for streaming calls) may stay quiet past the grace period.
/// </summary>
public sealed class DataRateTests
{
    // Kestrel's MinDataRate needs a grace period above 1 s; a short one keeps these tests quick.
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(1.2);

    private static async Task<string> EchoAsync(HttpContext ctx)
    {
        using var reader = new StreamReader(ctx.Request.Body);
        return await reader.ReadToEndAsync();
    }

    [Fact]
    public async Task Trickling_body_below_the_minimum_rate_gets_408_and_its_own_detail()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx => await ctx.Response.WriteAsync(await EchoAsync(ctx)), c =>
        {
            c.MinRequestBodyDataRate = 1000;
            c.MinRequestBodyDataRateGracePeriod = Grace;
        });
        await using var _ = server;
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
        // One byte every 100 ms: never stalled long (a per-wait timeout would not notice), but ~10 B/s, far below 1000.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        var answered = raw.ReadResponseAsync(timeout: TimeSpan.FromSeconds(15));
        while (!answered.IsCompleted && DateTime.UtcNow < deadline)
        {
            try
            {
                await raw.SendAsync("a");
            }
            catch (Exception)
            {
                break; // the server closed
            }
            await Task.WhenAny(answered, Task.Delay(100));
        }
        var response = await answered;
        Assert.Equal(408, response.Status);
        Assert.Equal("close", response.Header("Connection"));
        var conn = await events.CompletedConnectionAsync();
        var completed = conn.Single(e => e.Name == "ConnectionCompleted");
        Assert.Equal("timeout", completed.Str("reason"));
        Assert.Equal("min_request_body_data_rate", completed.Str("detail"));
    }

    [Fact]
    public async Task Request_that_turns_the_rate_off_may_pause_its_body_past_the_grace_period_on_http1()
    {
        var paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            var feature = ctx.Features.Get<IHttpMinRequestBodyDataRateFeature>()!;
            Assert.Equal(1000, feature.MinDataRate!.BytesPerSecond);
            feature.MinDataRate = null;
            await ctx.Response.WriteAsync(await EchoAsync(ctx));
        }, c =>
        {
            c.MinRequestBodyDataRate = 1000;
            c.MinRequestBodyDataRateGracePeriod = Grace;
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello");
        // Quiet for well over the grace period (time has to pass here: that is what is tested).
        await Task.Delay(Grace * 2.5);
        await raw.SendAsync("world");
        var response = await raw.ReadResponseAsync(timeout: TimeSpan.FromSeconds(10));
        Assert.Equal(200, response.Status);
        Assert.Equal("helloworld", response.BodyText);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Request_that_turns_the_rate_off_may_pause_its_body_on_http2_and_one_that_does_not_gets_408(bool turnOff)
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            if (turnOff)
                ctx.Features.Get<IHttpMinRequestBodyDataRateFeature>()!.MinDataRate = null;
            // HTTP/2 does not offer the per-request response rate (Kestrel does not either).
            Assert.Null(ctx.Features.Get<IHttpMinResponseDataRateFeature>());
            try
            {
                await ctx.Response.WriteAsync(await EchoAsync(ctx));
            }
            catch (BadHttpRequestException ex)
            {
                Assert.Same(ex, ctx.Features.Get<IBadRequestExceptionFeature>()!.Error);
                throw;
            }
        }, c =>
        {
            c.MinRequestBodyDataRate = 1000;
            c.MinRequestBodyDataRateGracePeriod = Grace;
        });
        using var client = server.CreateClient(HttpVersion.Version20);
        var body = new PausingContent("hello", "world", Grace * 2.5);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = body, Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        if (turnOff)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("helloworld", await response.Content.ReadAsStringAsync(cts.Token));
        }
        else
        {
            Assert.Equal(HttpStatusCode.RequestTimeout, response.StatusCode);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Client_that_stops_reading_is_cut_off_by_the_response_rate_unless_the_request_turned_it_off(bool turnOff)
    {
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            var feature = ctx.Features.Get<IHttpMinResponseDataRateFeature>()!;
            Assert.Equal(1_000_000, feature.MinDataRate!.BytesPerSecond);
            if (turnOff)
                feature.MinDataRate = null;
            var chunk = new byte[256 * 1024];
            try
            {
                for (var i = 0; i < 4096 && !ctx.RequestAborted.IsCancellationRequested; i++)
                    await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted);
            }
            catch (Exception)
            {
                // The server gave up on the client: that is the test.
            }
        }, c =>
        {
            // A send of N bytes may take max(grace, N / rate): a high rate makes the grace period decide.
            c.MinResponseDataRate = 1_000_000;
            c.MinResponseDataRateGracePeriod = Grace;
            // Off, the rate leaves the single-send bound; long enough that the rate, when on, always decides first.
            c.ResponseWriteTimeout = TimeSpan.FromSeconds(4);
        });
        await using var _ = server;
        await using var raw = await server.ConnectAsync();
        raw.Socket.ReceiveBufferSize = 4096;
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        // The client never reads.
        var conn = await events.CompletedConnectionAsync();
        var completed = conn.Single(e => e.Name == "ConnectionCompleted");
        Assert.Equal("timeout", completed.Str("reason"));
        Assert.Equal(turnOff ? "write_timeout" : "min_response_data_rate", completed.Str("detail"));
    }

    [Fact]
    public void Settings_are_validated_with_a_message_naming_the_setting()
    {
        var config = new ServerConfig { MinRequestBodyDataRateGracePeriod = TimeSpan.FromSeconds(1) };
        var ex = Assert.Throws<InvalidOperationException>(config.Validate);
        Assert.Contains("MinRequestBodyDataRateGracePeriod", ex.Message);
        config = new ServerConfig { MinResponseDataRate = -1 };
        ex = Assert.Throws<InvalidOperationException>(config.Validate);
        Assert.Contains("MinResponseDataRate", ex.Message);
        new ServerConfig { MinRequestBodyDataRate = 0, MinResponseDataRate = 0 }.Validate();
    }

    /// <summary>A request body sent in two parts with a pause between them.</summary>
    private sealed class PausingContent(string first, string second, TimeSpan pause) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(first));
            await stream.FlushAsync();
            await Task.Delay(pause);
            await stream.WriteAsync(Encoding.ASCII.GetBytes(second));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
