using System.Text.Json;

namespace Pounce.Cli.Logs.Views;

/// <summary>The parts every <c>--json</c> document shares: the input, its line counts and time span.</summary>
internal static class JsonOut
{
    public static Utf8JsonWriter Create(Stream output)
        => new(output, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    public static void WriteInput(Utf8JsonWriter w, LogStats s)
    {
        w.WriteStartObject("input");
        WriteStrings(w, "files", s.Sources);
        w.WriteNumber("lines", s.Lines);
        w.WriteNumber("json_lines", s.JsonLines);
        w.WriteNumber("text_lines", s.TextLines);
        w.WriteNumber("malformed", s.Malformed);
        WriteStrings(w, "malformed_at", s.MalformedAt);
        w.WriteNumber("filtered_out", s.FilteredOut);
        w.WriteNumber("dropped_reported", s.DroppedReported);
        w.WriteString("first", s.First > 0 ? Timestamps.Format(s.First) : null);
        w.WriteString("last", s.Last > 0 ? Timestamps.Format(s.Last) : null);
        w.WriteNumber("span_seconds", s.First > 0 ? Math.Round((s.Last - s.First) / 1e7, 6) : 0);
        w.WriteString("request_source", s.RequestSource);
        w.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, List<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
            w.WriteStringValue(v);
        w.WriteEndArray();
    }

    public static void WriteLatency(Utf8JsonWriter w, string name, LatencyHistogram h)
    {
        w.WriteStartObject(name);
        WriteLatencyFields(w, h);
        w.WriteEndObject();
    }

    /// <summary>The fields of a latency: <c>count</c>, <c>p50_ms</c>, <c>p90_ms</c>, <c>p99_ms</c>, <c>max_ms</c>.</summary>
    public static void WriteLatencyFields(Utf8JsonWriter w, LatencyHistogram h)
    {
        w.WriteNumber("count", h.Count);
        w.WriteNumber("p50_ms", Cells.Ms(h.Percentile(0.50)));
        w.WriteNumber("p90_ms", Cells.Ms(h.Percentile(0.90)));
        w.WriteNumber("p99_ms", Cells.Ms(h.Percentile(0.99)));
        w.WriteNumber("max_ms", Cells.Ms(h.Max));
    }

    /// <summary><c>"name": {key: count, ...}</c>, most frequent first.</summary>
    public static void WriteCounts<TKey>(Utf8JsonWriter w, string name, Dictionary<TKey, long> map, Func<TKey, string> keyName) where TKey : notnull
    {
        w.WriteStartObject(name);
        foreach (var (key, n) in ByCount(map, keyName))
            w.WriteNumber(keyName(key), n);
        w.WriteEndObject();
    }

    /// <summary><c>"by_path": [{"path", countName, "requests"}]</c>, in the order given.</summary>
    public static void WritePathCounts(Utf8JsonWriter w, List<(string Path, RequestStats.PathCounters Counters)> paths, string countName, Func<RequestStats.PathCounters, long> count)
    {
        w.WriteStartArray("by_path");
        foreach (var (name, counters) in paths)
        {
            w.WriteStartObject();
            w.WriteString("path", name);
            w.WriteNumber(countName, count(counters));
            w.WriteNumber("requests", counters.Requests);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>Map entries sorted by count, largest first, then by key.</summary>
    public static List<KeyValuePair<TKey, long>> ByCount<TKey>(Dictionary<TKey, long> map, Func<TKey, string> name) where TKey : notnull
    {
        var list = map.ToList();
        list.Sort((a, b) => a.Value != b.Value ? b.Value.CompareTo(a.Value) : string.CompareOrdinal(name(a.Key), name(b.Key)));
        return list;
    }
}
