using System.Net;
using System.Text.Json;

namespace Pounce.Cli.Tests.Logs;

/// <summary>
/// A log produced by a real run of <c>pounce</c> (the demo app, two workers, JSON at debug level, slow at 50 ms):
/// hundreds of requests over HTTP/1.1 and HTTP/2 on many connections, slow ones, 500s, and clients that hang up in
/// the middle of a download. Also a short run in the text format. Made once for the test class.
/// </summary>
public sealed class RealRunLog : IAsyncLifetime
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("pounce-logs-").FullName;

    public string JsonPath => Path.Combine(Dir, "run.log");

    public string TextPath => Path.Combine(Dir, "run-text.log");

    public List<JsonElement> Lines { get; } = [];

    public async Task InitializeAsync()
    {
        await RunAsync(["--log-format", "json"], JsonPath, requests: 40);
        foreach (var line in File.ReadLines(JsonPath))
            Lines.Add(JsonDocument.Parse(line).RootElement.Clone());
        await RunAsync(["--log-format", "text"], TextPath, requests: 2);
    }

    private async Task RunAsync(string[] format, string logPath, int requests)
    {
        await using var pounce = PounceProcess.Start(
            ["--port", "0", "--host", "127.0.0.1", "--lifecycle-logging", .. format, "--log-level", "debug", "--workers", "2", "--log-slow-requests-threshold", "0.05"], Dir);
        var address = await pounce.WaitForAddressAsync();
        var work = Enumerable.Range(0, 8).Select(async c =>
        {
            // Eight clients, each with its own connection pool; a few connections each (Connection: close now and then).
            using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMilliseconds(200) }) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
            for (var i = 0; i < requests; i++)
            {
                var path = (i % 10) switch { 3 => "/slow?ms=60", 7 when c % 2 == 0 => "/throw", 9 => "/", _ => "/plaintext" };
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                if (i % 13 == 12)
                    request.Headers.ConnectionClose = true;
                if (c == 7)
                {
                    request.Version = HttpVersion.Version20;
                    request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
                }
                using var response = await client.SendAsync(request);
                await response.Content.ReadAsByteArrayAsync();
            }
        });
        await Task.WhenAll(work);
        for (var i = 0; i < 3; i++)
        {
            // A client that hangs up in the middle of a large download.
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            using var response = await client.GetAsync(new Uri(address, "/download?mb=256"), HttpCompletionOption.ResponseHeadersRead);
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[64 * 1024];
            var read = 0;
            while (read < buffer.Length)
                read += await body.ReadAsync(buffer.AsMemory(read));
        }
        // Everything has ended once every ClientDisconnected of the downloads is in.
        await pounce.WaitForAsync(p => p.StdoutLines.Count(l => l.Contains("ClientDisconnected", StringComparison.Ordinal)) >= 3 ? "" : null,
            PounceProcess.EventTimeout, "the three downloads' ClientDisconnected");
        await pounce.SignalAsync("TERM");
        Assert.Equal(0, await pounce.WaitForExitAsync(PounceProcess.StartTimeout));
        await File.WriteAllLinesAsync(logPath, pounce.StdoutLines);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(Dir, recursive: true);
        return Task.CompletedTask;
    }
}
