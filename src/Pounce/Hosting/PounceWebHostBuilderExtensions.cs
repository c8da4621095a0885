using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Pounce.Logging;

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
        });
    }
}
