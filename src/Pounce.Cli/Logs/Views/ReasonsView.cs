using System.Text.Json;
using Spectre.Console;

namespace Pounce.Cli.Logs.Views;

/// <summary><c>pounce logs reasons</c>: why connections ended, by <c>reason</c> and <c>detail</c>.</summary>
internal static class ReasonsView
{
    public static void Render(IAnsiConsole console, LogStats s)
    {
        Sections.Header(console, s, "pounce logs reasons");
        console.Write(Sections.Reasons(s, 100));
        console.WriteLine($"{Cells.Count(s.Connections.Completed)} connections completed");
    }

    public static void WriteJson(Utf8JsonWriter w, LogStats s)
    {
        w.WriteStartObject();
        w.WriteString("view", "reasons");
        JsonOut.WriteInput(w, s);
        w.WriteNumber("connections", s.Connections.Completed);
        WriteReasons(w, s);
        w.WriteEndObject();
    }

    /// <summary><c>"reasons": [{"reason","detail","count"}]</c>, most frequent first.</summary>
    public static void WriteReasons(Utf8JsonWriter w, LogStats s)
    {
        var c = s.Connections;
        w.WriteStartArray("reasons");
        foreach (var (id, n) in JsonOut.ByCount(c.ByReason, c.Reasons.Name))
        {
            var (reason, detail) = Sections.Split(c.Reasons.Name(id));
            w.WriteStartObject();
            w.WriteString("reason", reason);
            w.WriteString("detail", detail);
            w.WriteNumber("count", n);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
