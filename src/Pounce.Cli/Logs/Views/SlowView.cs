using System.Text.Json;
using Spectre.Console;

namespace Pounce.Cli.Logs.Views;

/// <summary><c>pounce logs slow</c>: how many requests were slow, on which paths, and the slowest of them.</summary>
internal static class SlowView
{
    public static void Render(IAnsiConsole console, LogStats s)
    {
        Sections.Header(console, s, "pounce logs slow");
        var r = s.SlowRequests;
        var rule = r.SlowThresholdMicros >= 0 ? $"at least {Cells.Duration(r.SlowThresholdMicros)}" : "flagged slow by the server";
        console.WriteLine($"{Cells.Count(r.Slow)} of {Cells.Count(r.Requests)} requests slow ({rule}; from the {s.RequestSource})");
        console.WriteLine();

        var byPath = Cells.Table("slow requests by path", "path", ">slow", ">of requests", ">p99", "");
        var paths = Sections.PathsBy(r, Slow);
        var max = paths.Count == 0 ? 0 : paths[0].Counters.Slow;
        foreach (var (name, counters) in paths.Take(20))
            Cells.Row(byPath, name, Cells.Count(counters.Slow), Cells.Count(counters.Requests), Cells.Duration(counters.Latency?.Percentile(0.99) ?? -1), Cells.Bar(counters.Slow, max, "yellow"));
        console.Write(byPath);

        var slowest = Cells.Table($"the {Math.Min(s.Query.Top, r.Slowest().Count)} slowest", "time", "request", ">worker", "method", "path", ">status", ">duration");
        foreach (var q in r.Slowest())
            Cells.Row(slowest, Timestamps.Format(q.Timestamp), q.RequestId, q.WorkerId < 0 ? "-" : q.WorkerId.ToString(System.Globalization.CultureInfo.InvariantCulture), q.Method, q.Path, q.Disconnected ? "gone" : q.Status.ToString(System.Globalization.CultureInfo.InvariantCulture), Cells.Duration(q.DurationMicros));
        console.Write(slowest);
    }

    private static long Slow(RequestStats.PathCounters counters) => counters.Slow;

    public static void WriteJson(Utf8JsonWriter w, LogStats s)
    {
        var r = s.SlowRequests;
        w.WriteStartObject();
        w.WriteString("view", "slow");
        JsonOut.WriteInput(w, s);
        w.WriteNumber("threshold_ms", r.SlowThresholdMicros >= 0 ? Cells.Ms(r.SlowThresholdMicros) : -1);
        w.WriteNumber("requests", r.Requests);
        w.WriteNumber("slow", r.Slow);
        JsonOut.WritePathCounts(w, Sections.PathsBy(r, Slow), "slow", Slow);
        w.WriteStartArray("slowest");
        foreach (var q in r.Slowest())
        {
            w.WriteStartObject();
            w.WriteString("timestamp", Timestamps.Format(q.Timestamp));
            w.WriteString("request_id", q.RequestId);
            w.WriteNumber("connection_id", q.ConnectionId);
            w.WriteNumber("worker_id", q.WorkerId);
            w.WriteString("method", q.Method);
            w.WriteString("path", q.Path);
            w.WriteNumber("status", q.Status);
            w.WriteBoolean("disconnected", q.Disconnected);
            w.WriteNumber("duration_ms", Cells.Ms(q.DurationMicros));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
