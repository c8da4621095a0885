using System.CommandLine;
using Pounce.Cli.Settings;

namespace Pounce.Cli.Commands;

/// <summary><c>pounce config show [APP]</c>: the effective value of every setting and where it came from.</summary>
internal static class ConfigShowCommand
{
    public static int Run(PounceCommand command, ParseResult result)
    {
        try
        {
            var flags = command.Flags(result);
            var appPath = ServeCommand.ResolveAppPath(command.AppPath(result));
            var workingDirectory = Directory.GetCurrentDirectory();
            var settings = EffectiveSettings.Resolve(
                flags,
                appPath is null ? workingDirectory : Path.GetDirectoryName(appPath)!,
                Environment.GetEnvironmentVariable,
                workingDirectory);
            Console.Out.Write(Render(settings, BindingPlan.Describe(settings, Environment.GetEnvironmentVariable)));
            return ExitCodes.Ok;
        }
        catch (SettingsException e)
        {
            Console.Error.WriteLine("pounce: " + e.Message);
            return ExitCodes.Usage;
        }
    }

    /// <summary>
    /// What the run binds (<c># binds:</c> lines, with where each address comes from: <c>--urls</c>, endpoints,
    /// <c>ASPNETCORE_URLS</c>, <c>ASPNETCORE_HTTP_PORTS</c>, the default), then one line per setting: flag, value,
    /// source. Sources: <c>default</c>, <c>appsettings.json</c>, <c>env POUNCE_X</c> / <c>env Pounce__X</c>, <c>flag --x</c>.
    /// </summary>
    public static string Render(EffectiveSettings settings, IReadOnlyList<(string Url, string Source)>? binds = null)
    {
        var rows = Ordered().Select(s => (s.Flag, Value: Quote(settings.FormattedValueOf(s)), Source: settings.SourceOf(s))).ToList();
        var flagWidth = rows.Max(r => r.Flag.Length) + 2;
        var valueWidth = Math.Min(40, rows.Max(r => r.Value.Length)) + 2;
        var w = new StringWriter { NewLine = "\n" };
        w.WriteLine($"# appsettings.json: {settings.AppSettingsPath} ({(settings.AppSettingsFound ? "found" : "not found")})");
        w.WriteLine("# precedence: default < appsettings.json (section Pounce) < env (Pounce__X, then POUNCE_X) < flag");
        foreach (var (url, source) in binds ?? [])
            w.WriteLine($"# binds: {url}  <- {source}");
        w.WriteLine("SETTING".PadRight(flagWidth) + "VALUE".PadRight(valueWidth) + "SOURCE");
        foreach (var (flag, value, source) in rows)
            w.WriteLine(flag.PadRight(flagWidth) + value.PadRight(valueWidth) + source);
        return w.ToString();
    }

    /// <summary>The settings in help order: by group, then as declared.</summary>
    public static IEnumerable<Setting> Ordered()
        => Setting.All.Select((s, i) => (s, i))
            .OrderBy(x => Array.IndexOf(SettingDoc.GroupOrder, x.s.Doc.Group))
            .ThenBy(x => x.s == Setting.Urls ? -1 : x.i)
            .Select(x => x.s);

    private static string Quote(string value)
        => value.Any(char.IsWhiteSpace) ? "\"" + value.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"" : value;
}
