using Microsoft.AspNetCore.Http;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Http1;

/// <summary>
/// Values checked once per connection and then recognised by their string (the Host field whose bytes repeat, the
/// response headers an application sets from the same strings each time) are still checked whenever they change.
/// </summary>
public class RepeatedValueCheckTests
{
    [Fact]
    public async Task AHostThatChangesOnAKeptAliveConnection_IsCheckedAgain()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"));
        await using var raw = await server.ConnectAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: a.example\r\n\r\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\n"
            + "GET / HTTP/1.1\r\nHost: a example\r\n\r\n");
        Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
        Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
        Assert.Equal(400, (await raw.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task AResponseHeaderThatChangesAtTheSamePlace_IsCheckedAgain()
    {
        const string Name = "X-Tag";
        const string Fine = "fine";
        await using var server = await TestServer.StartAsync(ctx =>
        {
            switch (ctx.Request.Path.Value)
            {
                case "/bad-value":
                    ctx.Response.Headers[Name] = "bad\nvalue";
                    break;
                case "/bad-name":
                    ctx.Response.Headers["X Tag"] = Fine;
                    break;
                default:
                    ctx.Response.Headers[Name] = Fine;
                    break;
            }
            return ctx.Response.WriteAsync("body");
        });
        foreach (var bad in new[] { "/bad-value", "/bad-name" })
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync($"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nGET {bad} HTTP/1.1\r\nHost: x\r\n\r\n");
            for (var i = 0; i < 2; i++)
            {
                var ok = await raw.ReadResponseAsync();
                Assert.Equal(200, ok.Status);
                Assert.Equal(Fine, ok.Header(Name));
            }
            Assert.Equal(500, (await raw.ReadResponseAsync()).Status);
        }
    }
}
