using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Pounce.Cli.Logs;

/// <summary>
/// <c>pounce logs [VIEW] [FILE...]</c>: answers an operator's questions from a Pounce log (JSON lines or the text
/// format, any Pounce version; <c>.gz</c> files read as they are; standard input when no FILE is given).
/// </summary>
internal sealed class LogsCommand
{
    private readonly Option<bool> _json = new("--json") { Description = "machine output: one JSON document (with --follow, one per line per update)", Recursive = true };
    private readonly Option<string> _since = new("--since") { HelpName = "TIME", Description = "leave out lines before TIME: ISO 8601 (UTC unless an offset is given) or a duration ago: 90s, 15m, 2h, 1d", Recursive = true };
    private readonly Option<string> _until = new("--until") { HelpName = "TIME", Description = "leave out lines after TIME (same forms as --since)", Recursive = true };
    private readonly Option<string> _path = new("--path") { HelpName = "PATH", Description = "only requests to PATH (a trailing * matches a prefix: --path '/api/*')", Recursive = true };
    private readonly Option<bool> _follow = new("--follow", "-f") { Description = "keep reading FILE as it grows (tail -F: a rotated file is followed), updating the view every second; Ctrl-C ends", Recursive = true };
    private readonly Option<string> _threshold = new("--threshold") { HelpName = "SECONDS", Description = "a request at least this slow is slow (default: the slow flag the server wrote; 5 s for access lines)", Recursive = true };
    private readonly Option<int> _top = new("--top") { HelpName = "N", Description = "how many of the slowest requests to list (default 20)", DefaultValueFactory = _ => 20, Recursive = true };

    public LogsCommand()
    {
        Command = new Command("logs", "Answer questions from a Pounce log: summary (default), slow, trace ID, disconnects, workers, reuse, reasons.");
        foreach (var option in new Option[] { _json, _since, _until, _path, _follow, _threshold, _top })
            Command.Add(option);
        AddView(Command, LogView.Summary, withId: false);
        foreach (var view in LogView.All)
        {
            var sub = new Command(view.Name, view.Description);
            AddView(sub, view, withId: view == LogView.Trace);
            Command.Add(sub);
        }
    }

    /// <summary>The <c>logs</c> command, to add to the root.</summary>
    public Command Command { get; }

    private void AddView(Command command, LogView view, bool withId)
    {
        Argument<string>? id = null;
        if (withId)
        {
            id = new Argument<string>("ID") { Description = "a connection id (42), a request id (42-3) or a W3C trace id" };
            command.Add(id);
        }
        var files = new Argument<string[]>("FILE") { Arity = ArgumentArity.ZeroOrMore, Description = "log files (.gz too); standard input when none; - is standard input" };
        command.Add(files);
        command.SetAction((result, cancel) => RunAsync(view, result, result.GetValue(files) ?? [], id is null ? null : result.GetValue(id), cancel));
    }

    private async Task<int> RunAsync(LogView view, ParseResult result, string[] files, string? id, CancellationToken cancel)
    {
        var now = DateTime.UtcNow;
        long since = 0, until = 0, threshold = -1;
        if (result.GetValue(_since) is { } s && !Timestamps.TryParseBound(s, now, out since))
            return Usage($"invalid value '{s}' for --since: expected an ISO 8601 time or a duration such as 15m");
        if (result.GetValue(_until) is { } u && !Timestamps.TryParseBound(u, now, out until))
            return Usage($"invalid value '{u}' for --until: expected an ISO 8601 time or a duration such as 15m");
        if (result.GetValue(_threshold) is { } t)
        {
            if (!double.TryParse(t.TrimEnd('s'), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || !(seconds >= 0) || seconds > 1e6)
                return Usage($"invalid value '{t}' for --threshold: expected a number of seconds");
            threshold = (long)Math.Round(seconds * 1e6);
        }
        var top = result.GetValue(_top);
        if (top is < 0 or > 100_000)
            return Usage($"invalid value '{top}' for --top: expected 0 to 100000");
        var follow = result.GetValue(_follow);
        if (follow && files.Length > 1)
            return Usage("--follow reads one FILE");
        var json = result.GetValue(_json);
        var query = new LogQuery { Since = since, Until = until, Path = result.GetValue(_path), SlowThresholdMicros = threshold, Top = top, TraceId = id };
        var stats = new LogStats(query);
        var console = CreateConsole();

        if (follow && files.Length == 1 && files[0] != "-")
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;
                stop.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                var live = !json && !Console.IsOutputRedirected;
                await new LogFollower(files[0], stats, () =>
                {
                    if (live)
                        console.Clear(home: true);
                    Show(view, stats, json, console, indented: false);
                }).RunAsync(stop.Token);
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            return 0;
        }

        var wall = System.Diagnostics.Stopwatch.StartNew();
        var cpuBefore = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var ok = LogScan.ReadFiles(files, stats);
        if (Environment.GetEnvironmentVariable("POUNCE_LOGS_STATS") == "1")
        {
            // For the benchmark script: reading speed and what the read allocated (excluding the output).
            var seconds = wall.Elapsed.TotalSeconds;
            var cpuSeconds = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
            Console.Error.WriteLine(FormattableString.Invariant(
                $"pounce logs: read {stats.Bytes} bytes, {stats.Lines} lines in {seconds:0.000} s ({stats.Bytes / 1e6 / seconds:0} MB/s), CPU {cpuSeconds:0.000} s ({stats.Bytes / 1e6 / cpuSeconds:0} MB/s per CPU second), allocated {(GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / 1024} KiB, {GC.CollectionCount(0)} gen0 GCs"));
        }
        if (stats.Malformed > stats.MalformedAt.Count)
            Console.Error.WriteLine($"pounce logs: {stats.Malformed} malformed lines skipped in all");
        Show(view, stats, json, console, indented: true);
        return ok ? 0 : 1;
    }

    private static void Show(LogView view, LogStats stats, bool json, IAnsiConsole console, bool indented)
    {
        if (json)
        {
            using var stdout = Console.OpenStandardOutput();
            using (var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = indented, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
                view.WriteJson(w, stats);
            stdout.Write("\n"u8);
            stdout.Flush();
            return;
        }
        view.Render(console, stats);
        if (!indented)
            console.WriteLine();
    }

    private static IAnsiConsole CreateConsole()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        if (Console.IsOutputRedirected)
            console.Profile.Width = 110; // a stable layout for files and pipes
        return console;
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine("pounce logs: " + message);
        return 2;
    }
}
