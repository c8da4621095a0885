using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.LifecycleE2E;

/// <summary>
/// The contract's invariants over a real run (20,000 requests, many connections, a share of abrupt aborts), the
/// jq recipes run with the real jq on the log it produced, and hostile input that must not break a line.
/// </summary>
public sealed class LifecycleInvariantTests
{
    private const int TotalRequests = 20_000;

    private static async Task Handler(HttpContext ctx)
    {
        switch (ctx.Request.Path.Value)
        {
            case "/slow":
                await Task.Delay(60);
                await ctx.Response.WriteAsync("slow");
                break;
            case "/stream":
                await ctx.Response.WriteAsync(new string('s', 3000));
                await ctx.Response.Body.FlushAsync();
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
                break;
            case "/hang":
                // Asks for the body (sending 100 Continue), which never comes.
                await ctx.Request.Body.ReadExactlyAsync(new byte[10], ctx.RequestAborted);
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
                break;
            default:
                await ctx.Response.WriteAsync("hello " + ctx.Request.Path.Value);
                break;
        }
    }

    private static List<JsonElement> ReadJsonLines(string path)
    {
        var lines = File.ReadAllLines(path);
        var parsed = new List<JsonElement>(lines.Length);
        foreach (var line in lines)
        {
            try
            {
                parsed.Add(JsonDocument.Parse(line).RootElement.Clone());
            }
            catch (JsonException ex)
            {
                throw new Xunit.Sdk.XunitException($"Not a JSON line: {line}\n{ex.Message}");
            }
        }
        return parsed;
    }

