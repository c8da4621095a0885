using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace Pounce.Cli.Settings;

/// <summary>
/// The settings a run uses and where each came from. Precedence, lowest first: the <see cref="ServerConfig"/>
/// default, appsettings.json (section <c>Pounce</c>), the environment (<c>POUNCE_*</c>), the command line.
/// </summary>
internal sealed partial class EffectiveSettings
{
    public const string AppSettingsFileName = "appsettings.json";
    public const string SectionName = "Pounce";

    private readonly Dictionary<Setting, string> _sources;

    private EffectiveSettings(ServerConfig config, string? urls, Dictionary<Setting, string> sources, string appSettingsPath, bool appSettingsFound)
    {
        Config = config;
        Urls = urls;
        _sources = sources;
        AppSettingsPath = appSettingsPath;
        AppSettingsFound = appSettingsFound;
    }

    /// <summary>The server settings, validated.</summary>
    public ServerConfig Config { get; }

    /// <summary>The URLs to bind, or null to bind <see cref="ServerConfig.Host"/>:<see cref="ServerConfig.Port"/>.</summary>
    public string? Urls { get; }

    /// <summary>The appsettings.json that was looked for.</summary>
    public string AppSettingsPath { get; }

    /// <summary>Whether <see cref="AppSettingsPath"/> exists.</summary>
    public bool AppSettingsFound { get; }

    /// <summary>Where a setting's value came from: <c>default</c>, <c>appsettings.json</c>, <c>env POUNCE_X</c> or <c>flag --x</c>.</summary>
    public string SourceOf(Setting setting) => _sources.TryGetValue(setting, out var source) ? source : "default";

    /// <summary>The value of a setting, as it is written on the command line.</summary>
    public string FormattedValueOf(Setting setting)
    {
        var value = setting.IsServerConfig ? setting.GetValue(Config) : Urls;
        // A secret is never printed, only whether it is set.
        if (setting.Name == nameof(ServerConfig.SslKeyPassword) && value is not null)
            return "(set)";
        return Setting.Format(value);
    }

