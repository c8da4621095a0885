using System.Text;
using Pounce.Cli.Demo;
using Pounce.Cli.Settings;

namespace Pounce.Cli.Commands;

/// <summary>The <c>--help</c> pages, generated from the settings so every flag is listed.</summary>
internal static class HelpText
{
    private const int Width = 100;
    private const int FlagColumn = 38;

    public static string Serve()
    {
        var sb = new StringBuilder();
        sb.Append("""
            Usage: pounce [serve] [APP] [OPTIONS] [-- APP-ARGS...]
                   pounce config show [APP] [OPTIONS]

            Serve an ASP.NET Core application on Pounce, an HTTP server for ASP.NET Core with structured
            connection lifecycle logging. APP is the path to an app's built .dll: its own Main runs unchanged,
            with Pounce as its server and these settings applied, from the app's directory (so its
            appsettings.json is found). Without APP, a built-in demo app is served.

            Commands:
              serve [APP]           serve APP, or the demo app (the default command: 'pounce APP' = 'pounce serve APP')
              config show [APP]     print the effective settings and where each came from
              logs [VIEW] [FILE...]  answer questions from a Pounce log (see 'pounce logs --help')

            Arguments:
              APP                   path to an ASP.NET Core app's built .dll, e.g. bin/Release/net10.0/MyApp.dll
              APP-ARGS              arguments for the app's Main; put them after '--'


            """.Replace("\r\n", "\n", StringComparison.Ordinal));

        var defaults = new ServerConfig();
        foreach (var group in SettingDoc.GroupOrder)
        {
            var settings = ConfigShowCommand.Ordered().Where(s => s.Doc.Group == group).ToList();
            if (settings.Count == 0)
                continue;
            sb.Append(group).Append(":\n");
            foreach (var setting in settings)
                AppendOption(sb, setting, defaults);
            sb.Append('\n');
        }

        sb.Append("""
            General:
              -h, --help                          show this help
              --version                           show the version

            Settings can also come from appsettings.json, section "Pounce", in the current directory (or
            APP's directory), with the setting's name as key ("MaxConnections": 5), and from environment
            variables POUNCE_<NAME> (POUNCE_MAX_CONNECTIONS=5, POUNCE_LOG_FORMAT=json, POUNCE_DATE_HEADER=false).
            Precedence, lowest first: default < appsettings.json < environment < command line. On/off
            switches take an optional value: --access-log false is --no-access-log.
            'pounce config show' prints what a run would use and where each value came from.

            Demo app endpoints (served when no APP is given):

            """.Replace("\r\n", "\n", StringComparison.Ordinal));
        sb.Append(DemoApp.Describe());
        sb.Append("""

            Examples:
              pounce --lifecycle-logging --log-format json --log-level debug
                  serve the demo app on http://127.0.0.1:8000, one JSON event per connection/request step
              pounce bin/Release/net10.0/MyApp.dll --port 8080 --workers 4
                  serve MyApp on port 8080 with 4 accept loops
              pounce serve MyApp.dll --urls "http://0.0.0.0:80;http://[::]:80" -- --seed-data
                  bind two addresses, and pass --seed-data to MyApp's Main
              pounce --lifecycle-logging --log-format json > app.log; jq 'select(.slow == true)' app.log
                  capture the log, then find the slow requests
              POUNCE_LOG_FORMAT=json pounce config show
                  see the effective settings and their sources

            Exit status: 0 after a clean shutdown; 1 if the server or the app failed; 2 for a bad flag,
            environment variable or appsettings.json value (one line on standard error says which).
            On SIGINT/SIGTERM, in-flight requests finish (up to --shutdown-timeout); a second signal exits at once.

            """.Replace("\r\n", "\n", StringComparison.Ordinal));
        return sb.ToString();
    }

    public static string ConfigShow() => """
        Usage: pounce config show [APP] [OPTIONS]

        Print the settings a run would use, one per line: flag, value, and where the value came from
        (default, appsettings.json, env POUNCE_<NAME>, flag --name). appsettings.json is read from APP's
        directory when APP is given, else from the current directory. Takes every option 'pounce serve'
        takes (see 'pounce --help'); a bad value exits with status 2 and one line on standard error.

        Examples:
          pounce config show
          POUNCE_LOG_FORMAT=json pounce config show --port 9000
          pounce config show bin/Release/net10.0/MyApp.dll

        """.Replace("\r\n", "\n", StringComparison.Ordinal);

    private static void AppendOption(StringBuilder sb, Setting setting, ServerConfig defaults)
    {
        var names = setting.IsSwitch
            ? $"{setting.Flag}, {setting.NegatedFlag}"
            : $"{setting.Flag} {setting.Doc.ValueName}";
        var shownDefault = setting.Name switch
        {
            nameof(ServerConfig.Workers) => $"number of CPUs ({defaults.Workers})",
            "Urls" => null,
            _ when setting.IsSwitch => (bool)setting.GetValue(defaults)! ? "on" : "off",
            _ when setting.GetValue(defaults) is null => null,
            _ => Setting.Format(setting.GetValue(defaults)),
        };
        var words = setting.Doc.Description.Split(' ').ToList();
        if (shownDefault is not null)
            words.Add($"[default: {shownDefault}]");

        var line = "  " + names;
        if (line.Length >= FlagColumn)
        {
            sb.Append(line).Append('\n');
            line = "";
        }
        var indent = new string(' ', FlagColumn);
        var current = new StringBuilder(line.PadRight(FlagColumn));
        foreach (var word in words)
        {
            if (current.Length + word.Length + 1 > Width && current.Length > FlagColumn)
            {
                sb.Append(current.ToString().TrimEnd()).Append('\n');
                current.Clear().Append(indent);
            }
            if (current.Length > FlagColumn)
                current.Append(' ');
            current.Append(word);
        }
        sb.Append(current.ToString().TrimEnd()).Append('\n');
    }
}