    [ToolFact("jq")]
    public async Task Invariants_Hold_Over20000Requests_WithAborts_AndTheJqRecipesAnswer()
    {
        var logFile = Path.Combine(Path.GetTempPath(), "pounce-invariants-" + Guid.NewGuid().ToString("N") + ".log");
        var server = await TestServer.StartAsync(Handler, c =>
        {
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
            c.LogFormat = LogFormat.Json;
            c.LogFile = logFile;
            c.LogSlowRequestsThreshold = 0.05;
            c.AccessLog = true;
        });
        var remaining = TotalRequests;
        var slowSent = 0;
        var abortsBefore = 0;
        var abortsDuring = 0;
        var rejected = 0;
        var served = 0;
        await using (server)
        {
            var clients = Enumerable.Range(0, 32).Select(async worker =>
            {
                var random = new Random(worker);
                while (Interlocked.Decrement(ref remaining) >= 0)
                {
                    await using var raw = await server.ConnectAsync();
                    var perConnection = random.Next(1, 40);
                    for (var i = 0; i < perConnection; i++)
                    {
                        var roll = random.Next(100);
                        if (roll < 2)
                        {
                            await raw.SendAsync("POST /hang HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
                            // The 100 Continue proves the request started; the response has not.
                            Assert.Equal(100, (await raw.ReadResponseAsync()).Status);
                            Interlocked.Increment(ref abortsBefore);
                            raw.Reset();
                            break;
                        }
                        if (roll < 4)
                        {
                            await raw.SendAsync("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
                            // Wait for the head so the response has started, then vanish.
                            var head = await raw.Socket.ReceiveAsync(new byte[256], System.Net.Sockets.SocketFlags.None);
                            Assert.True(head > 0);
                            Interlocked.Increment(ref abortsDuring);
                            raw.Reset();
                            break;
                        }
                        if (roll < 5)
                        {
                            // A malformed head: the server answers 400 on its own and closes.
                            await raw.SendAsync("GET /bad HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n");
                            Assert.Equal(400, (await raw.ReadResponseAsync()).Status);
                            Interlocked.Increment(ref rejected);
                            break;
                        }
                        var path = roll < 6 ? "/slow" : "/r" + (roll % 7);
                        if (path == "/slow")
                            Interlocked.Increment(ref slowSent);
                        await raw.SendAsync($"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
                        Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
                        Interlocked.Increment(ref served);
                        if (i + 1 < perConnection && Interlocked.Decrement(ref remaining) < 0)
                            break;
                    }
                }
            }).ToArray();
            await Task.WhenAll(clients).WaitAsync(TimeSpan.FromMinutes(4));
            await server.StopAsync();
        }

        var lines = ReadJsonLines(logFile);
        var events = lines.Where(e => e.TryGetProperty("event", out _) && e.TryGetProperty("connection_id", out _)).ToList();
        var access = lines.Where(e => e.TryGetProperty("category", out var c) && c.GetString() == "Pounce.Access").ToList();
        var byConnection = events.GroupBy(e => e.GetProperty("connection_id").GetInt64()).ToList();
        Assert.NotEmpty(byConnection);
        var requestEnds = new Dictionary<string, int>();
        foreach (var conn in byConnection)
        {
            var list = conn.ToList();
            var names = list.Select(e => e.GetProperty("event").GetString()).ToList();
            Assert.Equal(1, names.Count(n => n == "ConnectionOpened"));
            Assert.Equal(1, names.Count(n => n == "ConnectionCompleted"));
            Assert.Equal("ConnectionOpened", names[0]);
            Assert.Equal("ConnectionCompleted", names[^1]);
            var completed = list[^1];
            var responses = list.Where(e => e.GetProperty("event").GetString() == "ResponseCompleted").ToList();
            var disconnects = list.Where(e => e.GetProperty("event").GetString() == "ClientDisconnected").ToList();
            Assert.Equal(responses.Count, completed.GetProperty("requests_served").GetInt32());
            var bytes = responses.Concat(disconnects).Sum(e => e.GetProperty("bytes_sent").GetInt64());
            Assert.Equal(bytes, completed.GetProperty("total_bytes_sent").GetInt64());
            foreach (var e in list)
            {
                var name = e.GetProperty("event").GetString();
                if (name is "RequestStarted")
                    requestEnds.TryAdd(e.GetProperty("request_id").GetString()!, 0);
                if (name is "ResponseCompleted" or "ClientDisconnected")
                {
                    var id = e.GetProperty("request_id").GetString()!;
                    Assert.True(requestEnds.ContainsKey(id), $"{name} for {id} without RequestStarted before it");
                    requestEnds[id]++;
                }
            }
        }
        Assert.All(requestEnds, pair => Assert.True(pair.Value == 1, $"request {pair.Key} ended {pair.Value} times"));
        Assert.Equal(served + abortsBefore + abortsDuring, requestEnds.Count);
        var disconnected = events.Where(e => e.GetProperty("event").GetString() == "ClientDisconnected").ToList();
        Assert.Equal(abortsBefore + abortsDuring, disconnected.Count);
        Assert.Equal(abortsDuring, disconnected.Count(e => e.GetProperty("during_streaming").GetBoolean()));

        // The access log: exactly one line per RequestStarted (499 for the abandoned ones, else the response's
        // status), plus one per answer the server gave on its own (the 400s), each with the correlation fields.
        var accessById = access.GroupBy(e => e.GetProperty("request_id").GetString()!).ToDictionary(g => g.Key, g => g.ToList());
        Assert.All(accessById, pair => Assert.True(pair.Value.Count == 1, $"request {pair.Key} has {pair.Value.Count} access lines"));
        Assert.Equal(requestEnds.Count + rejected, access.Count);
        var endings = events.Where(e => e.GetProperty("event").GetString() is "ResponseCompleted" or "ClientDisconnected")
            .ToDictionary(e => e.GetProperty("request_id").GetString()!);
        foreach (var (id, ending) in endings)
        {
            Assert.True(accessById.TryGetValue(id, out var line), $"request {id} has no access line");
            var expected = ending.GetProperty("event").GetString() == "ClientDisconnected" ? 499 : ending.GetProperty("status").GetInt32();
            Assert.Equal(expected, line![0].GetProperty("status").GetInt32());
            Assert.Equal(ending.GetProperty("connection_id").GetInt64(), line[0].GetProperty("connection_id").GetInt64());
            Assert.Equal(ending.GetProperty("worker_id").GetInt32(), line[0].GetProperty("worker_id").GetInt32());
        }
        var serverAnswers = access.Where(e => !endings.ContainsKey(e.GetProperty("request_id").GetString()!)).ToList();
        Assert.Equal(rejected, serverAnswers.Count);
        Assert.All(serverAnswers, e => Assert.Equal(400, e.GetProperty("status").GetInt32()));
        Assert.All(serverAnswers, e => Assert.Equal("/bad", e.GetProperty("path").GetString()));
        Assert.All(access, e =>
        {
            foreach (var key in new[] { "connection_id", "worker_id", "request_id", "client_addr", "http_version", "user_agent" })
                Assert.True(e.TryGetProperty(key, out _), $"access line without {key}: {e}");
        });
        Assert.Equal(abortsBefore + abortsDuring, access.Count(e => e.GetProperty("status").GetInt32() == 499));

        // The contract's jq recipes, unchanged, with the real jq.
        // Every /slow request is there; a fast one may be too when the loaded machine made it slow.
        var slow = RunJq(logFile, "-c", "select(.slow == true)").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.Equal(slowSent, slow.Count(e => e.GetProperty("path").GetString() == "/slow"));
        Assert.All(slow, e => Assert.True(e.GetProperty("duration_ms").GetDouble() >= 50, e.ToString()));
        Assert.All(slow, e => Assert.Equal("info", e.GetProperty("level").GetString()));

        var someConnection = byConnection[byConnection.Count / 2].Key;
        var oneConnection = RunJq(logFile, "-c", $"select(.connection_id == {someConnection})").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Its lifecycle events, its access lines and any other line written for it.
        var expectedLines = lines.Count(e => e.TryGetProperty("connection_id", out var id) && id.GetInt64() == someConnection);
        Assert.Equal(expectedLines, oneConnection.Length);
        Assert.True(oneConnection.Length >= byConnection[byConnection.Count / 2].Count() + 1, "the connection's access lines are selected too");

        var disconnectAddrs = RunShell(logFile, "jq -r 'select(.event == \"ClientDisconnected\") | .client_addr' | sort | uniq -c | sort -rn");
        Assert.Matches($@"^\s*{abortsBefore + abortsDuring} 127\.0\.0\.1\s*$", disconnectAddrs);

        var perWorker = RunShell(logFile, "jq -r 'select(.event == \"ResponseCompleted\") | .worker_id' | sort | uniq -c");
        var workerCounts = ParseUniq(perWorker);
        Assert.All(workerCounts.Keys, w => Assert.InRange(int.Parse(w, System.Globalization.CultureInfo.InvariantCulture), 1, 2));
        Assert.Equal(served, workerCounts.Values.Sum());

        var servedHistogram = RunShell(logFile, "jq -r 'select(.event == \"ConnectionCompleted\") | .requests_served' | sort -n | uniq -c");
        Assert.Equal(byConnection.Count, ParseUniq(servedHistogram).Values.Sum());
        File.Delete(logFile);
    }

    private static Dictionary<string, int> ParseUniq(string output)
    {
        var result = new Dictionary<string, int>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Trim().Split(' ', 2);
            result[parts[1]] = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        return result;
    }

    private static string RunJq(string file, params string[] args) => Run(DebianTools.Require("jq"), [.. args, file]);

    private static string RunShell(string file, string pipeline) => Run("bash", ["-c", $"cat '{file}' | {pipeline}"]);

    private static string Run(string program, string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using (var process = Process.Start(psi)!)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(60_000))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{program} did not finish in 60 s");
            }
            Assert.True(process.ExitCode == 0, $"{program} failed: {stderr.Result}");
            return stdout.Result;
        }
    }

