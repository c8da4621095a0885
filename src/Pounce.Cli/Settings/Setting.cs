using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Pounce.Cli.Settings;

/// <summary>
/// One setting the command understands: a <see cref="ServerConfig"/> property (or <c>--urls</c>), with the names it
/// goes by on the command line (<c>--kebab-case</c>), in the environment (<c>POUNCE_UPPER_SNAKE</c>) and in
/// appsettings.json (section <c>Pounce</c>, key = property name), and how its text is parsed.
/// </summary>
internal sealed class Setting
{
    private readonly PropertyInfo? _property;

    private Setting(string name, Type valueType, PropertyInfo? property, SettingDoc doc)
    {
        Name = name;
        ValueType = valueType;
        _property = property;
        Doc = doc;
        var kebab = doc.FlagName ?? ToKebab(name);
        Flag = "--" + kebab;
        EnvironmentVariable = "POUNCE_" + kebab.Replace('-', '_').ToUpperInvariant();
        ConfigurationKey = name;
    }

    /// <summary>The <see cref="ServerConfig"/> property name (or <c>Urls</c>).</summary>
    public string Name { get; }

    /// <summary>The property's type.</summary>
    public Type ValueType { get; }

    /// <summary>Help group, description and value name.</summary>
    public SettingDoc Doc { get; }

    /// <summary>The command-line flag, e.g. <c>--max-connections</c>.</summary>
    public string Flag { get; }

    /// <summary>For a boolean setting, the flag that turns it off, e.g. <c>--no-access-log</c>.</summary>
    public string? NegatedFlag => IsSwitch ? "--no-" + Flag[2..] : null;

    /// <summary>The environment variable, e.g. <c>POUNCE_MAX_CONNECTIONS</c>.</summary>
    public string EnvironmentVariable { get; }

    /// <summary>The key in the <c>Pounce</c> configuration section, e.g. <c>MaxConnections</c>.</summary>
    public string ConfigurationKey { get; }

    /// <summary>True for a boolean setting, given on the command line as a switch.</summary>
    public bool IsSwitch => ValueType == typeof(bool);

    /// <summary>True for a setting that is a <see cref="ServerConfig"/> property (all but <c>--urls</c>).</summary>
    public bool IsServerConfig => _property is not null;

    /// <summary>What a value must look like, for error messages.</summary>
    public string Expected => Doc.Expected ?? DefaultExpected(ValueType);

    /// <summary>Every setting: each public settable <see cref="ServerConfig"/> property, then <c>--urls</c>.</summary>
    public static IReadOnlyList<Setting> All { get; } = Discover();

    /// <summary>The <c>--urls</c> setting, which is not part of <see cref="ServerConfig"/>.</summary>
    public static Setting Urls => All[^1];

