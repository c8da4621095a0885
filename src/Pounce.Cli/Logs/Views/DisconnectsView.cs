using System.Text.Json;
using Spectre.Console;

namespace Pounce.Cli.Logs.Views;

/// <summary><c>pounce logs disconnects</c>: who hangs up early, by client address and by path.</summary>
internal static class DisconnectsView
{
    public static void Render(IAnsiConsole console, LogStats s)
    {
        Sections.Header(console, s, "pounce logs disconnects");
        var r = s.Requests;
        console.WriteLine($"{Cells.Count(r.Disconnects)} of {Cells.Count(r.Requests)} requests ended by the client going away ({Cells.Count(r.DisconnectsDuringStreaming)} while the response was streaming; from the {s.RequestSource})");
        console.WriteLine();
        var clients = JsonOut.ByCount(r.DisconnectsByClient.ToDictionary(kv => kv.Key, kv => kv.Value), r.Clients.Name);
        var table = Cells.Table("by client address", "client", ">disconnects", ">share", "");
        var max = clients.Count == 0 ? 0 : clients[0].Value;
        foreach (var (id, n) in clients.Take(20))
            Cells.Row(table, r.Clients.Name(id), Cells.Count(n), Cells.Percent(n, r.Disconnects), Cells.Bar(n, max, "orange1"));
        console.Write(table);

        var paths = Sections.PathsBy(r, Disconnects);
        table = Cells.Table("by path", "path", ">disconnects", ">of requests", ">rate", "");
        max = paths.Count == 0 ? 0 : paths[0].Counters.Disconnects;
        foreach (var (name, counters) in paths.Take(20))
            Cells.Row(table, name, Cells.Count(counters.Disconnects), Cells.Count(counters.Requests), Cells.Percent(counters.Disconnects, counters.Requests), Cells.Bar(counters.Disconnects, max, "orange1"));
        console.Write(table);
    }

    private static long Disconnects(RequestStats.PathCounters counters) => counters.Disconnects;

    public static void WriteJson(Utf8JsonWriter w, LogStats s)
    {
        var r = s.Requests;
        w.WriteStartObject();
        w.WriteString("view", "disconnects");
        JsonOut.WriteInput(w, s);
        w.WriteNumber("requests", r.Requests);
        w.WriteNumber("disconnects", r.Disconnects);
        w.WriteNumber("during_streaming", r.DisconnectsDuringStreaming);
        w.WriteStartArray("by_client");
        foreach (var (id, n) in JsonOut.ByCount(r.DisconnectsByClient.ToDictionary(kv => kv.Key, kv => kv.Value), r.Clients.Name))
        {
            w.WriteStartObject();
            w.WriteString("client_addr", r.Clients.Name(id));
            w.WriteNumber("count", n);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        JsonOut.WritePathCounts(w, Sections.PathsBy(r, Disconnects), "count", Disconnects);
        w.WriteEndObject();
    }
}
