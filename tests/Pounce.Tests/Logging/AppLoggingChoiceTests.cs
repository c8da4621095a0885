using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Pounce.Hosting;
using Pounce.Logging;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.Lifecycle;
using Serilog;
using static Pounce.Tests.Lifecycle.LifecycleTestKit;

namespace Pounce.Tests.Logging;

/// <summary>
/// Pounce respects the application's logging: its provider replaces a registered console provider and adds nothing
/// otherwise; its own lines (lifecycle, access log, start-up, server messages) go through its writer either way.
/// These tests redirect the process's <see cref="Console.Out"/>/<see cref="Console.Error"/>, so they run one at a time
/// (one class) and look only for their own unique markers.
/// </summary>
public sealed class AppLoggingChoiceTests
{
    private static async Task<WebApplication> StartAsync(SinkStream sink, Action<WebApplicationBuilder> logging, bool clearAfterUsePounce,
        string marker, Action<ServerConfig>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        if (!clearAfterUsePounce)
            logging(builder);
        builder.Services.AddSingleton(_ => new LogLineWriter(sink, LogFormat.Json, 4096, ownsStream: false));
        builder.WebHost.UsePounce(c =>
        {
            c.Host = "127.0.0.1";
            c.Port = 0;
            c.Workers = 1;
            c.LogFormat = LogFormat.Json;
            c.AccessLog = true;
            c.LifecycleLogging = true;
            c.LogLevel = Microsoft.Extensions.Logging.LogLevel.Information;
            configure?.Invoke(c);
        });
        if (clearAfterUsePounce)
            logging(builder);
        var app = builder.Build();
        app.Run(ctx =>
        {
            ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("App.Endpoint").LogWarning("app line {Marker}", marker);
            return ctx.Response.WriteAsync("ok");
        });
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return app;
    }

    private static async Task GetAsync(WebApplication app)
    {
        using var client = new HttpClient { BaseAddress = CorrelationTests.Address(app), Timeout = TimeSpan.FromSeconds(15) };
        (await client.GetAsync("/work")).EnsureSuccessStatusCode();
    }

    private static bool Category(System.Text.Json.JsonElement e, string prefix)
        => e.TryGetProperty("category", out var c) && c.GetString()!.StartsWith(prefix, StringComparison.Ordinal);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_ClearProviders_only_Pounce_own_lines_are_written(bool clearAfterUsePounce)
    {
        var sink = new SinkStream();
        var marker = Guid.NewGuid().ToString("N");
        await using (var app = await StartAsync(sink, b => b.Logging.ClearProviders(), clearAfterUsePounce, marker))
        {
            var providers = app.Services.GetServices<ILoggerProvider>().ToArray();
            Assert.DoesNotContain(providers, p => p is ConsoleLoggerProvider or PounceLoggerProvider);
            await GetAsync(app);
            await AccessLogTests.WaitForJsonAsync(sink, e => Category(e, "Pounce.Access"), 1, "access line");
            await app.StopAsync();
        }
        var lines = ParseLines(sink.Written);
        Assert.Single(lines, e => Category(e, "Pounce.Access"));
        Assert.Contains(lines, e => Category(e, "Pounce.Server") && e.GetProperty("message").GetString() == "Pounce stopped");
        Assert.DoesNotContain(lines, e => Category(e, "Microsoft."));
        Assert.DoesNotContain(marker, Encoding.UTF8.GetString(sink.Written), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_Serilog_each_app_line_is_written_once_and_Pounce_lines_still_go_through_its_writer()
    {
        var sink = new SinkStream();
        var marker = Guid.NewGuid().ToString("N");
        var stdout = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(TextWriter.Synchronized(stdout));
        try
        {
            await using (var app = await StartAsync(sink, b =>
            {
                b.Logging.ClearProviders();
                b.Logging.AddSerilog(new LoggerConfiguration().WriteTo.Console().CreateLogger(), dispose: true);
            }, clearAfterUsePounce: false, marker))
            {
                Assert.DoesNotContain(app.Services.GetServices<ILoggerProvider>(), p => p is PounceLoggerProvider);
                await GetAsync(app);
                await AccessLogTests.WaitForJsonAsync(sink, e => Category(e, "Pounce.Access"), 1, "access line");
                await app.StopAsync();
            }
        }
        finally
        {
            Console.SetOut(previous);
        }
        var console = stdout.ToString();
        Assert.Equal(1, Occurrences(console, marker));
        Assert.DoesNotContain(marker, Encoding.UTF8.GetString(sink.Written), StringComparison.Ordinal);
        // Pounce's own lines: through its writer, and through ILogger (Serilog) as well.
        var lines = ParseLines(sink.Written);
        Assert.Single(lines, e => Category(e, "Pounce.Access"));
        Assert.Contains(lines, e => Category(e, "Pounce.Server") && e.GetProperty("message").GetString() == "Pounce stopped");
        Assert.Contains("\"GET /work HTTP/1.1\" 200", console, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_a_console_provider_Pounce_replaces_it_and_app_lines_go_through_the_writer_once()
    {
        var sink = new SinkStream();
        var marker = Guid.NewGuid().ToString("N");
        await using (var app = await StartAsync(sink, _ => { }, clearAfterUsePounce: false, marker))
        {
            var providers = app.Services.GetServices<ILoggerProvider>().ToArray();
            Assert.DoesNotContain(providers, p => p is ConsoleLoggerProvider);
            Assert.Single(providers, p => p is PounceLoggerProvider);
            await GetAsync(app);
            await AccessLogTests.WaitForJsonAsync(sink, e => Category(e, "App.Endpoint"), 1, "app line");
        }
        Assert.Single(Lines(sink.Written), l => l.Contains(marker, StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_LogFile_the_start_up_line_also_goes_to_standard_error_once()
    {
        var logFile = Path.Combine(Path.GetTempPath(), "pounce-stderr-" + Guid.NewGuid().ToString("N") + ".log");
        var stderr = new StringWriter();
        var previous = Console.Error;
        Console.SetError(TextWriter.Synchronized(stderr));
        try
        {
            await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("x"), c => c.LogFile = logFile);
            var mine = stderr.ToString().Split('\n').Where(l => l.Contains(logFile, StringComparison.Ordinal)).ToArray();
            var line = Assert.Single(mine);
            Assert.Equal($"pounce: listening on {server.BaseAddress.ToString().TrimEnd('/')} with 2 workers; log file {logFile}", line.TrimEnd('\r'));
        }
        finally
        {
            Console.SetError(previous);
            File.Delete(logFile);
        }
    }

    private static int Occurrences(string text, string marker)
    {
        var count = 0;
        for (var i = text.IndexOf(marker, StringComparison.Ordinal); i >= 0; i = text.IndexOf(marker, i + marker.Length, StringComparison.Ordinal))
            count++;
        return count;
    }
}