    private static List<Setting> Discover()
    {
        var settings = new List<Setting>();
        foreach (var property in typeof(ServerConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (!property.CanRead || property.SetMethod is not { IsPublic: true })
                continue;
            if (property.PropertyType == typeof(System.Security.Cryptography.X509Certificates.X509Certificate2))
                continue; // ServerCertificate: given in code only; the command takes --ssl-certfile.
            if (typeof(Delegate).IsAssignableFrom(property.PropertyType))
                continue; // ClientCertificateValidation: code only.
            var doc = SettingDoc.For(property.Name);
            settings.Add(new Setting(property.Name, property.PropertyType, property, doc));
        }
        settings.Add(new Setting("Urls", typeof(string), null, SettingDoc.For("Urls")));
        return settings;
    }

    /// <summary>Reads this setting from a config object (<c>Urls</c> is not kept there and reads as null).</summary>
    public object? GetValue(ServerConfig config) => _property?.GetValue(config);

    /// <summary>Writes this setting to a config object.</summary>
    public void SetValue(ServerConfig config, object? value) => _property?.SetValue(config, value);

    /// <summary>Parses a value given as text; false with nothing set when it is not a valid value.</summary>
    public bool TryParse(string text, out object? value)
    {
        value = null;
        var type = Nullable.GetUnderlyingType(ValueType) ?? ValueType;
        var trimmed = text.Trim();
        if (type == typeof(string))
        {
            if (!IsServerConfig && !AreUrls(text))
                return false;
            value = text;
            return true;
        }
        if (type == typeof(int))
        {
            if (!int.TryParse(trimmed, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i))
                return false;
            if ((Doc.Min is { } min && i < min) || (Doc.Max is { } max && i > max))
                return false;
            value = i;
            return true;
        }
        if (type == typeof(long))
        {
            if (!long.TryParse(trimmed, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l))
                return false;
            value = l;
            return true;
        }
        if (type == typeof(double))
        {
            if (!TryParseSeconds(trimmed, out var d))
                return false;
            value = d;
            return true;
        }
        if (type == typeof(TimeSpan))
        {
            if (!TryParseSeconds(trimmed, out var seconds) || Math.Abs(seconds) > TimeSpan.MaxValue.TotalSeconds / 2)
                return false;
            value = TimeSpan.FromSeconds(seconds);
            return true;
        }
        if (type == typeof(bool))
        {
            switch (trimmed.ToLowerInvariant())
            {
                case "true" or "1" or "yes" or "on":
                    value = true;
                    return true;
                case "false" or "0" or "no" or "off":
                    value = false;
                    return true;
                default:
                    return false;
            }
        }
        if (type == typeof(LogFormat))
        {
            switch (trimmed.ToLowerInvariant())
            {
                case "text":
                    value = LogFormat.Text;
                    return true;
                case "json":
                    value = LogFormat.Json;
                    return true;
                default:
                    return false;
            }
        }
        if (type == typeof(LogLevel))
        {
            // The five documented names, plus the Microsoft.Extensions.Logging spellings people write in appsettings.json.
            LogLevel? level = trimmed.ToLowerInvariant() switch
            {
                "trace" => LogLevel.Trace,
                "debug" => LogLevel.Debug,
                "info" or "information" => LogLevel.Information,
                "warning" or "warn" => LogLevel.Warning,
                "error" => LogLevel.Error,
                "critical" => LogLevel.Critical,
                _ => null,
            };
            value = level;
            return level is not null;
        }
        // A setting of a type added to ServerConfig after this was written: its type converter decides.
        var converter = TypeDescriptor.GetConverter(type);
        if (!converter.CanConvertFrom(typeof(string)))
            return false;
        try
        {
            value = converter.ConvertFromInvariantString(trimmed);
            return true;
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>URLs as Kestrel users write them: <c>scheme://host:port</c>, separated by ';'.</summary>
    private static bool AreUrls(string text)
    {
        foreach (var url in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
            if (schemeEnd <= 0 || url.Length == schemeEnd + 3)
                return false;
            var scheme = url[..schemeEnd];
            if (!scheme.Equals("http", StringComparison.OrdinalIgnoreCase) && !scheme.Equals("https", StringComparison.OrdinalIgnoreCase))
                return false;
        }
        return true;
    }

    private static bool TryParseSeconds(string text, out double seconds)
    {
        if (text.EndsWith('s') && !text.EndsWith("ms", StringComparison.Ordinal))
            text = text[..^1];
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out seconds)
            && double.IsFinite(seconds);
    }

    /// <summary>Shows a value the way it is written on the command line.</summary>
    public static string Format(object? value) => value switch
    {
        null => "(none)",
        string s when s.Length == 0 => "\"\"",
        string s => s,
        bool b => b ? "true" : "false",
        TimeSpan t => t.TotalSeconds.ToString("0.######", CultureInfo.InvariantCulture),
        double d => d.ToString("0.######", CultureInfo.InvariantCulture),
        LogFormat f => f.ToString().ToLowerInvariant(),
        LogLevel l => l switch
        {
            LogLevel.Information => "info",
            _ => l.ToString().ToLowerInvariant(),
        },
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string DefaultExpected(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(int) || type == typeof(long))
            return "an integer";
        if (type == typeof(double) || type == typeof(TimeSpan))
            return "a number of seconds (decimals allowed)";
        if (type == typeof(bool))
            return "true or false";
        if (type == typeof(LogFormat))
            return "text or json";
        if (type == typeof(LogLevel))
            return "debug, info, warning, error or critical";
        if (type.IsEnum)
            return "one of " + string.Join(", ", Enum.GetNames(type)).ToLowerInvariant();
        return "a " + type.Name;
    }

    /// <summary><c>MaxRequestLineSize</c> → <c>max-request-line-size</c>.</summary>
    public static string ToKebab(string pascal)
    {
        var sb = new StringBuilder(pascal.Length + 8);
        for (var i = 0; i < pascal.Length; i++)
        {
            var c = pascal[i];
            if (char.IsUpper(c))
            {
                // A new word starts at an upper-case letter after a lower-case one, or before a lower-case one in a run of capitals.
                var newWord = i > 0 && (char.IsLower(pascal[i - 1]) || char.IsDigit(pascal[i - 1])
                    || (i + 1 < pascal.Length && char.IsLower(pascal[i + 1]) && char.IsUpper(pascal[i - 1])));
                if (newWord)
                    sb.Append('-');
                sb.Append(char.ToLowerInvariant(c));
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }
}
