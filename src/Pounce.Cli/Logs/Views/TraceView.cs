using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace Pounce.Cli.Logs.Views;

/// <summary><c>pounce logs trace ID</c>: one connection's or one request's whole story, in order.</summary>
internal static class TraceView
{
    public static void Render(IAnsiConsole console, LogStats s)
    {
        var t = s.Trace!;
        Sections.Header(console, s, $"pounce logs trace {t.Id}");
        var lines = t.Ordered();
        if (lines.Count == 0)
        {
            console.WriteLine($"no line mentions {t.IdKind} {t.Id}");
            return;
        }
        var table = Cells.Table($"{t.IdKind} {t.Id}: {lines.Count} lines", "time", ">+ms", "what", "details");
        var start = lines.FirstOrDefault(l => l.Timestamp > 0)?.Timestamp ?? 0;
        foreach (var line in lines)
        {
            var (what, details) = Describe(line);
            var offset = line.Timestamp > 0 && start > 0 ? ((line.Timestamp - start) / 10_000.0).ToString("0.000", CultureInfo.InvariantCulture) : "";
            Cells.Row(table, Timestamps.Format(line.Timestamp), offset, what, details);
        }
        console.Write(table);
    }

    /// <summary>The event or category of a line, and its other fields as <c>key=value</c>.</summary>
    private static (string What, string Details) Describe(TraceLine line)
    {
        if (line.IsText)
        {
            // time level Event k=v ...  |  time level Category: message  |  an access line
            var parts = line.Line.Split(' ', 3);
            return parts.Length == 3 && char.IsAsciiDigit(parts[0][0]) ? (parts[1] + " " + parts[2].Split(' ', 2)[0], parts[2].Contains(' ', StringComparison.Ordinal) ? parts[2].Split(' ', 2)[1] : "")
                : ("access", line.Line);
        }
        var what = "";
        var level = "";
        var details = new StringBuilder();
        try
        {
            using var doc = JsonDocument.Parse(line.Line);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "event" or "category": what = p.Value.ToString(); continue;
                    case "level": level = p.Value.ToString(); continue;
                    case "timestamp" or "connection_id" or "worker_id": continue;
                }
                if (details.Length > 0)
                    details.Append(' ');
                details.Append(p.Name).Append('=').Append(p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText());
            }
        }
        catch (JsonException)
        {
            return ("?", line.Line);
        }
        return (level.Length > 0 ? level + " " + what : what, details.ToString());
    }

    public static void WriteJson(Utf8JsonWriter w, LogStats s)
    {
        var t = s.Trace!;
        w.WriteStartObject();
        w.WriteString("view", "trace");
        w.WriteString("id", t.Id);
        w.WriteString("id_kind", t.IdKind);
        JsonOut.WriteInput(w, s);
        w.WriteStartArray("lines");
        foreach (var line in t.Ordered())
        {
            w.WriteStartObject();
            w.WriteString("source", line.Source);
            w.WriteNumber("line_number", line.LineNumber);
            if (line.IsText)
            {
                w.WriteString("text", line.Line);
            }
            else
            {
                w.WritePropertyName("line");
                w.WriteRawValue(line.Line);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