    [Theory]
    [InlineData(LogFormat.Json)]
    [InlineData(LogFormat.Text)]
    public async Task HostileInput_CannotBreakOrForgeALine(LogFormat format)
    {
        var logFile = Path.Combine(Path.GetTempPath(), "pounce-hostile-" + Guid.NewGuid().ToString("N") + ".log");
        var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"), c =>
        {
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
            c.LogFormat = format;
            c.LogFile = logFile;
            c.AccessLog = true;
        });
        string[] targets =
        [
            "/quote%22here",
            "/back%5Cslash",
            "/new%0Aline%0D%0A{\"event\":\"Forged\"}",
            "/esc%1B[31mred%1B[0m",
            "/bell%07nul",
            "/bad%FF%FEutf8",
            "/tab%09and%7Fdel",
            "/%E2%80%A8sep",
        ];
        await using (server)
        {
            foreach (var target in targets)
            {
                await using var raw = await server.ConnectAsync();
                await raw.SendAsync(Encoding.Latin1.GetBytes(
                    $"GET {target} HTTP/1.1\r\nHost: x\r\nUser-Agent: evil\"\\ \u00ff\u00e9 {{\"event\":\"x\"}}\r\nConnection: close\r\n\r\n"));
                Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
            }
            await using (var bad = await server.ConnectAsync())
            {
                await bad.SendAsync("GET /x HTTP/1.1\r\nHost: x\r\nX: \u001b[2J\r\n\r\n");
                Assert.Equal(400, (await bad.ReadResponseAsync()).Status);
            }
            await server.StopAsync();
        }

        var content = File.ReadAllText(logFile, Encoding.UTF8);
        Assert.DoesNotContain('\u001b', content);
        Assert.DoesNotContain('\0', content);
        Assert.DoesNotContain('\r', content);
        var lines = content.Split('\n');
        Assert.Equal("", lines[^1]);
        lines = lines[..^1];
        if (format == LogFormat.Json)
        {
            var parsed = ReadJsonLines(logFile);
            Assert.DoesNotContain(parsed, e => e.TryGetProperty("event", out var ev) && ev.GetString() is "Forged" or "x");
            var paths = parsed.Where(e => e.TryGetProperty("event", out var ev) && ev.GetString() == "RequestStarted")
                .Select(e => e.GetProperty("path").GetString()).ToList();
            Assert.Equal(targets.Length, paths.Count);
            Assert.Contains("/new\nline\r\n{\"event\":\"Forged\"}", paths);
            Assert.Contains("/quote\"here", paths);
        }
        else
        {
            // Every line starts like a log line (a timestamp, or the client address of an access-log line), so no
            // request split one in two.
            Assert.All(lines, l => Assert.Matches(@"^(\d{4}-\d\d-\d\dT|127\.0\.0\.1 - - \[)", l));
            Assert.DoesNotContain(lines, l => l.Contains("{\"event\":\"Forged\"}", StringComparison.Ordinal) && !l.Contains("\\\"", StringComparison.Ordinal) && !l.Contains("\\n", StringComparison.Ordinal));
        }
        File.Delete(logFile);
    }
}
