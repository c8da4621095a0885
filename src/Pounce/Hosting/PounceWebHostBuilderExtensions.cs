using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Pounce.Logging;
using Pounce.Telemetry;

namespace Pounce.Hosting;

/// <summary>Puts Pounce in place of Kestrel for an ASP.NET Core application.</summary>
public static class PounceWebHostBuilderExtensions
{
    /// <summary>The configuration section whose keys are <see cref="ServerConfig"/> property names.</summary>
    public const string ConfigurationSection = "Pounce";

    /// <summary>
    /// Uses Pounce as the application's server. Settings come from the <c>Pounce</c> configuration section
    /// (appsettings.json, environment variables), then from <paramref name="configure"/>, which wins.
    /// </summary>
    /// <remarks>
    /// With <see cref="ServerConfig.OtelEndpoint"/> set, the OpenTelemetry SDK is added too
    /// (<see cref="PounceOpenTelemetry.AddPounceOpenTelemetry"/>). That is decided here, while services are registered:
    /// the section and <paramref name="configure"/> are applied once to a scratch <see cref="ServerConfig"/> to read it.
    /// </remarks>
    public static IWebHostBuilder UsePounce(this IWebHostBuilder builder, Action<ServerConfig>? configure = null)
    {
        return builder.ConfigureServices((context, services) =>
        {
            var options = services.AddOptions<ServerConfig>();
            var section = context.Configuration.GetSection(ConfigurationSection);
            options.Configure(config => section.Bind(config));
            if (configure is not null)
                options.Configure(configure);
            services.AddPounceLogging();
            services.AddSingleton<IServer, PounceServer>();

            var registration = new ServerConfig();
            section.Bind(registration);
            configure?.Invoke(registration);
            PounceOpenTelemetry.AddIfConfigured(services, registration);
        });
    }
}
