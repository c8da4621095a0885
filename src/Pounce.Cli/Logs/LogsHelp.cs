using System.Text;

namespace Pounce.Cli.Logs;

/// <summary>The <c>pounce logs --help</c> page.</summary>
internal static class LogsHelp
{
    public static string Text()
    {
        var sb = new StringBuilder();
        sb.Append("""
            Usage: pounce logs [VIEW] [FILE...] [OPTIONS]

            Answer an operator's questions from a Pounce log: JSON lines or the text format, of any Pounce
            version, mixed if need be; .gz files are read as they are; standard input when no FILE is given.
            A line that is not a Pounce log line is counted and skipped (its file and line number on standard
            error), never fatal. Requests are counted from the lifecycle events when the log has RequestStarted
            (--lifecycle-logging --log-level debug), else from the access log (a line per request at any level).

            Views:

            """.Replace("\r\n", "\n", StringComparison.Ordinal));
        foreach (var view in LogView.All)
            sb.Append("  ").Append((view.Name + (view == LogView.Trace ? " ID" : "")).PadRight(16)).Append(view.Description).Append('\n');
        sb.Append("""

            Options:
              --json              machine output: one JSON document (with --follow: one per line, per update)
              --since TIME        leave out lines before TIME: ISO 8601 (UTC unless an offset is given), or a
                                  duration ago: 90s, 15m, 2h, 1d
              --until TIME        leave out lines after TIME
              --path PATH         only requests to PATH; a trailing * matches a prefix ('/api/*')
              --threshold SECONDS slow: at least this slow (default: the server's slow flag; 5 s for access lines)
              --top N             slow: how many of the slowest requests to list (default 20)
              -f, --follow        keep reading FILE as it grows, following it when it is rotated, and update
                                  the view every second; Ctrl-C ends
              -h, --help          show this help

            Examples:
              pounce logs app.log                      # the summary
              pounce logs slow --threshold 0.5 app.log app.log.1.gz
              pounce logs trace 42 app.log             # connection 42, from accept to close
              pounce logs trace 42-3 app.log           # its third request, with the app's own lines
              pounce logs disconnects --since 1h app.log
              pounce logs --follow app.log             # a live summary

            """.Replace("\r\n", "\n", StringComparison.Ordinal));
        return sb.ToString();
    }
}
