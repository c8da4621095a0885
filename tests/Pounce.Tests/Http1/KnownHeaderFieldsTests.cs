using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Pounce.Http1;
using Pounce.Tests.Lifecycle;
using Pounce.Tests.Logging;

namespace Pounce.Tests.Http1;

/// <summary>
/// The head parser stores the first field of a known name without a lookup and remembers which known names came twice:
/// what the application and the access log see is the same as for any other name, once, twice, on keep-alive.
/// </summary>
public sealed class KnownHeaderFieldsTests
{
    [Fact]
    public void Every_known_name_has_a_bit_in_the_per_head_mask()
        => Assert.InRange(KnownHeaders.Count, 1, 64);

    [Fact]
    public async Task Known_fields_once_twice_and_absent_reach_the_application_and_the_access_log_alike()
    {
        var sink = new SinkStream();
        await using var server = await AccessLogTests.StartAsync(ctx =>
            ctx.Response.WriteAsync($"ua=[{string.Join('|', ctx.Request.Headers.UserAgent.ToArray())}] accept=[{string.Join('|', ctx.Request.Headers.Accept.ToArray())}] x=[{ctx.Request.Headers["X-Other"]}]"),
            sink);
        await using var raw = await server.ConnectAsync();

        await raw.SendAsync("GET /1 HTTP/1.1\r\nHost: x\r\nUser-Agent: one/1\r\nAccept: a\r\nX-Other: o\r\n\r\n");
        Assert.Equal("ua=[one/1] accept=[a] x=[o]", (await raw.ReadResponseAsync()).BodyText);

        await raw.SendAsync("GET /2 HTTP/1.1\r\nHost: x\r\nUser-Agent: first/1\r\nAccept: a\r\nuser-agent: second/2\r\nACCEPT: b\r\n\r\n");
        Assert.Equal("ua=[first/1|second/2] accept=[a|b] x=[]", (await raw.ReadResponseAsync()).BodyText);

        await raw.SendAsync("GET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("ua=[] accept=[] x=[]", (await raw.ReadResponseAsync()).BodyText);

        await raw.SendAsync("GET /4 HTTP/1.1\r\nHost: x\r\nUser-Agent: one/1\r\n\r\n");
        Assert.Equal("ua=[one/1] accept=[] x=[]", (await raw.ReadResponseAsync()).BodyText);

        var lines = await AccessLogTests.WaitForJsonAsync(sink, l => l.TryGetProperty("category", out var c) && c.GetString() == "Pounce.Access", 4, "access lines");
        string? Agent(string path) => lines.Single(l => l.GetProperty("path").GetString() == path).GetProperty("user_agent") is { ValueKind: JsonValueKind.String } ua ? ua.GetString() : null;
        Assert.Equal("one/1", Agent("/1"));
        Assert.Equal("first/1,second/2", Agent("/2"));
        Assert.Null(Agent("/3"));
        Assert.Equal("one/1", Agent("/4"));
    }
}
