using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pounce.Hosting;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Endpoints;

/// <summary>
/// A web application on Pounce configured the way a Kestrel app is: through configuration keys (Kestrel:Endpoints,
/// Pounce:Endpoints, urls, http_ports) rather than the test server's fixed 127.0.0.1:0.
/// </summary>
internal sealed class EndpointHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EndpointHost(WebApplication app, List<string> warnings)
    {
        _app = app;
        Warnings = warnings;
    }

    /// <summary>The addresses bound, as the server reports them.</summary>
    public IReadOnlyList<string> Addresses => [.. _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses];

    /// <summary>Warning lines logged by Pounce.Server during start-up.</summary>
    public List<string> Warnings { get; }

    /// <summary>The port of the first address.</summary>
    public int Port => new Uri(Addresses[0].Replace("[::]", "[::1]", StringComparison.Ordinal)).Port;

    public static async Task<EndpointHost> StartAsync(IEnumerable<KeyValuePair<string, string?>> configuration, RequestDelegate? handler = null,
        Action<ServerConfig>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.Logging.ClearProviders();
        var warnings = new List<string>();
        builder.Logging.AddProvider(new WarningCollector(warnings));
        builder.WebHost.UsePounce(c =>
        {
            c.Workers = 2;
            c.AccessLog = false;
            configure?.Invoke(c);
        });
        var app = builder.Build();
        app.Run(handler ?? (ctx =>
        {
            ctx.Response.ContentLength = ctx.Request.Protocol.Length;
            return ctx.Response.WriteAsync(ctx.Request.Protocol);
        }));
        try
        {
            await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        return new EndpointHost(app, warnings);
    }

    public ValueTask DisposeAsync() => TestServer.StopAndDisposeAsync(_app);

    private sealed class WarningCollector(List<string> lines) : ILoggerProvider, ILogger
    {
        public ILogger CreateLogger(string categoryName) => categoryName == "Pounce.Server" ? this : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning)
            {
                lock (lines)
                    lines.Add(formatter(state, exception));
            }
        }

        public void Dispose()
        {
        }
    }
}
