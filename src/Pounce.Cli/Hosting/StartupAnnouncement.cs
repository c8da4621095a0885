using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pounce.Cli.Settings;

namespace Pounce.Cli.Hosting;

/// <summary>
/// Once the server is listening, logs one start-up line (category <c>Pounce.Cli</c>, event <c>ServerStarted</c>)
/// with the bound addresses, workers, protocols and which logging is on. It goes through the app's logging, so Pounce
/// writes it in the configured format (text or JSON).
/// </summary>
internal sealed class StartupAnnouncement(
    IServer server,
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggerFactory,
    EffectiveSettings settings) : IHostedService
{
    public const string Category = "Pounce.Cli";
    public static readonly EventId ServerStarted = new(1, nameof(ServerStarted));

    /// <summary>The protocols the server speaks, as the lifecycle events name them.</summary>
    public const string Protocols = "h1, h2 (prior knowledge), websocket";

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
        var logger = loggerFactory.CreateLogger(Category);
        logger.LogInformation(ServerStarted,
            "Pounce listening on {addresses} (server={server}, workers={workers}, protocols={protocols}, lifecycle_logging={lifecycle_logging}, log_format={log_format}, log_level={log_level}, access_log={access_log}, log_output={log_output}, slow_threshold_s={slow_threshold_s}, health_check_path={health_check_path})",
            bound,
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