    /// <summary>The URLs as a list, empty when none.</summary>
    public IReadOnlyList<string> UrlList
        => Urls is null ? [] : Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>
    /// The addresses the command asks the server to bind, which win over the app's own <c>urls</c> setting
    /// (ASPNETCORE_URLS, ASPNETCORE_HTTP_PORTS, appsettings.json): <c>--urls</c>; else, when <c>--host</c> or
    /// <c>--port</c> was set anywhere (flag, env, appsettings.json section Pounce), <c>http://HOST:PORT</c>; else none,
    /// and the server binds the app's own URLs if it has any, else its default <c>HOST:PORT</c>.
    /// </summary>
    public IReadOnlyList<string> BindingUrls
    {
        get
        {
            if (UrlList.Count > 0)
                return UrlList;
            var host = Setting.All.First(s => s.Name == nameof(ServerConfig.Host));
            var port = Setting.All.First(s => s.Name == nameof(ServerConfig.Port));
            if (!_sources.ContainsKey(host) && !_sources.ContainsKey(port))
                return [];
            var h = Config.Host.Contains(':', StringComparison.Ordinal) && !Config.Host.StartsWith('[') ? "[" + Config.Host + "]" : Config.Host;
            var scheme = Config.SslCertFile is null ? "http://" : "https://";
            return [scheme + h + ":" + Config.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        }
    }

    /// <summary>Copies every server setting onto <paramref name="target"/>.</summary>
    public void ApplyTo(ServerConfig target)
    {
        foreach (var setting in Setting.All)
        {
            if (setting.IsServerConfig)
                setting.SetValue(target, setting.GetValue(Config));
        }
    }

    /// <summary>
    /// Resolves every setting. Throws <see cref="SettingsException"/> with a one-line message naming the flag, variable
    /// or key, the value and what is allowed, for a value that does not parse or that <see cref="ServerConfig.Validate"/> rejects.
    /// </summary>
    /// <param name="flags">Values given on the command line, as text, with the flag that gave each, by setting.</param>
    /// <param name="appSettingsDirectory">Where to look for appsettings.json.</param>
    /// <param name="environment">Reads an environment variable.</param>
    /// <param name="workingDirectory">What relative file paths given on the command line or in the environment are relative to.</param>
    public static EffectiveSettings Resolve(
        IReadOnlyDictionary<Setting, FlagValue> flags,
        string appSettingsDirectory,
        Func<string, string?> environment,
        string workingDirectory)
    {
        var config = new ServerConfig();
        string? urls = null;
        var sources = new Dictionary<Setting, string>();
        var appSettingsPath = Path.GetFullPath(Path.Combine(appSettingsDirectory, AppSettingsFileName));
        var appSettingsFound = File.Exists(appSettingsPath);

        void Set(Setting setting, string text, string origin, string source, string relativeTo)
        {
            if (!setting.TryParse(text, out var value))
                throw new SettingsException($"invalid value '{text}' for {origin}: expected {setting.Expected}");
            if (setting.Name is nameof(ServerConfig.LogFile) or nameof(ServerConfig.SslCertFile) or nameof(ServerConfig.SslKeyFile) && value is string { Length: > 0 } file)
                value = Path.GetFullPath(file, relativeTo);
            if (setting.IsServerConfig)
                setting.SetValue(config, value);
            else
                urls = string.IsNullOrWhiteSpace((string?)value) ? null : (string?)value;
            sources[setting] = source;
        }

        if (appSettingsFound)
        {
            IConfigurationSection section;
            try
            {
                var configuration = new ConfigurationBuilder().AddJsonFile(appSettingsPath, optional: true, reloadOnChange: false).Build();
                section = configuration.GetSection(SectionName);
            }
            catch (Exception e) when (e is FormatException or InvalidDataException or IOException)
            {
                throw new SettingsException($"cannot read {appSettingsPath}: {FirstLine(e.InnerException?.Message ?? e.Message)}");
            }
            var known = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "Endpoints" }; // read by the server (EndpointConfiguration)
            foreach (var setting in Setting.All)
            {
                known.Add(setting.ConfigurationKey);
                var text = section[setting.ConfigurationKey];
                if (text is not null)
                {
                    Set(setting, text, $"{SectionName}:{setting.ConfigurationKey} in {appSettingsPath}", AppSettingsFileName,
                        Path.GetDirectoryName(appSettingsPath)!);
                }
            }
            foreach (var child in section.GetChildren())
            {
                if (!known.Contains(child.Key))
                    Console.Error.WriteLine($"pounce: warning: unknown setting {SectionName}:{child.Key} in {appSettingsPath} (ignored)");
            }
        }

        // Both environment spellings: ASP.NET Core configuration's Pounce__Key (as in library mode), then POUNCE_KEY.
        foreach (var setting in Setting.All)
        {
            foreach (var name in (ReadOnlySpan<string>)["Pounce__" + setting.ConfigurationKey, "POUNCE__" + setting.ConfigurationKey.ToUpperInvariant()])
            {
                if (environment(name) is { } value)
                {
                    Set(setting, value, name, "env " + name, workingDirectory);
                    break;
                }
            }
            var text = environment(setting.EnvironmentVariable);
            if (text is not null)
                Set(setting, text, setting.EnvironmentVariable, "env " + setting.EnvironmentVariable, workingDirectory);
        }

        foreach (var (setting, (text, flag)) in flags)
            Set(setting, text, flag, "flag " + flag, workingDirectory);

        try
        {
            config.Validate();
        }
        catch (InvalidOperationException e)
        {
            throw new SettingsException(DescribeValidationError(e.Message, sources));
        }
        foreach (var file in (ReadOnlySpan<string>)[nameof(ServerConfig.SslCertFile), nameof(ServerConfig.SslKeyFile)])
        {
            var setting = Setting.All.First(s => s.Name == file);
            if (setting.GetValue(config) is string path && !File.Exists(path))
            {
                var origin = sources.TryGetValue(setting, out var source) ? Origin(setting, source) : setting.Flag;
                throw new SettingsException($"invalid value '{path}' for {origin}: the file does not exist");
            }
        }

        return new EffectiveSettings(config, urls, sources, appSettingsPath, appSettingsFound);
    }

    /// <summary>
    /// Turns <see cref="ServerConfig.Validate"/>'s message ("Invalid Pounce setting Workers = 0: expected 1 to 1024.")
    /// into the command's own form, naming where the bad value came from.
    /// </summary>
    private static string DescribeValidationError(string message, Dictionary<Setting, string> sources)
    {
        var match = ValidationMessage().Match(message);
        if (match.Success)
        {
            var setting = Setting.All.FirstOrDefault(s => s.Name == match.Groups["name"].Value);
            if (setting is not null)
            {
                var value = match.Groups["value"].Value;
                if (value.Length >= 2 && value[0] == '\'' && value[^1] == '\'')
                    value = value[1..^1];
                var origin = sources.TryGetValue(setting, out var source) ? Origin(setting, source) : $"{setting.Flag} (default)";
                return $"invalid value '{value}' for {origin}: expected {match.Groups["allowed"].Value}";
            }
        }
        return FirstLine(message);
    }

    private static string Origin(Setting setting, string source) => source switch
    {
        AppSettingsFileName => $"{SectionName}:{setting.ConfigurationKey} in {AppSettingsFileName}",
        _ when source.StartsWith("env ", StringComparison.Ordinal) => source[4..],
        _ => setting.Flag,
    };

    private static string FirstLine(string text)
    {
        var end = text.IndexOfAny(['\r', '\n']);
        return end < 0 ? text : text[..end];
    }

    [GeneratedRegex(@"^Invalid Pounce setting (?<name>\w+) = (?<value>.*): expected (?<allowed>.*?)\.?$", RegexOptions.Singleline)]
    private static partial Regex ValidationMessage();
}

/// <summary>A setting has a bad value; the message is one line, without the <c>pounce:</c> prefix.</summary>
internal sealed class SettingsException(string message) : Exception(message);

/// <summary>A value given on the command line, and the flag that gave it (<c>--date-header</c> or <c>--no-date-header</c>).</summary>
internal readonly record struct FlagValue(string Text, string Flag);
