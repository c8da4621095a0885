using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pounce.Hosting;
using Pounce.Logging;
using Pounce.Tests.Lifecycle;
using static Pounce.Tests.Lifecycle.LifecycleTestKit;

namespace Pounce.Tests.Logging;

/// <summary>
/// Every line written while a request is in flight carries its connection_id, request_id and trace ids, whoever wrote
/// it: the application's <c>ILogger</c> line inside an endpoint, ASP.NET Core's own lines; over HTTP/1.1 and HTTP/2,
/// in JSON and text. An application's property never overwrites a reserved key.
/// </summary>
public sealed class CorrelationTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";

    /// <summary>An app as most are: the console provider registered (which Pounce's provider replaces), logging at info.</summary>
    internal static async Task<WebApplication> StartAppAsync(SinkStream sink, LogFormat format, RequestDelegate handler,
        Action<WebApplicationBuilder>? logging = null, Action<ServerConfig>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole();
        logging?.Invoke(builder);
        builder.Services.AddSingleton(_ => new LogLineWriter(sink, format, 4096, ownsStream: false));
        builder.WebHost.UsePounce(c =>
        {
            c.Host = "127.0.0.1";
            c.Port = 0;
            c.Workers = 2;
            c.LogFormat = format;
            c.AccessLog = true;
            configure?.Invoke(c);
        });
        var app = builder.Build();
        app.Run(handler);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return app;
    }

    internal static Uri Address(WebApplication app)
        => new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    private static Task Endpoint(HttpContext ctx)
    {
        var logger = ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("App.Endpoint");
        // An app property named like a reserved key must not overwrite it.
        logger.LogInformation("inside the endpoint, item {Item}, claimed {request_id}", 42, "forged");
        return ctx.Response.WriteAsync("ok");
    }

    private static bool Category(JsonElement e, string category) => e.TryGetProperty("category", out var c) && c.GetString() == category;

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task An_app_ILogger_line_inside_an_endpoint_carries_the_request_ids_in_json(string version)
    {
        var sink = new SinkStream();
        await using (var app = await StartAppAsync(sink, LogFormat.Json, Endpoint))
        {
            using var client = new HttpClient { BaseAddress = Address(app) };
            using var request = new HttpRequestMessage(HttpMethod.Get, "/work")
            {
                Version = Version.Parse(version),
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            request.Headers.TryAddWithoutValidation("traceparent", $"00-{TraceId}-00f067aa0ba902b7-01");
            using var response = await client.SendAsync(request);
            Assert.Equal(Version.Parse(version), response.Version);
            await AccessLogTests.WaitForJsonAsync(sink, e => Category(e, "Pounce.Access"), 1, "access line");
        }

        var lines = ParseLines(sink.Written);
        var access = Assert.Single(lines, e => Category(e, "Pounce.Access"));
        var connectionId = access.GetProperty("connection_id").GetInt64();
        var requestId = access.GetProperty("request_id").GetString();
        var appLine = Assert.Single(lines, e => Category(e, "App.Endpoint"));
        Assert.Equal(["timestamp", "level", "category", "message", "connection_id", "request_id", "trace_id", "span_id", "Item", "_request_id"], Keys(appLine));
        Assert.Equal(connectionId, appLine.GetProperty("connection_id").GetInt64());
        Assert.Equal(requestId, appLine.GetProperty("request_id").GetString());
        Assert.Equal(TraceId, appLine.GetProperty("trace_id").GetString());
        Assert.Equal("forged", appLine.GetProperty("_request_id").GetString());
        Assert.Equal(42, appLine.GetProperty("Item").GetInt32());
        Assert.Equal(access.GetProperty("trace_id").GetString(), appLine.GetProperty("trace_id").GetString());

        // ASP.NET Core's own per-request lines are joinable too.
        var framework = lines.Where(e => Category(e, "Microsoft.AspNetCore.Hosting.Diagnostics")).ToArray();
        Assert.NotEmpty(framework);
        Assert.All(framework, e =>
        {
            Assert.Equal(requestId, e.GetProperty("request_id").GetString());
            Assert.Equal(TraceId, e.GetProperty("trace_id").GetString());
        });
    }

    [Fact]
    public async Task An_app_ILogger_line_carries_the_request_ids_in_text_and_lines_outside_requests_do_not()
    {
        var sink = new SinkStream();
        await using (var app = await StartAppAsync(sink, LogFormat.Text, Endpoint))
        {
            using var client = new HttpClient { BaseAddress = Address(app) };
            using var request = new HttpRequestMessage(HttpMethod.Get, "/work");
            request.Headers.TryAddWithoutValidation("traceparent", $"00-{TraceId}-00f067aa0ba902b7-01");
            using var response = await client.SendAsync(request);
            response.EnsureSuccessStatusCode();
            await AccessLogTests.WaitForTextAsync(sink, l => l.Contains("\"GET /work HTTP/1.1\" 200", StringComparison.Ordinal), 1, "access line");
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("App.Outside").LogWarning("no request here");
            await AccessLogTests.WaitForTextAsync(sink, l => l.Contains("App.Outside", StringComparison.Ordinal), 1, "line outside requests");
        }
        var lines = Lines(sink.Written);
        var appLine = Assert.Single(lines, l => l.Contains(" App.Endpoint: ", StringComparison.Ordinal));
        Assert.Matches($@"^\S+ info App\.Endpoint: inside the endpoint, item 42, claimed forged connection_id=(\d+) request_id=\1-1 trace_id={TraceId} span_id=[0-9a-f]{{16}}$", appLine);
        var outside = Assert.Single(lines, l => l.Contains(" App.Outside: ", StringComparison.Ordinal));
        Assert.DoesNotContain("request_id=", outside, StringComparison.Ordinal);
        Assert.DoesNotContain("connection_id=", outside, StringComparison.Ordinal);
    }
}
