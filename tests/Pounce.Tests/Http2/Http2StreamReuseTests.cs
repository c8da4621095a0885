using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Pounce.Http2;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http2;

/// <summary>
/// A connection reuses its finished stream objects (and the hosting context on them) and the strings of repeated
/// header values: nothing of one request may show in the next.
/// </summary>
public sealed class Http2StreamReuseTests
{
    [Fact]
    public async Task SequentialRequests_ReuseStreamObjects_AndStartClean()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            var features = ctx.Features;
            var stream = features.Get<IHttpRequestFeature>()!;
            var dirty = ctx.Request.Path == "/dirty";
            // What a clean start looks like, seen before this request changes anything.
            var seen = string.Join(";",
                $"object={RuntimeHelpers.GetHashCode(stream)}",
                $"stream={features.Get<IHttp2StreamIdFeature>()!.StreamId}",
                $"path={ctx.Request.Path}{ctx.Request.QueryString}",
                $"method={ctx.Request.Method}",
                $"x-one={ctx.Request.Headers["x-one"]}",
                $"items={ctx.Items.Count}",
                $"response-headers={ctx.Response.Headers.Count}",
                $"status={ctx.Response.StatusCode}",
                $"started={ctx.Response.HasStarted}",
                $"aborted={ctx.RequestAborted.IsCancellationRequested}",
                $"content-length={ctx.Request.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}",
                $"body={await new StreamReader(ctx.Request.Body).ReadToEndAsync()}",
                $"trace={ctx.TraceIdentifier}");
            if (dirty)
            {
                ctx.Items["left"] = "over";
                ctx.Response.StatusCode = 201;
                ctx.Response.Headers["x-dirty"] = "1";
                ctx.Response.DeclareTrailer("x-trailer");
                ctx.Response.ContentLength = Encoding.UTF8.GetByteCount(seen);
                ctx.Response.OnCompleted(() => Task.CompletedTask);
                await ctx.Response.WriteAsync(seen);
                ctx.Response.AppendTrailer("x-trailer", "t");
                return;
            }
            await ctx.Response.WriteAsync(seen);
        });
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);
        var objects = new List<string>();
        var traces = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            var id = 1 + 2 * i;
            var dirty = i % 2 == 0;
            if (dirty)
            {
                await raw.SendHeadersAsync(id, false, [(":method", "POST"), (":scheme", "http"), (":path", "/dirty?q=1"), (":authority", "localhost"),
                    ("x-one", "1"), ("content-length", "4")]);
                await raw.SendDataAsync(id, "body"u8.ToArray(), endStream: true);
            }
            else
            {
                await raw.SendHeadersAsync(id, true, Http2RawClient.Get("/clean"));
            }
            var (headers, body) = await raw.ReadResponseAsync(id);
            var seen = Encoding.UTF8.GetString(body).Split(';').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
            Assert.Equal(id.ToString(System.Globalization.CultureInfo.InvariantCulture), seen["stream"]);
            Assert.Equal(dirty ? "/dirty?q=1" : "/clean", seen["path"]);
            Assert.Equal(dirty ? "POST" : "GET", seen["method"]);
            Assert.Equal(dirty ? "1" : "", seen["x-one"]);
            Assert.Equal(dirty ? "4" : "none", seen["content-length"]);
            Assert.Equal(dirty ? "body" : "", seen["body"]);
            Assert.Equal("0", seen["items"]);
            Assert.Equal("0", seen["response-headers"]);
            Assert.Equal("200", seen["status"]);
            Assert.Equal("False", seen["started"]);
            Assert.Equal("False", seen["aborted"]);
            Assert.True(traces.Add(seen["trace"]), "TraceIdentifier repeated: " + seen["trace"]);
            Assert.Contains((":status", dirty ? "201" : "200"), headers);
            Assert.Equal(dirty, headers.Contains(("x-dirty", "1")));
            objects.Add(seen["object"]);
        }
        // Each request waited for the previous response, so finished stream objects were back in the pool.
        Assert.True(objects.Distinct().Count() < objects.Count, "no stream object was reused: " + string.Join(",", objects));
    }

    [Fact]
    public async Task RepeatedFieldStrings_AreReusedOnlyForTheSameBytes()
    {
        await using var server = await TestServer.StartAsync(ctx =>
            ctx.Response.WriteAsync($"{ctx.Features.Get<IHttpRequestFeature>()!.RawTarget}|{ctx.Request.Headers.UserAgent}|{ctx.Request.Host}"));
        await using var raw = await Http2RawClient.ConnectAsync(server.Port);

        async Task<string> GetAsync(int id, string path, string agent, string authority)
        {
            await raw.SendHeadersAsync(id, true, [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", authority), ("user-agent", agent)]);
            return Encoding.UTF8.GetString((await raw.ReadResponseAsync(id)).Body);
        }

        Assert.Equal("/a|one|h1", await GetAsync(1, "/a", "one", "h1"));
        Assert.Equal("/a|one|h1", await GetAsync(3, "/a", "one", "h1"));
        Assert.Equal("/b|two|h2", await GetAsync(5, "/b", "two", "h2"));
        // Two targets that decode to the same path ("/é"), in different bytes: the second keeps its own raw target.
        Assert.Equal("/%C3%A9|two|h2", await GetAsync(7, "/%C3%A9", "two", "h2"));
        Assert.Equal("/%c3%a9|two|h2", await GetAsync(9, "/%c3%a9", "two", "h2"));
    }
}
