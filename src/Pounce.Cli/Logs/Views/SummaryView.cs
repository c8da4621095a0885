using System.Text.Json;
using Spectre.Console;

namespace Pounce.Cli.Logs.Views;

/// <summary><c>pounce logs summary</c>: the whole log at a glance.</summary>
internal static class SummaryView
{
    private static readonly string[] ClassNames = ["other", "1xx", "2xx", "3xx", "4xx", "5xx"];

    public static void Render(IAnsiConsole console, LogStats s)
    {
        Sections.Header(console, s, "pounce logs summary");
        var r = s.Requests;
        var c = s.Connections;

        var requests = Cells.Table($"requests (from the {s.RequestSource})", "status", ">requests", ">share", "");
        var max = r.StatusClasses.Max();
        for (var i = 1; i <= 6; i++)
        {
            var k = i % 6;
            if (r.StatusClasses[k] > 0 || (k is 2 or 4 or 5))
                Cells.Row(requests, ClassNames[k], Cells.Count(r.StatusClasses[k]), Cells.Percent(r.StatusClasses[k], r.Requests), Cells.Bar(r.StatusClasses[k], max, k == 5 ? "red" : k == 4 ? "yellow" : "green"));
        }
        Cells.Row(requests, "total", Cells.Count(r.Requests), "", "");
        console.Write(requests);

        var facts = Cells.Table("requests", "", ">count", ">share");
        var slow = s.SlowRequests;
        Cells.Row(facts, slow.SlowThresholdMicros >= 0 ? $"slow (>= {Cells.Duration(slow.SlowThresholdMicros)})" : "slow (flagged by the server)", Cells.Count(slow.Slow), Cells.Percent(slow.Slow, r.Requests));
        Cells.Row(facts, "client disconnects", Cells.Count(r.Disconnects), Cells.Percent(r.Disconnects, r.Requests));
        Cells.Row(facts, "  during streaming", Cells.Count(r.DisconnectsDuringStreaming), Cells.Percent(r.DisconnectsDuringStreaming, r.Requests));
        Cells.Row(facts, "cut short by the server", Cells.Count(r.Aborted), Cells.Percent(r.Aborted, r.Requests));
        foreach (var (id, n) in JsonOut.ByCount(r.ByVersion, r.Versions.Name))
            Cells.Row(facts, "HTTP/" + r.Versions.Name(id), Cells.Count(n), Cells.Percent(n, r.Requests));
        console.Write(facts);

        console.Write(Sections.Latency(r, 5));

        var connections = Cells.Table("connections", "", ">count", ">share");
        Cells.Row(connections, "opened", Cells.Count(c.Opened), "");
        Cells.Row(connections, "completed", Cells.Count(c.Completed), "");
        Cells.Row(connections, "  over TLS", Cells.Count(c.Tls), Cells.Percent(c.Tls, c.Opened));
        foreach (var (id, n) in JsonOut.ByCount(c.ByProtocol, c.Protocols.Name))
            Cells.Row(connections, "  ended as " + c.Protocols.Name(id), Cells.Count(n), Cells.Percent(n, c.Completed));
        var rpc = c.RequestsPerConnection;
        Cells.Row(connections, "requests per connection (mean / p50 / p90 / max)",
            rpc.Count == 0 ? "-" : $"{rpc.Mean:0.00} / {rpc.Percentile(0.5)} / {rpc.Percentile(0.9)} / {rpc.Max}", "");
        console.Write(connections);

        console.Write(Sections.Reasons(s, 10));
    }

    public static void WriteJson(Utf8JsonWriter w, LogStats s)
    {
        var r = s.Requests;
        var c = s.Connections;
        w.WriteStartObject();
        w.WriteString("view", "summary");
        JsonOut.WriteInput(w, s);
        w.WriteStartObject("requests");
        w.WriteNumber("total", r.Requests);
        w.WriteStartObject("status_classes");
        for (var k = 0; k < 6; k++)
            w.WriteNumber(ClassNames[k], r.StatusClasses[k]);
        w.WriteEndObject();
        w.WriteNumber("slow", s.SlowRequests.Slow);
        w.WriteNumber("slow_threshold_ms", s.SlowRequests.SlowThresholdMicros >= 0 ? Cells.Ms(s.SlowRequests.SlowThresholdMicros) : -1);
        w.WriteNumber("disconnects", r.Disconnects);
        w.WriteNumber("disconnects_during_streaming", r.DisconnectsDuringStreaming);
        w.WriteNumber("aborted", r.Aborted);
        w.WriteNumber("bytes_sent", r.BytesSent);
        JsonOut.WriteCounts(w, "http_versions", r.ByVersion, r.Versions.Name);
        JsonOut.WriteLatency(w, "latency", r.Latency);
        w.WriteStartArray("slowest_paths");
        foreach (var (path, h) in Sections.SlowestPaths(r, 5))
        {
            w.WriteStartObject();
            w.WriteString("path", path);
            JsonOut.WriteLatencyFields(w, h);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteStartObject("connections");
        w.WriteNumber("opened", c.Opened);
        w.WriteNumber("completed", c.Completed);
        w.WriteNumber("tls", c.Tls);
        w.WriteNumber("upgraded", c.Upgraded);
        JsonOut.WriteCounts(w, "protocols", c.ByProtocol, c.Protocols.Name);
        w.WriteNumber("requests_per_connection_mean", Math.Round(c.RequestsPerConnection.Mean, 3));
        w.WriteEndObject();
        ReasonsView.WriteReasons(w, s);
        w.WriteEndObject();
    }
}
