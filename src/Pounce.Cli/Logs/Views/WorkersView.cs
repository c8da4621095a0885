using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Pounce.Cli.Logs.Views;

/// <summary><c>pounce logs workers</c>: how load spreads over the accept loops.</summary>
internal static class WorkersView
{
    private static List<long> Workers(LogStats s)
    {
        var ids = s.Connections.OpenedByWorker.Keys.Union(s.Requests.RequestsByWorker.Keys).ToList();
        ids.Sort();
        return ids;
    }

    private static string Name(long id) => id < 0 ? "(other)" : id.ToString(CultureInfo.InvariantCulture);

    public static void Render(IAnsiConsole console, LogStats s)
    {
        Sections.Header(console, s, "pounce logs workers");
        var r = s.Requests;
        var c = s.Connections;
        var table = Cells.Table($"load per worker (requests from the {s.RequestSource})", ">worker", ">connections", ">requests", ">share", ">disconnects", ">bytes sent", "");
        var ids = Workers(s);
        var max = ids.Count == 0 ? 0 : ids.Max(id => r.RequestsByWorker.GetValueOrDefault(id));
        foreach (var id in ids)
        {
            var n = r.RequestsByWorker.GetValueOrDefault(id);
            Cells.Row(table, Name(id), Cells.Count(c.OpenedByWorker.GetValueOrDefault(id)), Cells.Count(n), Cells.Percent(n, r.Requests),
                Cells.Count(r.DisconnectsByWorker.GetValueOrDefault(id)), Cells.Count(r.BytesByWorker.GetValueOrDefault(id)), Cells.Bar(n, max));
        }
        console.Write(table);
        if (ids.Count > 1)
        {
            var counts = ids.Select(id => r.RequestsByWorker.GetValueOrDefault(id)).ToList();
            var mean = counts.Average();
            console.WriteLine($"busiest worker: {counts.Max() / Math.Max(mean, 1):0.00} x the mean; idlest: {counts.Min() / Math.Max(mean, 1):0.00} x");
        }
    }

    public static void WriteJson(Utf8JsonWriter w, LogStats s)
    {
        var r = s.Requests;
        var c = s.Connections;
        w.WriteStartObject();
        w.WriteString("view", "workers");
        JsonOut.WriteInput(w, s);
        w.WriteStartArray("workers");
        foreach (var id in Workers(s))
        {
            w.WriteStartObject();
            w.WriteNumber("worker_id", id);
            w.WriteNumber("connections", c.OpenedByWorker.GetValueOrDefault(id));
            w.WriteNumber("requests", r.RequestsByWorker.GetValueOrDefault(id));
            w.WriteNumber("disconnects", r.DisconnectsByWorker.GetValueOrDefault(id));
            w.WriteNumber("bytes_sent", r.BytesByWorker.GetValueOrDefault(id));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
