using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Pounce.Hosting;

/// <summary>
/// The <c>pounce</c> command's environment spelling, <c>POUNCE_UPPER_SNAKE</c> (<c>POUNCE_SERVER_HEADER</c>,
/// <c>POUNCE_MAX_CONNECTIONS</c>, <c>POUNCE_SSL_CERTFILE</c>), read in library mode too, so one spelling works
/// everywhere (ASP.NET Core's own <c>Pounce__ServerHeader</c> works in both as well). Durations are seconds
/// (<c>5</c>, <c>2.5</c>, <c>5s</c>), as on the command line.
/// </summary>
internal static class PounceEnvironment
{
    /// <summary>The AppContext switch the <c>pounce</c> command sets, which reads <c>POUNCE_URLS</c> itself.</summary>
    public const string CommandSwitch = "Pounce.Command";

    /// <summary>
    /// Applies every <c>POUNCE_*</c> variable naming a <see cref="ServerConfig"/> setting; a bad value is an error naming
    /// it, and a <c>POUNCE_*</c> variable that names no setting is a warning naming it (a typo is never silently ignored).
    /// </summary>
    /// <param name="config">The settings to change.</param>
    /// <param name="environment">Reads a variable (default: the process environment).</param>
    /// <param name="names">Every variable name set (default: the process environment's), to find unknown ones.</param>
    public static void Apply(ServerConfig config, Func<string, string?>? environment = null, IEnumerable<string>? names = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        names ??= Environment.GetEnvironmentVariables().Keys.Cast<string>();
        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in typeof(ServerConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.SetMethod is not { IsPublic: true } || !IsSimple(property.PropertyType))
                continue;
            var name = VariableName(property.Name);
            known.Add(name);
            var text = environment(name);
            if (text is null)
                continue;
            try
            {
                property.SetValue(config, Parse(property.PropertyType, text));
            }
            catch (Exception ex) when (ex is FormatException or InvalidOperationException or ArgumentException or OverflowException)
            {
                throw new PounceConfigurationException($"Invalid value '{text}' for {name}: {ex.Message}", ex);
            }
        }
        foreach (var name in names)
        {
            if (!name.StartsWith("POUNCE_", StringComparison.Ordinal) || name.StartsWith("POUNCE__", StringComparison.Ordinal) || known.Contains(name))
                continue;
            if (name == "POUNCE_URLS" && AppContext.TryGetSwitch(CommandSwitch, out var command) && command)
                continue; // the pounce command reads it
            config.ConfigurationWarnings.Add(name == "POUNCE_URLS"
                ? "Environment variable POUNCE_URLS is read by the pounce command only and is ignored here: set ASPNETCORE_URLS (or urls) for the host."
                : $"Environment variable {name} names no Pounce setting and is ignored.");
        }
    }

    /// <summary><c>MaxConnections</c> → <c>POUNCE_MAX_CONNECTIONS</c>; <c>SslCertFile</c> → <c>POUNCE_SSL_CERTFILE</c> (uvicorn's flag names).</summary>
    public static string VariableName(string property) => property switch
    {
        nameof(ServerConfig.SslCertFile) => "POUNCE_SSL_CERTFILE",
        nameof(ServerConfig.SslKeyFile) => "POUNCE_SSL_KEYFILE",
        _ => "POUNCE_" + Snake(property),
    };

    private static string Snake(string pascal)
    {
        var sb = new System.Text.StringBuilder(pascal.Length + 8);
        for (var i = 0; i < pascal.Length; i++)
        {
            var c = pascal[i];
            if (char.IsUpper(c) && i > 0 && (char.IsLower(pascal[i - 1]) || char.IsDigit(pascal[i - 1])
                || (i + 1 < pascal.Length && char.IsLower(pascal[i + 1]) && char.IsUpper(pascal[i - 1]))))
            {
                sb.Append('_');
            }
            sb.Append(char.ToUpperInvariant(c));
        }
        return sb.ToString();
    }

    private static bool IsSimple(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(decimal);
    }

    private static object? Parse(Type type, string text)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        var trimmed = text.Trim();
        if (underlying == typeof(string))
            return text;
        if (underlying == typeof(TimeSpan) || underlying == typeof(double))
        {
            var number = trimmed.EndsWith('s') && !trimmed.EndsWith("ms", StringComparison.Ordinal) ? trimmed[..^1] : trimmed;
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || !double.IsFinite(seconds))
                throw new FormatException("expected a number of seconds");
            return underlying == typeof(double) ? seconds : TimeSpan.FromSeconds(seconds);
        }
        if (underlying == typeof(Microsoft.Extensions.Logging.LogLevel))
        {
            return trimmed.ToLowerInvariant() switch
            {
                "info" => Microsoft.Extensions.Logging.LogLevel.Information,
                "warn" => Microsoft.Extensions.Logging.LogLevel.Warning,
                _ => Enum.Parse<Microsoft.Extensions.Logging.LogLevel>(trimmed, ignoreCase: true),
            };
        }
        if (underlying == typeof(bool))
        {
            return trimmed.ToLowerInvariant() switch
            {
                "true" or "1" or "yes" or "on" => true,
                "false" or "0" or "no" or "off" => false,
                _ => throw new FormatException("expected true or false"),
            };
        }
        // Everything else as ASP.NET Core configuration would bind it.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new("v", trimmed)]).Build();
        return configuration.GetValue(underlying, "v");
    }
}
