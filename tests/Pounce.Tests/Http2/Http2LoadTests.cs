using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Pounce.Tests.LifecycleE2E;

namespace Pounce.Tests.Http2;

/// <summary>HTTP/2 under concurrency: shared windows, the lifecycle invariants, limits, settings validation.</summary>
public sealed class Http2LoadTests
{
    [Fact]
    public async Task ConcurrentUploads_ShareTheConnectionWindow()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[3000];
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                hash.AppendData(buffer, 0, n);
            await ctx.Response.WriteAsync(Convert.ToHexString(hash.GetHashAndReset()));
        }, c => c.Http2InitialWindowSize = 20_000);
        await using (server)
        {
            using (var client = Http2ConnectionTests.CreateH2Client(server))
            {
                var tasks = Enumerable.Range(0, 12).Select(async i =>
                {
                    var payload = RandomNumberGenerator.GetBytes(300_000 + i * 1000);
                    using var response = await client.PostAsync("/u" + i, new ByteArrayContent(payload));
                    Assert.Equal(HttpVersion.Version20, response.Version);
                    Assert.Equal(Convert.ToHexString(SHA256.HashData(payload)), await response.Content.ReadAsStringAsync());
                }).ToArray();
                await Task.WhenAll(tasks);
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal(12, conn.Count(e => e.Name == "ResponseCompleted"));
            Assert.Equal(12, conn[^1].Num("requests_served"));
        }
    }

    [Fact]
    public async Task LifecycleInvariants_HoldOverManyStreams()
    {
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            if (ctx.Request.Path == "/slow")
                await Task.Delay(50);
            await ctx.Response.WriteAsync("x" + ctx.Request.Path);
        });
        await using (server)
        {
            using (var client = Http2ConnectionTests.CreateH2Client(server))
            {
                await Task.WhenAll(Enumerable.Range(0, 200).Select(i => client.GetStringAsync(i % 10 == 0 ? "/slow" : "/" + i)));
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("ConnectionOpened", conn[0].Name);
            Assert.Equal("ConnectionCompleted", conn[^1].Name);
            Assert.Single(conn, e => e.Name == "ConnectionCompleted");
            var started = conn.Where(e => e.Name == "RequestStarted").ToList();
            Assert.Equal(200, started.Count);
            Assert.Equal(200, started.Select(e => e.RequestId).Distinct().Count());
            Assert.Equal(200, started.Select(e => e.Num("stream_id")).Distinct().Count());
            foreach (var s in started)
            {
                var ends = conn.Where(e => e.RequestId == s.RequestId && e.Name is "ResponseCompleted" or "ClientDisconnected").ToList();
                Assert.Single(ends);
                Assert.Equal(s.Num("stream_id"), ends[0].Num("stream_id"));
                Assert.True(conn.ToList().IndexOf(ends[0]) > conn.ToList().IndexOf(s));
            }
            Assert.Equal(conn.Count(e => e.Name == "ResponseCompleted"), conn[^1].Num("requests_served"));
            Assert.Equal(conn.Where(e => e.Name == "ResponseCompleted").Sum(e => e.Num("bytes_sent")), conn[^1].Num("total_bytes_sent"));
        }
    }

    [Fact]
    public async Task BodyOverMaxRequestBodySize_Gets413()
    {
        await using var server = await Infrastructure.TestServer.StartAsync(async ctx =>
        {
            await new StreamReader(ctx.Request.Body).ReadToEndAsync();
            await ctx.Response.WriteAsync("read");
        }, c => c.MaxRequestBodySize = 1000);
        using var client = Http2ConnectionTests.CreateH2Client(server);
        using var response = await client.PostAsync("/", new ByteArrayContent(new byte[5000]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        using var ok = await client.PostAsync("/", new ByteArrayContent(new byte[500]));
        Assert.Equal("read", await ok.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(nameof(ServerConfig.Http2MaxConcurrentStreams), 0)]
    [InlineData(nameof(ServerConfig.Http2InitialWindowSize), 0)]
    [InlineData(nameof(ServerConfig.Http2MaxFrameSize), 16_383)]
    [InlineData(nameof(ServerConfig.Http2MaxFrameSize), 16_777_216)]
    [InlineData(nameof(ServerConfig.Http2MaxHeaderListSize), 100)]
    public void BadHttp2Setting_IsAClearError(string setting, int value)
    {
        var config = new ServerConfig();
        typeof(ServerConfig).GetProperty(setting)!.SetValue(config, value);
        var ex = Assert.Throws<InvalidOperationException>(config.Validate);
        Assert.Contains(setting, ex.Message);
    }

    [Fact]
    public void Http2Defaults_AreValid()
    {
        var config = new ServerConfig();
        Assert.True(config.Http2Enabled);
        Assert.Equal(100, config.Http2MaxConcurrentStreams);
        Assert.Equal(16_384, config.Http2MaxFrameSize);
        config.Validate();
    }
}
