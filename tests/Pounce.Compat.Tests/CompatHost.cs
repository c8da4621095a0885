using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Pounce.Compat.Tests;

/// <summary>The server a compatibility scenario runs on: every scenario runs on both and must observe the same result.</summary>
public enum ServerKind
{
    /// <summary>ASP.NET Core's own server, the reference.</summary>
    Kestrel,

    /// <summary>Pounce, the drop-in.</summary>
    Pounce,
}

/// <summary>The theory data every scenario runs over: each server, Kestrel first.</summary>
public static class ServerKinds
{
    /// <summary>Kestrel, then Pounce.</summary>
    public static readonly IReadOnlyList<ServerKind> Both = [ServerKind.Kestrel, ServerKind.Pounce];

    /// <summary>Each server.</summary>
    public static TheoryData<ServerKind> Each()
    {
        var data = new TheoryData<ServerKind>();
        foreach (var kind in Both)
            data.Add(kind);
        return data;
    }

    /// <summary>Each server, with HTTP/1.1 (<c>"1.1"</c>) and HTTP/2 (<c>"2.0"</c>).</summary>
    public static TheoryData<ServerKind, string> EachWithHttpVersion()
    {
        var data = new TheoryData<ServerKind, string>();
        foreach (var kind in Both)
        {
            data.Add(kind, "1.1");
            data.Add(kind, "2.0");
        }
        return data;
    }
}

/// <summary>
/// One app on one server, on a free loopback port (cleartext, HTTP/1.1 and HTTP/2 prior knowledge side by side).
/// The app is the same whichever the server; only the one line that picks the server differs, as for a user.
/// </summary>
internal sealed class CompatHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private CompatHost(WebApplication app, Uri baseAddress, Uri http2Address)
    {
        _app = app;
        BaseAddress = baseAddress;
        Http2Address = http2Address;
    }

    /// <summary>http://127.0.0.1:PORT/ for HTTP/1.1 (on Pounce, HTTP/2 with prior knowledge too).</summary>
    public Uri BaseAddress { get; }

    /// <summary>
    /// The address for HTTP/2 with prior knowledge (h2c). Pounce serves HTTP/1.1 and h2c on one cleartext port; Kestrel
    /// answers h2c on an HTTP/1.1-and-2 cleartext endpoint with HTTP_1_1_REQUIRED, so on Kestrel it is a second,
    /// HTTP/2-only endpoint. A difference of configuration, not of behaviour: the scenarios' results are the same.
    /// </summary>
    public Uri Http2Address { get; }

    /// <summary>The address for a client speaking <paramref name="version"/>.</summary>
    public Uri AddressFor(Version version) => version.Major >= 2 ? Http2Address : BaseAddress;

    /// <summary>The app's services.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Starts <paramref name="configureApp"/> on <paramref name="kind"/>.</summary>
    /// <param name="kind">The server.</param>
    /// <param name="configureServices">Service registrations.</param>
    /// <param name="configureApp">The pipeline.</param>
    /// <param name="kestrel">Kestrel settings for the scenario (limits), when it runs on Kestrel.</param>
    /// <param name="pounce">The same settings in Pounce's terms, when it runs on Pounce.</param>
    public static async Task<CompatHost> StartAsync(ServerKind kind, Action<IServiceCollection>? configureServices, Action<WebApplication> configureApp,
        Action<KestrelServerOptions>? kestrel = null, Action<ServerConfig>? pounce = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        if (kind == ServerKind.Kestrel)
        {
            builder.WebHost.UseKestrel(o =>
            {
                o.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http1);
                o.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2);
                kestrel?.Invoke(o);
            });
        }
        else
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            UsePounce(builder.WebHost, c =>
            {
                c.AccessLog = false;
                c.LogLevel = LogLevel.Warning;
                pounce?.Invoke(c);
            });
        }
        configureServices?.Invoke(builder.Services);
        var app = builder.Build();
        configureApp(app);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await app.StartAsync(cts.Token);
        // Kestrel reports its endpoints in the order they were configured (HTTP/1.1, then HTTP/2).
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Select(a => new Uri(a.TrimEnd('/') + "/")).ToArray();
        return new CompatHost(app, addresses[0], addresses[^1]);
    }

    /// <summary>
    /// <c>builder.WebHost.UsePounce(configure)</c>, found by name in the Pounce assembly: the extension is moving to the
    /// namespace of <c>UseKestrel</c> (<c>Microsoft.AspNetCore.Hosting</c>), and this finds it before and after.
    /// </summary>
    private static void UsePounce(IWebHostBuilder builder, Action<ServerConfig> configure)
    {
        var method = typeof(ServerConfig).Assembly.GetExportedTypes()
            .SelectMany(t => t.GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
            .Single(m => m.Name == "UsePounce" && m.GetParameters() is [{ } first, { } second]
                && first.ParameterType == typeof(IWebHostBuilder) && second.ParameterType == typeof(Action<ServerConfig>));
        method.Invoke(null, [builder, configure]);
    }

    /// <summary>An HttpClient for this host speaking <paramref name="version"/> only (HTTP/2: prior knowledge).</summary>
    public HttpClient CreateClient(Version? version = null) => new(new SocketsHttpHandler())
    {
        BaseAddress = AddressFor(version ?? new Version(1, 1)),
        DefaultRequestVersion = version ?? new Version(1, 1),
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>ws://127.0.0.1:PORT/<paramref name="path"/> for a WebSocket over HTTP <paramref name="version"/>.</summary>
    public Uri WebSocketUri(string path, Version version) => new("ws://" + AddressFor(version).Authority + path);

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await _app.StopAsync(cts.Token);
        }
        finally
        {
            await _app.DisposeAsync();
        }
    }
}
