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

    /// <summary>ASP.NET Core's usual place for the default HTTPS certificate (<c>Path</c>, <c>KeyPath</c>, <c>Password</c>).</summary>
    public const string DefaultCertificateSection = "Kestrel:Certificates:Default";

    /// <summary>
    /// Uses Pounce as the application's server. Settings come from the <c>Pounce</c> configuration section
    /// (appsettings.json, environment variables), then from <paramref name="configure"/>, which wins. When no
    /// certificate is set there, the HTTPS certificate is taken from ASP.NET Core's usual
    /// <c>Kestrel:Certificates:Default</c> section (<c>Path</c>, <c>KeyPath</c>, <c>Password</c>), so an app configured
    /// for Kestrel's HTTPS runs unchanged.
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
            var certificate = context.Configuration.GetSection(DefaultCertificateSection);
            options.Configure(config =>
            {
                if (certificate["Path"] is { Length: > 0 } path)
                {
                    config.SslCertFile = path;
                    config.SslKeyFile = certificate["KeyPath"] is { Length: > 0 } keyPath ? keyPath : null;
                    config.SslKeyPassword = certificate["Password"];
                }
                section.Bind(config);
            });
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
