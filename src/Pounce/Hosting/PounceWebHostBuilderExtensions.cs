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
    public const string DefaultCertificateSection = EndpointConfiguration.DefaultCertificateSection;

    /// <summary>
    /// Reads the settings from configuration, lowest first: what a Kestrel app carries (<c>Kestrel:Certificates:Default</c>,
    /// <c>Kestrel:EndpointDefaults</c>), the <c>Pounce</c> section (appsettings.json, <c>Pounce__X</c> variables), the
    /// <c>POUNCE_X</c> variables, then the endpoints (<c>Pounce:Endpoints</c>, else <c>Kestrel:Endpoints</c>).
    /// </summary>
    internal static void ReadConfiguration(ServerConfig config, IConfiguration configuration)
    {
        EndpointConfiguration.ApplyKestrelDefaults(config, configuration);
        EndpointConfiguration.ApplyEndpoints(config, configuration); // first, so a bad endpoint value gets our error naming its key
        configuration.GetSection(ConfigurationSection).Bind(config);
        PounceEnvironment.Apply(config);
        EndpointConfiguration.ApplyEndpoints(config, configuration);
    }

    /// <summary>
    /// Uses Pounce as the application's server. Settings come from the <c>Pounce</c> configuration section
    /// (appsettings.json, <c>Pounce__X</c> environment variables), then <c>POUNCE_X</c> variables, then
    /// <paramref name="configure"/>, which wins. What a Kestrel app configures is read too: the HTTPS certificate of
    /// <c>Kestrel:Certificates:Default</c> when Pounce has none, <c>Kestrel:EndpointDefaults</c>, and
    /// <c>Kestrel:Endpoints</c> when <c>Pounce:Endpoints</c> is empty; other <c>Kestrel</c> keys are named in a
    /// start-up warning. (Also available as <c>Microsoft.AspNetCore.Hosting.PounceHostingExtensions.UsePounce</c>, next
    /// to <c>UseKestrel</c>.)
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
            options.Configure(config => ReadConfiguration(config, context.Configuration));
            if (configure is not null)
                options.Configure(configure);
            services.AddPounceLogging();
            services.AddSingleton<IServer, PounceServer>();

            var registration = new ServerConfig();
            ReadConfiguration(registration, context.Configuration);
            configure?.Invoke(registration);
            PounceOpenTelemetry.AddIfConfigured(services, registration);
        });
    }
}
