using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Logging;

/// <summary>
/// The rsyslog configuration of docs/shipping.md, run for real: Debian's rsyslogd, unprivileged, with that
/// configuration in a temporary folder (imfile + mmjsonparse + omfile), tails the log file of a real Pounce run that
/// rotates by size; every line arrives exactly once, parses, and keeps its timestamp, with level mapped to severity.
/// </summary>
public sealed class RsyslogShippingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pounce-rsyslog-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string RepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pounce.slnx")))
                return Path.Combine(dir.FullName, relative);
        }
        throw new InvalidOperationException("the repository root (Pounce.slnx) is not above " + AppContext.BaseDirectory);
    }

    /// <summary>The <c>```rsyslog</c> block of docs/shipping.md.</summary>
    private static string DocumentedConfig()
    {
        var doc = File.ReadAllText(RepositoryFile("docs/shipping.md"));
        var start = doc.IndexOf("```rsyslog\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/shipping.md has no ```rsyslog block");
        start += "```rsyslog\n".Length;
        return doc[start..doc.IndexOf("```", start, StringComparison.Ordinal)];
    }

    /// <summary>The lines of <paramref name="path"/> once there are <paramref name="count"/> (or after 60 s, or once rsyslogd has exited).</summary>
    private static async Task<List<string>> WaitForLinesAsync(string path, int count, Process rsyslog)
    {
        var deadline = Stopwatch.StartNew();
        using var watcher = new FileSystemWatcher(Path.GetDirectoryName(path)!, Path.GetFileName(path)) { EnableRaisingEvents = true };
        while (true)
        {
            var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            watcher.Changed += (_, _) => changed.TrySetResult();
            watcher.Created += (_, _) => changed.TrySetResult();
            List<string> lines = File.Exists(path) ? [.. File.ReadAllLines(path)] : [];
            if (lines.Count >= count || rsyslog.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(60))
                return lines;
            // Woken by the file changing; the timeout only bounds a missed notification.
            await Task.WhenAny(changed.Task, Task.Delay(TimeSpan.FromMilliseconds(500)));
        }
    }

    [ToolFact("rsyslogd")]
    public async Task Every_line_of_a_rotating_run_arrives_through_imfile_and_parses_with_mmjsonparse()
    {
        var Rsyslogd = DebianTools.Find("rsyslogd")!;
        var work = Directory.CreateDirectory(Path.Combine(_dir, "work")).FullName;
        var config = "global(workDirectory=\"" + work + "\")\n" + DocumentedConfig().Replace("/var/log/pounce/", _dir + "/", StringComparison.Ordinal);
        var configPath = Path.Combine(_dir, "rsyslog.conf");
        await File.WriteAllTextAsync(configPath, config);
        var shipped = Path.Combine(_dir, "shipped.log");
        var logFile = Path.Combine(_dir, "app.log");

        using var rsyslog = Process.Start(new ProcessStartInfo(Rsyslogd, ["-n", "-f", configPath, "-i", Path.Combine(_dir, "rsyslogd.pid")])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        var rsyslogOutput = rsyslog.StandardError.ReadToEndAsync();
        try
        {
            // rsyslog is watching once a first line it was given has arrived (the server appends after it): a rotated file
            // it never saw would not be shipped, which is no fault of the configuration.
            await File.WriteAllTextAsync(logFile, "{\"timestamp\":\"2026-01-01T00:00:00.000000Z\",\"level\":\"info\",\"category\":\"probe\",\"message\":\"rsyslog is reading\"}\n");
            await WaitForLinesAsync(shipped, 1, rsyslog);
            await using (var server = await TestServer.StartAsync(async ctx =>
            {
                await ctx.Response.WriteAsync("hello " + ctx.Request.Path.Value);
            }, c =>
            {
                c.LifecycleLogging = true;
                c.LogLevel = LogLevel.Debug;
                c.LogFormat = LogFormat.Json;
                c.LogFile = logFile;
                c.LogFileMaxSize = 128 * 1024;
                c.LogFileMaxFiles = 100;
            }))
            {
                using var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
                for (var i = 0; i < 300; i++)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, "/item/" + i + "?q=\"quoted\"");
                    if (i % 10 == 9)
                        request.Headers.ConnectionClose = true;
                    using var response = await client.SendAsync(request);
                    Assert.Equal("hello /item/" + i, await response.Content.ReadAsStringAsync());
                    if (i % 40 == 39)
                    {
                        // A shipper notices a new file within its reaction time; a file created and rotated away faster
                        // than that (milliseconds here, under a loaded test machine) would be missed by any tailer.
                        // So the run goes at a pace rsyslog keeps up with: fewer bytes between these points than
                        // LogFileMaxSize, hence every file is seen before it is rotated.
                        var onDisk = Directory.GetFiles(_dir, "app.log*").Sum(f => File.ReadAllLines(f).Length);
                        var caughtUp = await WaitForLinesAsync(shipped, onDisk, rsyslog);
                        Assert.True(caughtUp.Count >= onDisk, $"rsyslog shipped {caughtUp.Count} of the {onDisk} lines written so far");
                    }
                }
            }

            var files = Directory.GetFiles(_dir, "app.log*");
            Assert.True(files.Length >= 2, $"the run should have rotated the file; files: {string.Join(", ", files)}");
            var written = files.SelectMany(File.ReadAllLines).ToList();
            var expected = written.Select(l => JsonNode.Parse(l)!.ToJsonString()).Order(StringComparer.Ordinal).ToList();

            // rsyslog is behind by however long it takes; wait (bounded) until it has shipped as many lines.
            var shippedLines = await WaitForLinesAsync(shipped, written.Count, rsyslog);
            Assert.False(File.Exists(Path.Combine(_dir, "unparsed.log")), "rsyslog could not parse: " + (File.Exists(Path.Combine(_dir, "unparsed.log")) ? File.ReadAllText(Path.Combine(_dir, "unparsed.log")) : ""));
            var actual = new List<string>();
            foreach (var line in shippedLines)
            {
                // "<timestamp> <severity> {json}"
                var parts = line.Split(' ', 3);
                var json = JsonNode.Parse(parts[2])!.AsObject();
                Assert.Equal(json["timestamp"]!.GetValue<string>(), parts[0]);
                var level = json["level"]!.GetValue<string>();
                var severity = level switch { "debug" or "trace" => "debug", "info" => "info", "warning" => "warning", "error" => "err", _ => "crit" };
                Assert.Equal(severity, parts[1]);
                json.Remove("severity");
                json.Remove("metadata");
                actual.Add(json.ToJsonString());
            }
            actual.Sort(StringComparer.Ordinal);
            var missing = expected.Except(actual).Take(3).ToList();
            Assert.True(written.Count == shippedLines.Count, $"{written.Count} lines written, {shippedLines.Count} shipped; files {string.Join(", ", files.Select(f => Path.GetFileName(f) + " " + File.ReadAllLines(f).Length))}; missing e.g. {string.Join("\n", missing)}");
            Assert.Equal(expected, actual);
        }
        finally
        {
            if (!rsyslog.HasExited)
                rsyslog.Kill();
            await rsyslog.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            _ = await rsyslogOutput;
        }
    }
}
