using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Http;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http1;

/// <summary>Regression tests for bugs found in review, each over a real loopback socket.</summary>
public sealed class ReviewRegressionTests
{
    [Theory]
    [InlineData("writer")]
    [InlineData("stream")]
    public async Task WriteAfterCompleteAsync_Throws_AndPutsNothingOnTheWire(string via)
    {
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            if (ctx.Request.Path != "/a")
            {
                await ctx.Response.WriteAsync("second");
                return;
            }
            await ctx.Response.WriteAsync("first");
            await ctx.Response.CompleteAsync();
            try
            {
                var garbage = Encoding.ASCII.GetBytes("GARBAGE");
                if (via == "writer")
                    await ctx.Response.BodyWriter.WriteAsync(garbage);
                else
                    await ctx.Response.Body.WriteAsync(garbage);
                outcome.TrySetResult("written");
            }
            catch (InvalidOperationException)
            {
                outcome.TrySetResult("threw");
            }
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("first", (await raw.ReadResponseAsync()).BodyText);
        Assert.Equal("threw", await outcome.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        // The connection is still in sync: the next response starts with a status line.
        await raw.SendAsync("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("second", (await raw.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task AppSetsContentLengthAndTransferEncoding_OnlyOneFramingIsSent()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            ctx.Response.ContentLength = 5;
            ctx.Response.Headers.TransferEncoding = "chunked";
            await ctx.Response.WriteAsync("hello");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        // RFC 9112 6.2: a sender MUST NOT send Content-Length in a message that contains Transfer-Encoding.
        Assert.Null(response.Header("Content-Length"));
        Assert.Equal("chunked", response.Header("Transfer-Encoding"));
        Assert.Equal("hello", response.BodyText);
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("hello", (await raw.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task AppSetsTransferEncoding_ForAnHttp10Client_IsNotSent()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            ctx.Response.Headers.TransferEncoding = "chunked";
            await ctx.Response.WriteAsync("hello");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.0\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        // RFC 9112 6.1: a server MUST NOT send Transfer-Encoding unless the request indicates HTTP/1.1.
        Assert.Null(response.Header("Transfer-Encoding"));
        Assert.Equal("hello", response.BodyText);
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Head_WithAppSetTransferEncoding_SendsNoBodyBytes()
    {
        await using var server = await TestServer.StartAsync(async ctx =>
        {
            ctx.Response.Headers.TransferEncoding = "chunked";
            await ctx.Response.WriteAsync("hello");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(200, (await raw.ReadResponseAsync(head: true)).Status);
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var next = await raw.ReadResponseAsync();
        Assert.Equal(200, next.Status);
        Assert.Equal("hello", next.BodyText);
    }

    [Fact]
    public async Task ResetContent205_IsDelimited_SoKeepAliveWorks()
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            if (ctx.Request.Path == "/reset")
            {
                ctx.Response.StatusCode = 205;
                if (ctx.Request.Query.ContainsKey("te"))
                    ctx.Response.Headers.TransferEncoding = "chunked";
            }
            else
                return ctx.Response.WriteAsync("next");
            return Task.CompletedTask;
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /reset HTTP/1.1\r\nHost: x\r\n\r\nGET /reset?te HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
        // RFC 9112 6.3: 205 is not one of the statuses that never have content, so without Content-Length (or
        // chunked, or a close) a client reads it until the connection closes. RFC 9110 15.3.6 lists the ways out.
        var first = await raw.ReadResponseAsync(timeout: TimeSpan.FromSeconds(5));
        Assert.Equal(205, first.Status);
        Assert.Equal("0", first.Header("Content-Length"));
        Assert.Empty(first.Body);
        // An app-set Transfer-Encoding would contradict the empty body: it is not sent with a 205 either.
        var second = await raw.ReadResponseAsync(timeout: TimeSpan.FromSeconds(5));
        Assert.Equal(205, second.Status);
        Assert.Null(second.Header("Transfer-Encoding"));
        Assert.Equal("0", second.Header("Content-Length"));
        Assert.Equal("next", (await raw.ReadResponseAsync()).BodyText);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task InvalidResponseTrailer_AfterStart_AbortsCleanly_AndTheRequestStillEnds(bool viaCompleteAsync)
    {
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, events) = await Pounce.Tests.LifecycleE2E.LifecycleEventTests.StartAsync(async ctx =>
        {
            ctx.Response.OnCompleted(() => { completed.TrySetResult(); return Task.CompletedTask; });
            ctx.Response.AppendTrailer("X-T", "a\r\nInjected: 1");
            await ctx.Response.WriteAsync("hi");
            await ctx.Response.Body.FlushAsync();
            if (viaCompleteAsync)
            {
                try
                {
                    await ctx.Response.CompleteAsync();
                }
                catch (InvalidOperationException)
                {
                    // The application swallows it: the server must still not leave an unterminated body behind.
                }
            }
        });
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n");
            var all = Encoding.Latin1.GetString(await raw.ReadToEndAsync());
            Assert.DoesNotContain("Injected", all);
            // Only the first response: the connection was aborted, never reused after an unterminated body.
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(all, "HTTP/1.1 200"));
            await completed.Task.WaitAsync(TimeSpan.FromSeconds(10));
            var names = (await events.CompletedConnectionAsync()).Select(e => e.Name).ToArray();
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted", "ConnectionCompleted"], names);
        }
    }

    [Fact]
    public async Task ReasonPhraseInjection_IsRefusedWith500()
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            if (ctx.Request.Path == "/evil")
                ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseFeature>()!.ReasonPhrase = "OK\r\nSet-Cookie: injected=1";
            return ctx.Response.WriteAsync("body");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /evil HTTP/1.1\r\nHost: x\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        // RFC 9112 4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ); a CR or LF would split the response.
        Assert.Equal(500, response.Status);
        Assert.Null(response.Header("Set-Cookie"));
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("body", (await raw.ReadResponseAsync()).BodyText);
    }

    [Theory]
    [InlineData("/a/%ff/x/../b", "/a/%ff/b")]
    [InlineData("/static/%ff/../../../etc/passwd%ff", "/etc/passwd%ff")]
    public async Task Path_WithBytesThatAreNotUtf8_StillHasNoDotSegments(string target, string expected)
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync(ctx.Request.Path.Value!));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync($"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(expected, (await raw.ReadResponseAsync()).BodyText);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("5, 5")]
    public async Task InvalidContentLengthSetByApp_IsRefusedWith500_NotSentBesideAnotherFraming(string value)
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            if (ctx.Request.Path == "/bad")
                ctx.Response.Headers["Content-Length"] = value;
            return ctx.Response.WriteAsync("hello");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /bad HTTP/1.1\r\nHost: x\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        // RFC 9110 8.6: Content-Length = 1*DIGIT; a message with an invalid one cannot be framed by the client.
        Assert.Equal(500, response.Status);
        Assert.Single(response.Headers, h => h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase));
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("hello", (await raw.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task InvalidContentLengthSetByApp_IsRefused_WhateverTheCaseOfItsName()
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            if (ctx.Request.Path == "/bad")
                ctx.Response.Headers["content-LENGTH"] = "abc";
            return ctx.Response.WriteAsync("hello");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /bad HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(500, (await raw.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task NoContent204_NeverCarriesAppSetTransferEncoding()
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            if (ctx.Request.Path == "/204")
            {
                ctx.Response.StatusCode = 204;
                ctx.Response.Headers.TransferEncoding = "chunked";
                return Task.CompletedTask;
            }
            return ctx.Response.WriteAsync("next");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var first = await raw.ReadResponseAsync();
        // RFC 9112 6.1: a server MUST NOT send Transfer-Encoding in a 1xx or 204 response.
        Assert.Equal(204, first.Status);
        Assert.Null(first.Header("Transfer-Encoding"));
        Assert.Equal("next", (await raw.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task RemovedFeature_ReadsAsNull_ThroughTheIndexerToo()
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            ctx.Features.Set<Microsoft.AspNetCore.Http.Features.IHttpBodyControlFeature>(null);
            var viaIndexer = ctx.Features[typeof(Microsoft.AspNetCore.Http.Features.IHttpBodyControlFeature)];
            var viaGet = ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpBodyControlFeature>();
            return ctx.Response.WriteAsync($"{viaIndexer is null}|{viaGet is null}");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("True|True", (await raw.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task RequestTimeoutsMiddleware_CanReplaceRequestAborted()
    {
        // ASP.NET Core's request timeouts middleware links a token and assigns HttpContext.RequestAborted.
        await using var server = await TestServer.StartAppAsync(app =>
        {
            app.UseRequestTimeouts();
            app.MapGet("/slow", async (HttpContext ctx) =>
            {
                await Task.Delay(TimeSpan.FromSeconds(30), ctx.RequestAborted);
                return "not timed out";
            }).WithRequestTimeout(TimeSpan.FromMilliseconds(200));
        }, services: s => s.AddRequestTimeouts());
        using var client = server.CreateClient();
        using var response = await client.GetAsync("/slow");
        Assert.Equal(System.Net.HttpStatusCode.GatewayTimeout, response.StatusCode);
    }

    [Fact]
    public async Task ForwardedHeadersMiddleware_CanSetTheRemoteAddress_ForOneRequest()
    {
        await using var server = await TestServer.StartAppAsync(app =>
        {
            app.UseForwardedHeaders(new ForwardedHeadersOptions { ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor });
            app.Run(ctx => ctx.Response.WriteAsync($"{ctx.Connection.RemoteIpAddress}:{ctx.Connection.RemotePort}"));
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7:4711\r\n\r\n");
        Assert.Equal("203.0.113.7:4711", (await raw.ReadResponseAsync()).BodyText);
        // The next request on the same connection sees the real peer again.
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var local = (System.Net.IPEndPoint)raw.Socket.LocalEndPoint!;
        Assert.Equal($"{local.Address}:{local.Port}", (await raw.ReadResponseAsync()).BodyText);
    }
}

/// <summary>Application failures around a finished response.</summary>
public sealed class AppFailureAroundResponseTests
{
    [Fact]
    public async Task AppThrowingRightAfterWritingItsWholeBody_StillDeliversTheResponse()
    {
        await using var server = await Pounce.Tests.Infrastructure.TestServer.StartAsync(async ctx =>
        {
            ctx.Response.ContentLength = 4;
            await ctx.Response.Body.WriteAsync("done"u8.ToArray());
            throw new InvalidOperationException("after the body");
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var response = await raw.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        Assert.Equal("done", response.BodyText);
    }

    [Fact]
    public async Task DeclaredLengthNeverWritten_Is500_NotAnAbort()
    {
        await using var server = await Pounce.Tests.Infrastructure.TestServer.StartAsync(ctx =>
        {
            ctx.Response.ContentLength = 10;
            return Task.CompletedTask;
        });
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(500, (await raw.ReadResponseAsync()).Status);
    }
}
