using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pounce.Hosting;

namespace Pounce.Tests.Infrastructure;

/// <summary>A real Pounce server on 127.0.0.1, a free port, hosting an ASP.NET Core app built for one test.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int Port => BaseAddress.Port;

    public IServiceProvider Services => _app.Services;

    public PounceServer Server => (PounceServer)_app.Services.GetRequiredService<IServer>();

    /// <summary>Starts a server whose whole application is <paramref name="handler"/>.</summary>
    public static Task<TestServer> StartAsync(RequestDelegate handler, Action<ServerConfig>? configure = null)
        => StartAppAsync(app => app.Run(handler), configure);

    /// <summary>Starts a server with an application configured by <paramref name="configureApp"/>.</summary>
    public static async Task<TestServer> StartAppAsync(Action<WebApplication> configureApp, Action<ServerConfig>? configure = null,
        Action<IServiceCollection>? services = null, IEnumerable<KeyValuePair<string, string?>>? configuration = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (configuration is not null)
            builder.Configuration.AddInMemoryCollection(configuration);
        builder.Logging.ClearProviders();
        builder.WebHost.UsePounce(config =>
        {
            config.Host = "127.0.0.1";
            config.Port = 0;
            config.Workers = 2;
            config.AccessLog = false;
            configure?.Invoke(config);
        });
        services?.Invoke(builder.Services);
        var app = builder.Build();
        configureApp(app);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestServer(app, new Uri(address));
    }

    public HttpClient CreateClient(Version? version = null) => new(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1) })
    {
        BaseAddress = BaseAddress,
        DefaultRequestVersion = version ?? new Version(1, 1),
        Timeout = TimeSpan.FromSeconds(30),
    };

    public Task<RawClient> ConnectAsync() => RawClient.ConnectAsync(Port);

    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => StopAndDisposeAsync(_app);

    /// <summary>Stops <paramref name="app"/>, giving the graceful stop at most 5 s, and disposes it.</summary>
    public static async ValueTask StopAndDisposeAsync(WebApplication app)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await app.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }
        await app.DisposeAsync();
    }
}
