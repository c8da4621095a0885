using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Pounce.Cli.Logs.Views;

/// <summary><c>pounce logs reuse</c>: how well keep-alive works, as requests served per connection.</summary>
internal static class ReuseView
{
    private static readonly (long Low, long High)[] Buckets =
        [(0, 0), (1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, 1000), (1001, long.MaxValue)];

    private static string Label((long Low, long High) b)
        => b.Low == b.High ? b.Low.ToString(CultureInfo.InvariantCulture)
            : b.High == long.MaxValue ? $"{b.Low}+" : $"{b.Low}-{b.High}";

    public static void Render(IAnsiConsole console, LogStats s)
    {
        Sections.Header(console, s, "pounce logs reuse");
        var h = s.Connections.RequestsPerConnection;
        console.WriteLine(h.Count == 0 ? "no ConnectionCompleted events"
            : $"{Cells.Count(h.Count)} connections served {Cells.Count(h.Sum)} requests: {h.Mean:0.00} per connection (p50 {h.Percentile(0.5)}, p90 {h.Percentile(0.9)}, p99 {h.Percentile(0.99)}, max {h.Max})");
        console.WriteLine();
        var table = Cells.Table("requests served per connection", ">requests", ">connections", ">share", "");
        var counts = Buckets.Select(b => h.CountBetween(b.Low, b.High)).ToList();
        var max = counts.Count == 0 ? 0 : counts.Max();
        for (var i = 0; i < Buckets.Length; i++)
            Cells.Row(table, Label(Buckets[i]), Cells.Count(counts[i]), Cells.Percent(counts[i], h.Count), Cells.Bar(counts[i], max, "blue"));
        console.Write(table);
    }

    public static void WriteJson(Utf8JsonWriter w, LogStats s)
    {
        var h = s.Connections.RequestsPerConnection;
        w.WriteStartObject();
        w.WriteString("view", "reuse");
        JsonOut.WriteInput(w, s);
        w.WriteNumber("connections", h.Count);
        w.WriteNumber("requests", h.Sum);
        w.WriteNumber("mean", Math.Round(h.Mean, 3));
        w.WriteNumber("p50", h.Percentile(0.5));
        w.WriteNumber("p90", h.Percentile(0.9));
        w.WriteNumber("max", h.Max);
        w.WriteStartArray("buckets");
        foreach (var b in Buckets)
        {
            w.WriteStartObject();
            w.WriteString("requests", Label(b));
            w.WriteNumber("connections", h.CountBetween(b.Low, b.High));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
