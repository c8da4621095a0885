using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pounce.Cli.Settings;

namespace Pounce.Cli.Hosting;

/// <summary>
/// Once the server is listening, logs one start-up line (category <c>Pounce.Cli</c>, event <c>ServerStarted</c>)
/// with the bound addresses, workers, protocols and which logging is on. Pounce writes it through its own writer in the
/// configured format (text or JSON), whatever logging providers the app kept, and hands it to the app's loggers too.
/// </summary>
internal sealed class StartupAnnouncement(
    IServer server,
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggerFactory,
    Pounce.Lifecycle.LifecycleEmitter emitter,
    EffectiveSettings settings,
    ServedApp app) : IHostedService
{
    public const string Category = "Pounce.Cli";
    public static readonly EventId ServerStarted = new(1, nameof(ServerStarted));

    /// <summary>
    /// The protocols the server speaks, as the lifecycle events name them (<c>h1</c>, <c>h2</c>, <c>websocket</c>).
    /// Pounce has no API that says so yet, so this looks for the protocol layers the design names
    /// (<c>Pounce.Http2.Http2Connection</c>, the <c>Pounce.WebSockets</c> namespace) in the server assembly.
    /// </summary>
    public static readonly string Protocols = DetectProtocols();

    private static string DetectProtocols()
    {
        var types = typeof(ServerConfig).Assembly.GetTypes();
        var protocols = new List<string> { "h1" };
        if (types.Any(t => t.FullName == "Pounce.Http2.Http2Connection"))
            protocols.Add("h2");
        if (types.Any(t => t.Namespace == "Pounce.WebSockets"))
            protocols.Add("websocket");
        return string.Join(",", protocols);
    }

    private CancellationTokenRegistration _registration;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _registration = lifetime.ApplicationStarted.Register(Announce);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _registration.Dispose();
        return Task.CompletedTask;
    }

    private void Announce()
    {
        var config = settings.Config;
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
        var bound = addresses is { Count: > 0 }
            ? string.Join(", ", addresses)
            : $"http://{config.Host}:{config.Port}";
        var serverName = server.GetType().Name == "PounceServer" ? "pounce" : server.GetType().Name;
        // Pounce's own line: through Pounce's writer whatever providers the app kept, and to the app's loggers too.
        var logger = Pounce.Logging.PounceOwnLogger.Create(Category, emitter.Writer, loggerFactory, config.LogLevel);
        logger.LogInformation(ServerStarted,
            "Pounce listening on {addresses}, serving {app} (server={server}, workers={workers}, protocols={protocols}, lifecycle_logging={lifecycle_logging}, log_format={log_format}, log_level={log_level}, access_log={access_log}, log_output={log_output}, slow_threshold_s={slow_threshold_s}, health_check_path={health_check_path})",
            bound,
            app.Name,
            serverName,
            config.Workers,
            Protocols,
            config.LifecycleLogging ? "on" : "off",
            Setting.Format(config.LogFormat),
            Setting.Format(config.LogLevel),
            config.AccessLog ? "on" : "off",
            config.LogFile ?? "stdout",
            Setting.Format(config.LogSlowRequestsThreshold),
            config.HealthCheckPath ?? "none");
    }
}
