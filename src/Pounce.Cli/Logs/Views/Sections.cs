using Spectre.Console;

namespace Pounce.Cli.Logs.Views;

/// <summary>The tables that more than one view shows.</summary>
internal static class Sections
{
    /// <summary>One line about the input: files, lines, malformed ones, the time span.</summary>
    public static void Header(IAnsiConsole console, LogStats s, string what)
    {
        var grid = new Grid().AddColumn().AddColumn();
        grid.AddRow(new Markup("[bold]" + Markup.Escape(what) + "[/]"), new Text(string.Join(", ", s.Sources)));
        var lines = $"{Cells.Count(s.Lines)} ({Cells.Count(s.JsonLines)} JSON, {Cells.Count(s.TextLines)} text, {Cells.Count(s.Malformed)} malformed";
        if (s.FilteredOut > 0)
            lines += $", {Cells.Count(s.FilteredOut)} filtered out";
        lines += ")";
        grid.AddRow(new Text("lines"), new Text(lines));
        if (s.Malformed > 0)
            grid.AddRow(new Text("malformed at"), new Text(string.Join(", ", s.MalformedAt) + (s.Malformed > s.MalformedAt.Count ? ", ..." : "")));
        if (s.DroppedReported > 0)
            grid.AddRow(new Text("dropped"), new Markup($"[yellow]{Cells.Count(s.DroppedReported)} lines dropped by the writer (LogLinesDropped)[/]"));
        grid.AddRow(new Text("time span"), new Text(s.First == 0 ? "-" : $"{Timestamps.Format(s.First)} .. {Timestamps.Format(s.Last)} ({Cells.Span(s.Last - s.First)})"));
        console.Write(grid);
        console.WriteLine();
    }

    /// <summary>Close reasons with their details, with bars.</summary>
    public static Table Reasons(LogStats s, int limit)
    {
        var c = s.Connections;
        var table = Cells.Table("why connections ended", "reason", "detail", ">connections", ">share", "");
        var rows = JsonOut.ByCount(c.ByReason, c.Reasons.Name);
        var max = rows.Count == 0 ? 0 : rows[0].Value;
        foreach (var (id, n) in rows.Take(limit))
        {
            var (reason, detail) = Split(c.Reasons.Name(id));
            Cells.Row(table, reason, detail.Length == 0 ? "-" : detail, Cells.Count(n), Cells.Percent(n, c.Completed), Cells.Bar(n, max, ReasonColor(reason)));
        }
        if (rows.Count > limit)
            Cells.Row(table, $"({rows.Count - limit} more)", "", Cells.Count(rows.Skip(limit).Sum(r => r.Value)), "", "");
        return table;
    }

    public static (string Reason, string Detail) Split(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (key, "") : (key[..slash], key[(slash + 1)..]);
    }

    private static string ReasonColor(string reason) => reason switch
    {
        "complete" => "green",
        "timeout" => "yellow",
        "client_disconnect" => "orange1",
        "error" => "red",
        "backpressure" => "magenta",
        _ => "blue",
    };

    /// <summary>Latency percentiles of all requests and of the slowest paths (by p99).</summary>
    public static Table Latency(RequestStats r, int paths)
    {
        var table = Cells.Table("latency", "path", ">requests", ">p50", ">p90", ">p99", ">max");
        AddLatencyRow(table, "(all)", r.Latency);
        foreach (var (name, h) in SlowestPaths(r, paths))
            AddLatencyRow(table, name, h);
        return table;
    }

    private static void AddLatencyRow(Table table, string name, LatencyHistogram h)
        => Cells.Row(table, name, Cells.Count(h.Count), Cells.Duration(h.Percentile(0.5)), Cells.Duration(h.Percentile(0.9)),
            Cells.Duration(h.Percentile(0.99)), Cells.Duration(h.Max));

    /// <summary>The paths (and the "(other)" bucket) where <paramref name="count"/> is above zero, highest count first,
    /// then by path.</summary>
    public static List<(string Path, RequestStats.PathCounters Counters)> PathsBy(RequestStats r, Func<RequestStats.PathCounters, long> count)
    {
        var list = new List<(string, RequestStats.PathCounters)>();
        for (var i = 0; i < r.PerPath.Count; i++)
        {
            if (count(r.PerPath[i]) > 0)
                list.Add((r.Paths.Name(i), r.PerPath[i]));
        }
        if (count(r.Other) > 0)
            list.Add(("(other)", r.Other));
        list.Sort((a, b) =>
        {
            var c = count(b.Item2).CompareTo(count(a.Item2));
            return c != 0 ? c : string.CompareOrdinal(a.Item1, b.Item1);
        });
        return list;
    }

    /// <summary>The paths with the highest p99 (those with a histogram), slowest first.</summary>
    public static List<(string Path, LatencyHistogram Latency)> SlowestPaths(RequestStats r, int count)
    {
        var list = new List<(string, LatencyHistogram)>();
        for (var i = 0; i < r.PerPath.Count; i++)
        {
            if (r.PerPath[i].Latency is { Count: > 0 } h)
                list.Add((r.Paths.Name(i), h));
        }
        list.Sort((a, b) =>
        {
            var c = b.Item2.Percentile(0.99).CompareTo(a.Item2.Percentile(0.99));
            return c != 0 ? c : string.CompareOrdinal(a.Item1, b.Item1);
        });
        return list.Count > count ? list[..count] : list;
    }
}
