using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Pounce.Cli.Tests.Logs;

/// <summary>
/// <c>pounce logs</c> on the log of a real run: each view's answer checked against a direct computation over the
/// parsed lines; malformed, truncated, mixed-format, gzip and standard input; <c>--follow</c> picking up new lines and
/// a rotated file.
/// </summary>
public sealed class LogsCommandTests(RealRunLog run) : IClassFixture<RealRunLog>
{
    private static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

    private static long Num(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? (long)v.GetDouble() : -1;

    private IEnumerable<JsonElement> Events(string name) => run.Lines.Where(l => Str(l, "event") == name);

    private IEnumerable<JsonElement> RequestEnds => run.Lines.Where(l => Str(l, "event") is "ResponseCompleted" or "ClientDisconnected");

    private static async Task<JsonElement> JsonOf(params string[] args)
    {
        var (code, stdout, stderr) = await PounceProcess.RunAsync(["logs", .. args, "--json"]);
        Assert.True(code == 0, $"pounce logs {string.Join(' ', args)} exited {code}: {string.Join('\n', stderr)}");
        return JsonDocument.Parse(string.Join('\n', stdout)).RootElement.Clone();
    }

    /// <summary>Nearest-rank percentile, the definition the histogram approximates.</summary>
    private static double Percentile(List<double> sorted, double p) => sorted[Math.Max(1, (int)Math.Ceiling(p * sorted.Count)) - 1];

    [Fact]
    public async Task The_real_run_has_what_the_views_need()
    {
        Assert.True(Events("ResponseCompleted").Count() >= 300, "the run should have served hundreds of requests");
        Assert.Equal(3, Events("ClientDisconnected").Count());
        Assert.Contains(Events("ResponseCompleted"), e => Num(e, "status") == 500);
        Assert.Contains(Events("ResponseCompleted"), e => e.TryGetProperty("slow", out _));
        Assert.Contains(Events("ConnectionCompleted"), e => Str(e, "protocol") == "h2");
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Summary_matches_a_direct_computation()
    {
        var s = await JsonOf("summary", run.JsonPath);
        var input = s.GetProperty("input");
        Assert.Equal(run.Lines.Count, input.GetProperty("lines").GetInt64());
        Assert.Equal(0, input.GetProperty("malformed").GetInt64());
        Assert.Equal("lifecycle events", input.GetProperty("request_source").GetString());
        var timestamps = run.Lines.Select(l => Str(l, "timestamp")).Where(t => t.Length > 0).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(timestamps[0], input.GetProperty("first").GetString());
        Assert.Equal(timestamps[^1], input.GetProperty("last").GetString());

        var r = s.GetProperty("requests");
        var ends = RequestEnds.ToList();
        Assert.Equal(ends.Count, r.GetProperty("total").GetInt64());
        // A client that went away counts as 499, as in the access log.
        foreach (var cls in new[] { 2, 4, 5 })
            Assert.Equal(ends.Count(e => (Str(e, "event") == "ClientDisconnected" ? 499 : Num(e, "status")) / 100 == cls), r.GetProperty("status_classes").GetProperty($"{cls}xx").GetInt64());
        Assert.Equal(Events("ClientDisconnected").Count(), r.GetProperty("disconnects").GetInt64());
        Assert.Equal(Events("ClientDisconnected").Count(e => e.GetProperty("during_streaming").GetBoolean()), r.GetProperty("disconnects_during_streaming").GetInt64());
        Assert.Equal(Events("ResponseCompleted").Count(e => e.TryGetProperty("slow", out var v) && v.GetBoolean()), r.GetProperty("slow").GetInt64());

        var durations = Events("ResponseCompleted").Select(e => e.GetProperty("duration_ms").GetDouble()).Order().ToList();
        var latency = r.GetProperty("latency");
        Assert.Equal(durations.Count, latency.GetProperty("count").GetInt64());
        foreach (var (p, name) in new[] { (0.5, "p50_ms"), (0.9, "p90_ms"), (0.99, "p99_ms") })
        {
            var expected = Percentile(durations, p);
            var actual = latency.GetProperty(name).GetDouble();
            Assert.True(Math.Abs(actual - expected) <= expected * 0.01 + 0.001, $"{name}: {actual} ms, expected {expected} ms within 1%");
        }
        Assert.Equal(durations[^1], latency.GetProperty("max_ms").GetDouble(), 3);
        // The slowest paths: each one's p99 as computed directly, in decreasing order.
        var perPath = Events("ResponseCompleted").GroupBy(e => Str(e, "path"))
            .ToDictionary(g => g.Key, g => g.Select(e => e.GetProperty("duration_ms").GetDouble()).Order().ToList());
        var listed = r.GetProperty("slowest_paths").EnumerateArray().ToList();
        Assert.Equal(Math.Min(5, perPath.Count), listed.Count);
        var previous = double.MaxValue;
        foreach (var entry in listed)
        {
            var path = perPath[entry.GetProperty("path").GetString()!];
            Assert.Equal(path.Count, entry.GetProperty("count").GetInt64());
            var p99 = entry.GetProperty("p99_ms").GetDouble();
            Assert.True(Math.Abs(p99 - Percentile(path, 0.99)) <= Percentile(path, 0.99) * 0.01 + 0.001, $"p99 of {entry.GetProperty("path")}: {p99}, expected {Percentile(path, 0.99)}");
            Assert.True(p99 <= previous, "slowest_paths is not in decreasing order of p99");
            previous = p99;
        }
        var slowestP99 = perPath.Values.Max(d => Percentile(d, 0.99));
        Assert.True(Math.Abs(listed[0].GetProperty("p99_ms").GetDouble() - slowestP99) <= slowestP99 * 0.01 + 0.001);

        var c = s.GetProperty("connections");
        Assert.Equal(Events("ConnectionOpened").Count(), c.GetProperty("opened").GetInt64());
        Assert.Equal(Events("ConnectionCompleted").Count(), c.GetProperty("completed").GetInt64());
        foreach (var group in Events("ConnectionCompleted").GroupBy(e => Str(e, "protocol")))
            Assert.Equal(group.Count(), c.GetProperty("protocols").GetProperty(group.Key).GetInt64());
        AssertReasons(s);
    }

    private void AssertReasons(JsonElement view)
    {
        var expected = Events("ConnectionCompleted").GroupBy(e => (Str(e, "reason"), Str(e, "detail"))).ToDictionary(g => g.Key, g => (long)g.Count());
        var actual = view.GetProperty("reasons").EnumerateArray().ToDictionary(e => (Str(e, "reason"), Str(e, "detail")), e => e.GetProperty("count").GetInt64());
        Assert.Equal(expected.OrderBy(kv => kv.Key), actual.OrderBy(kv => kv.Key));
    }

    [Fact]
    public async Task Reasons_match_a_direct_computation()
        => AssertReasons(await JsonOf("reasons", run.JsonPath));

    [Fact]
    public async Task Slow_with_a_threshold_lists_the_slowest_in_order()
    {
        var s = await JsonOf("slow", "--threshold", "0.05", "--top", "5", run.JsonPath);
        var slow = Events("ResponseCompleted").Where(e => e.GetProperty("duration_ms").GetDouble() >= 50).OrderByDescending(e => e.GetProperty("duration_ms").GetDouble()).ToList();
        Assert.True(slow.Count >= 5, "the run has slow requests");
        Assert.Equal(slow.Count, s.GetProperty("slow").GetInt64());
        Assert.Equal(50.0, s.GetProperty("threshold_ms").GetDouble());
        var listed = s.GetProperty("slowest").EnumerateArray().ToList();
        Assert.Equal(slow.Take(5).Select(e => Str(e, "request_id")), listed.Select(e => Str(e, "request_id")));
        Assert.Equal(slow.Take(5).Select(e => e.GetProperty("duration_ms").GetDouble()), listed.Select(e => e.GetProperty("duration_ms").GetDouble()));
        var byPath = slow.GroupBy(e => Str(e, "path")).ToDictionary(g => g.Key, g => (long)g.Count());
        Assert.Equal(byPath.OrderBy(kv => kv.Key), s.GetProperty("by_path").EnumerateArray().ToDictionary(e => Str(e, "path"), e => e.GetProperty("slow").GetInt64()).OrderBy(kv => kv.Key));
    }

    [Fact]
    public async Task Slow_without_a_threshold_uses_the_servers_flag()
    {
        var s = await JsonOf("slow", run.JsonPath);
        Assert.Equal(-1, s.GetProperty("threshold_ms").GetDouble());
        Assert.Equal(Events("ResponseCompleted").Count(e => e.TryGetProperty("slow", out _)), s.GetProperty("slow").GetInt64());
    }

    [Fact]
    public async Task Trace_of_a_connection_is_every_line_carrying_its_id_in_order()
    {
        var disconnected = Events("ClientDisconnected").First();
        var id = Num(disconnected, "connection_id");
        var s = await JsonOf("trace", id.ToString(CultureInfo.InvariantCulture), run.JsonPath);
        var expected = run.Lines.Where(l => Num(l, "connection_id") == id).Select(l => l.GetRawText()).ToList();
        var lines = s.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("line").GetRawText()).ToList();
        Assert.Equal(expected, lines);
        Assert.Equal("ConnectionOpened", Str(s.GetProperty("lines")[0].GetProperty("line"), "event"));
        Assert.Equal("ConnectionCompleted", Str(s.GetProperty("lines")[lines.Count - 1].GetProperty("line"), "event"));
    }

    [Fact]
    public async Task Trace_of_a_request_has_its_events_its_access_line_and_its_connection()
    {
        var failed = Events("ResponseCompleted").First(e => Num(e, "status") == 500);
        var requestId = Str(failed, "request_id");
        var connection = Num(failed, "connection_id");
        var s = await JsonOf("trace", requestId, run.JsonPath);
        var expected = run.Lines.Where(l => Str(l, "request_id") == requestId
            || (Num(l, "connection_id") == connection && Str(l, "event") is "ConnectionOpened" or "ConnectionCompleted")).Select(l => l.GetRawText()).ToList();
        var lines = s.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("line")).ToList();
        Assert.Equal(expected, lines.Select(l => l.GetRawText()));
        // The app's own line (the exception ASP.NET Core logged) is there when it carries the request id, and so is the access line.
        Assert.Contains(lines, l => Str(l, "category") == "Pounce.Access");
        Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted"], lines.Select(l => Str(l, "event")).Where(e => e.Length > 0).Take(3));

        var text = await PounceProcess.RunAsync(["logs", "trace", requestId, run.JsonPath]);
        Assert.Equal(0, text.ExitCode);
        Assert.Contains(text.Stdout, l => l.Contains("ResponseCompleted", StringComparison.Ordinal) && l.Contains("status=500", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Disconnects_by_client_and_path_match()
    {
        var s = await JsonOf("disconnects", run.JsonPath);
        var gone = Events("ClientDisconnected").ToList();
        Assert.Equal(gone.Count, s.GetProperty("disconnects").GetInt64());
        Assert.Equal(gone.GroupBy(e => Str(e, "client_addr")).ToDictionary(g => g.Key, g => (long)g.Count()).OrderBy(kv => kv.Key),
            s.GetProperty("by_client").EnumerateArray().ToDictionary(e => Str(e, "client_addr"), e => e.GetProperty("count").GetInt64()).OrderBy(kv => kv.Key));
        Assert.Equal(gone.GroupBy(e => Str(e, "path")).ToDictionary(g => g.Key, g => (long)g.Count()).OrderBy(kv => kv.Key),
            s.GetProperty("by_path").EnumerateArray().ToDictionary(e => Str(e, "path"), e => e.GetProperty("count").GetInt64()).OrderBy(kv => kv.Key));
    }

    [Fact]
    public async Task Workers_match()
    {
        var s = await JsonOf("workers", run.JsonPath);
        var workers = s.GetProperty("workers").EnumerateArray().ToDictionary(e => e.GetProperty("worker_id").GetInt64());
        var opened = Events("ConnectionOpened").GroupBy(e => Num(e, "worker_id")).ToDictionary(g => g.Key, g => (long)g.Count());
        var requests = RequestEnds.GroupBy(e => Num(e, "worker_id")).ToDictionary(g => g.Key, g => (long)g.Count());
        Assert.Equal(opened.Keys.Union(requests.Keys).Order(), workers.Keys.Order());
        foreach (var (id, w) in workers)
        {
            Assert.Equal(opened.GetValueOrDefault(id), w.GetProperty("connections").GetInt64());
            Assert.Equal(requests.GetValueOrDefault(id), w.GetProperty("requests").GetInt64());
        }
    }

    [Fact]
    public async Task Reuse_matches()
    {
        var s = await JsonOf("reuse", run.JsonPath);
        var served = Events("ConnectionCompleted").Select(e => Num(e, "requests_served")).ToList();
        Assert.Equal(served.Count, s.GetProperty("connections").GetInt64());
        Assert.Equal(served.Sum(), s.GetProperty("requests").GetInt64());
        Assert.Equal(served.Max(), s.GetProperty("max").GetInt64());
        var buckets = s.GetProperty("buckets").EnumerateArray().ToDictionary(b => Str(b, "requests"), b => b.GetProperty("connections").GetInt64());
        Assert.Equal(served.Count(n => n == 1), buckets["1"]);
        Assert.Equal(served.Count(n => n is >= 3 and <= 5), buckets["3-5"]);
        Assert.Equal(served.Count, buckets.Values.Sum());
    }

    [Fact]
    public async Task Since_until_and_path_filter()
    {
        var ends = RequestEnds.OrderBy(e => Str(e, "timestamp"), StringComparer.Ordinal).ToList();
        var from = Str(ends[ends.Count / 4], "timestamp");
        var to = Str(ends[ends.Count * 3 / 4], "timestamp");
        var s = await JsonOf("--since", from, "--until", to, run.JsonPath);
        Assert.Equal(ends.Count(e => string.CompareOrdinal(Str(e, "timestamp"), from) >= 0 && string.CompareOrdinal(Str(e, "timestamp"), to) <= 0),
            s.GetProperty("requests").GetProperty("total").GetInt64());

        var slowOnly = await JsonOf("--path", "/slow", run.JsonPath);
        Assert.Equal(ends.Count(e => Str(e, "path") == "/slow"), slowOnly.GetProperty("requests").GetProperty("total").GetInt64());
        var prefix = await JsonOf("--path", "/pl*", run.JsonPath);
        Assert.Equal(ends.Count(e => Str(e, "path") == "/plaintext"), prefix.GetProperty("requests").GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task Malformed_truncated_and_mixed_input_is_counted_and_skipped_never_fatal()
    {
        var jsonLines = File.ReadAllLines(run.JsonPath);
        var textLines = File.ReadAllLines(run.TextPath);
        var mixed = Path.Combine(run.Dir, "mixed.log");
        var sb = new StringBuilder();
        foreach (var l in jsonLines)
            sb.Append(l).Append('\n');                              // lines 1..n
        sb.Append("this is not a log line\n");                      // n+1
        sb.Append("{\"event\":\"ResponseCompleted\",\"status\":\n");  // n+2: cut short
        sb.Append("\u001b[31m{}]\n");                               // n+3
        foreach (var l in textLines)
            sb.Append(l).Append('\n');
        var last = jsonLines.First(l => l.Contains("\"ResponseCompleted\"", StringComparison.Ordinal));
        sb.Append(last.AsSpan(0, last.Length / 2));                 // the last line, truncated, no newline
        await File.WriteAllTextAsync(mixed, sb.ToString());

        var (code, stdout, stderr) = await PounceProcess.RunAsync(["logs", "--json", mixed]);
        Assert.Equal(0, code);
        var s = JsonDocument.Parse(string.Join('\n', stdout)).RootElement;
        var input = s.GetProperty("input");
        var n = jsonLines.Length;
        var total = n + 3 + textLines.Length + 1;
        Assert.Equal(total, input.GetProperty("lines").GetInt64());
        Assert.Equal(4, input.GetProperty("malformed").GetInt64());
        Assert.Equal(new[] { n + 1, n + 2, n + 3, total }.Select(i => $"{mixed}:{i}"), input.GetProperty("malformed_at").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(textLines.Length, input.GetProperty("text_lines").GetInt64());
        Assert.Contains(stderr, l => l.Contains($"{mixed}:{n + 1}", StringComparison.Ordinal));
        // The text run's lifecycle events count as much as the JSON ones.
        var textEnds = textLines.Count(l => l.Contains(" ResponseCompleted ", StringComparison.Ordinal) || l.Contains(" ClientDisconnected ", StringComparison.Ordinal));
        Assert.True(textEnds > 0, "the text run has request events");
        Assert.Equal(RequestEnds.Count() + textEnds, s.GetProperty("requests").GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task Text_format_alone_gives_the_same_answers_as_its_events()
    {
        var s = await JsonOf(run.TextPath);
        var lines = File.ReadAllLines(run.TextPath);
        Assert.Equal(0, s.GetProperty("input").GetProperty("malformed").GetInt64());
        Assert.Equal(lines.Count(l => l.Contains(" ConnectionOpened ", StringComparison.Ordinal)), s.GetProperty("connections").GetProperty("opened").GetInt64());
        Assert.Equal(lines.Count(l => l.Contains(" ClientDisconnected ", StringComparison.Ordinal)), s.GetProperty("requests").GetProperty("disconnects").GetInt64());
        Assert.Equal(lines.Count(l => l.Contains(" status=500 ", StringComparison.Ordinal)), s.GetProperty("requests").GetProperty("status_classes").GetProperty("5xx").GetInt64());
    }

    [Fact]
    public async Task Gzip_and_standard_input_read_the_same()
    {
        var plain = await JsonOf(run.JsonPath);
        var gz = Path.Combine(run.Dir, "run.log.1.gz");
        await using (var output = File.Create(gz))
        await using (var zip = new GZipStream(output, CompressionLevel.Fastest))
        await using (var input = File.OpenRead(run.JsonPath))
            await input.CopyToAsync(zip);
        var zipped = await JsonOf(gz);
        Assert.Equal(plain.GetProperty("requests").GetRawText(), zipped.GetProperty("requests").GetRawText());

        var psi = new ProcessStartInfo("/bin/sh", ["-c", $"dotnet '{PounceProcess.CliDll}' logs --json < '{run.JsonPath}'"]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var sh = Process.Start(psi)!;
        var stdout = await sh.StandardOutput.ReadToEndAsync().WaitAsync(PounceProcess.StartTimeout);
        await sh.WaitForExitAsync().WaitAsync(PounceProcess.StartTimeout);
        Assert.Equal(0, sh.ExitCode);
        var piped = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(plain.GetProperty("requests").GetRawText(), piped.GetProperty("requests").GetRawText());
        Assert.Equal("(stdin)", piped.GetProperty("input").GetProperty("files")[0].GetString());
    }

    [Fact]
    public async Task Tables_are_printed_with_bars()
    {
        foreach (var view in new[] { "summary", "slow", "disconnects", "workers", "reuse", "reasons" })
        {
            var (code, stdout, _) = await PounceProcess.RunAsync(["logs", view, run.JsonPath]);
            Assert.Equal(0, code);
            Assert.Contains(stdout, l => l.Contains('█'));
        }
    }

    [Fact]
    public async Task Follow_picks_up_new_lines_and_a_rotated_file()
    {
        var lines = File.ReadAllLines(run.JsonPath);
        var path = Path.Combine(run.Dir, "follow.log");
        var half = lines.Length / 2;
        await File.WriteAllLinesAsync(path, lines[..half]);
        await using var follow = PounceProcess.Start(["logs", "--follow", "--json", path]);

        static long LinesIn(string update) => JsonDocument.Parse(update).RootElement.GetProperty("input").GetProperty("lines").GetInt64();
        string? Seen(PounceProcess p, long count) => p.StdoutLines.LastOrDefault(l => l.StartsWith('{') && LinesIn(l) == count);

        await follow.WaitForAsync(p => Seen(p, half), PounceProcess.EventTimeout, $"an update with the first {half} lines");
        await File.AppendAllLinesAsync(path, lines[half..]);
        await follow.WaitForAsync(p => Seen(p, lines.Length), PounceProcess.EventTimeout, $"an update with all {lines.Length} lines");

        // logrotate: rename, then the server starts a new file at the same path.
        File.Move(path, path + ".1");
        await File.AppendAllLinesAsync(path + ".1", lines[..5]); // written to the old file before the server reopened
        await File.WriteAllLinesAsync(path, lines[..10]);
        var final = await follow.WaitForAsync(p => Seen(p, lines.Length + 15), PounceProcess.EventTimeout, "an update with the rotated file's lines");
        await follow.SignalAsync("INT");
        Assert.Equal(0, await follow.WaitForExitAsync(PounceProcess.EventTimeout));
        Assert.Equal(0, JsonDocument.Parse(final).RootElement.GetProperty("input").GetProperty("malformed").GetInt64());
    }
}
