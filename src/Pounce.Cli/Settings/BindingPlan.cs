using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Pounce.Cli.Settings;

/// <summary>
/// What a run will bind and why, for <c>config show</c>, in the order the server decides it: the command's own
/// addresses (<c>--urls</c>, or <c>--host</c>/<c>--port</c> when set); else the endpoints of <c>Pounce:Endpoints</c>, else
/// <c>Kestrel:Endpoints</c> (appsettings.json or <c>Kestrel__Endpoints__NAME__Url</c> variables); else the host's URLs
/// (<c>ASPNETCORE_URLS</c>, <c>urls</c> in appsettings.json, <c>ASPNETCORE_HTTP_PORTS</c>/<c>ASPNETCORE_HTTPS_PORTS</c>);
/// else the default <c>Host</c>:<c>Port</c>. An app's own code (UseUrls, Listen) can add to this and is not seen here.
/// </summary>
internal static class BindingPlan
{
    /// <summary>One address with its source, e.g. (<c>http://[::]:8080</c>, <c>env ASPNETCORE_HTTP_PORTS</c>).</summary>
    public static IReadOnlyList<(string Url, string Source)> Describe(EffectiveSettings settings, Func<string, string?> environment)
    {
        var result = new List<(string, string)>();
        if (settings.BindingUrls.Count > 0)
        {
            var source = settings.UrlList.Count > 0 ? settings.SourceOf(Setting.Urls) : "--host/--port (" + settings.SourceOf(Setting.All.First(s => s.Name == nameof(ServerConfig.Host))) + ", " + settings.SourceOf(Setting.All.First(s => s.Name == nameof(ServerConfig.Port))) + ")";
            foreach (var url in settings.BindingUrls)
                result.Add((url, source));
            return result;
        }

        var configuration = Configuration(settings, environment);
        foreach (var section in new[] { "Pounce:Endpoints", "Kestrel:Endpoints" })
        {
            foreach (var endpoint in configuration.GetSection(section).GetChildren())
            {
                var protocols = endpoint["Protocols"] is { Length: > 0 } p ? " protocols=" + p : "";
                result.Add((endpoint["Url"] ?? "(no Url: a start-up error)", section + ":" + endpoint.Key + protocols + " (" + Where(settings, environment, endpoint.Path + ":Url") + ")"));
            }
            if (result.Count > 0)
                return result;
        }

        foreach (var (variable, key) in new[] { ("ASPNETCORE_URLS", "urls"), ("DOTNET_URLS", "urls") })
        {
            var urls = environment(variable);
            var source = "env " + variable;
            if (urls is null && variable == "ASPNETCORE_URLS" && configuration[key] is { } fromFile)
            {
                urls = fromFile;
                source = "urls in " + EffectiveSettings.AppSettingsFileName;
            }
            if (!string.IsNullOrWhiteSpace(urls))
            {
                foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    result.Add((url, source));
                return result;
            }
        }

        foreach (var (variable, scheme) in new[] { ("ASPNETCORE_HTTP_PORTS", "http"), ("ASPNETCORE_HTTPS_PORTS", "https") })
        {
            if (environment(variable) is not { Length: > 0 } ports)
                continue;
            foreach (var port in ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                result.Add((scheme + "://*:" + port + " (dual-stack [::]:" + port + ")", "env " + variable));
        }
        if (result.Count > 0)
            return result;

        var config = settings.Config;
        var host = config.Host.Contains(':', StringComparison.Ordinal) && !config.Host.StartsWith('[') ? "[" + config.Host + "]" : config.Host;
        var scheme2 = config.SslCertFile is null ? "http://" : "https://";
        result.Add((scheme2 + host + ":" + config.Port.ToString(CultureInfo.InvariantCulture), "default (--host/--port)"));
        return result;
    }

    private static IConfiguration Configuration(EffectiveSettings settings, Func<string, string?> environment)
    {
        var builder = new ConfigurationBuilder();
        if (settings.AppSettingsFound)
            builder.AddJsonFile(settings.AppSettingsPath, optional: true, reloadOnChange: false);
        // Kestrel__Endpoints__NAME__Url and the like, as ASP.NET Core reads them (only the keys that matter here).
        var variables = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            var name = (string)entry.Key;
            if ((name.StartsWith("Kestrel__", StringComparison.OrdinalIgnoreCase) || name.StartsWith("Pounce__Endpoints__", StringComparison.OrdinalIgnoreCase))
                && environment(name) is { } value)
            {
                variables[name.Replace("__", ":", StringComparison.Ordinal)] = value;
            }
        }
        builder.AddInMemoryCollection(variables);
        return builder.Build();
    }

    private static string Where(EffectiveSettings settings, Func<string, string?> environment, string key)
    {
        var variable = key.Replace(":", "__", StringComparison.Ordinal);
        return environment(variable) is not null ? "env " + variable : EffectiveSettings.AppSettingsFileName;
    }
}
