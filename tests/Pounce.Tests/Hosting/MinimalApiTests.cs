using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Pounce.Hosting;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Hosting;

public sealed record Order(string Item, int Quantity);

/// <summary>A minimal-API app run through the normal WebApplication builder with UsePounce().</summary>
public sealed class MinimalApiTests
{
    [Fact]
    public async Task MinimalApi_RoutingJsonBindingAndAbort()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await TestServer.StartAppAsync(app =>
        {
            app.MapGet("/items/{id:int}", (int id, [FromQuery] string? name) => Results.Json(new { id, name }));
            app.MapPost("/orders", (Order order) => Results.Created($"/orders/{order.Item}", order with { Quantity = order.Quantity * 2 }));
            app.MapGet("/wait", async (HttpContext ctx) =>
            {
                ctx.RequestAborted.Register(() => aborted.TrySetResult());
                waiting.TrySetResult();
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
            });
        });
        using var client = server.CreateClient();

        var item = await client.GetFromJsonAsync<Dictionary<string, object>>("/items/7?name=cat");
        Assert.Equal("7", item!["id"].ToString());
        Assert.Equal("cat", item["name"].ToString());

        using var created = await client.PostAsJsonAsync("/orders", new Order("box", 3));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("/orders/box", created.Headers.Location!.OriginalString);
        Assert.Equal(new Order("box", 6), await created.Content.ReadFromJsonAsync<Order>());

        using var missing = await client.GetAsync("/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        using var badBody = await client.PostAsync("/orders", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badBody.StatusCode);

        using var cts = new CancellationTokenSource();
        var pending = client.GetAsync("/wait", cts.Token);
        await waiting.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }
}

/// <summary>Addresses come from the usual ASP.NET Core places.</summary>
public sealed class AddressTests
{
    [Fact]
    public async Task Urls_FromHostingConfiguration_AreBound_AndReportedWithTheRealPort()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.UsePounce(c => c.Port = 1); // ignored: URLs win, as with Kestrel
        await using var app = builder.Build();
        app.Run(ctx => ctx.Response.WriteAsync("via urls"));
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var url = Assert.Single(app.Urls);
        var uri = new Uri(url);
        Assert.Equal("127.0.0.1", uri.Host);
        Assert.NotEqual(0, uri.Port);
        using var client = new HttpClient { BaseAddress = uri };
        Assert.Equal("via urls", await client.GetStringAsync("/"));
        await app.StopAsync();
    }

    [Fact]
    public void HttpsUrl_WithNoCertificateAnywhere_FailsClearly()
    {
        // The machine's own store is not asked: the SDK's first run may have put a development certificate there.
        var ex = Assert.ThrowsAny<InvalidOperationException>(
            () => Pounce.Tls.ServerCertificateLoader.LoadFor(new ServerConfig(), endpoint: null, "https://127.0.0.1:0", findDevelopment: () => null));
        Assert.Contains("HTTPS endpoint https://127.0.0.1:0 has no certificate", ex.Message, StringComparison.Ordinal);
        Assert.Contains("dotnet dev-certs https", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HttpsUrl_WithNoConfiguredCertificate_UsesTheDevelopmentCertificate()
    {
        var development = Pounce.Tests.Tls.TestCertificates.Localhost;
        var (leaf, chain) = Pounce.Tls.ServerCertificateLoader.LoadFor(new ServerConfig(), endpoint: null, "https://127.0.0.1:0", findDevelopment: () => development);
        Assert.Same(development, leaf);
        Assert.Empty(chain);
    }
}
