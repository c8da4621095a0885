using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Pounce.Connections;
using Pounce.Lifecycle;
using Pounce.Logging;
using Pounce.Tests.Lifecycle;
using static Pounce.Tests.Lifecycle.LifecycleTestKit;

namespace Pounce.Tests.Logging;

public class PounceLoggingTests
{
    private static ServiceProvider Services(SinkStream sink, Action<ServerConfig> configure, Action<IServiceCollection>? more = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddConsole().SetMinimumLevel(LogLevel.Debug));
        services.AddOptions<ServerConfig>().Configure(configure);
        services.AddSingleton(sp => new LogLineWriter(sink, LogFormat.Json, 1024, ownsStream: false));
        more?.Invoke(services);
        services.AddPounceLogging();
        return services.BuildServiceProvider();
    }

    [Fact]
    public void AddPounceLogging_replaces_the_console_provider_and_keeps_the_others()
    {
        var sink = new SinkStream();
        using var sp = Services(sink, _ => { }, s => s.AddSingleton<ILoggerProvider, CapturingProvider>());
        var providers = sp.GetServices<ILoggerProvider>().ToArray();
        Assert.DoesNotContain(providers, p => p is ConsoleLoggerProvider);
        Assert.Single(providers, p => p is PounceLoggerProvider);
        Assert.Single(providers, p => p is CapturingProvider);
        Assert.Same(sp.GetRequiredService<LogLineWriter>(), sp.GetRequiredService<LifecycleEmitter>().Writer);
    }

    [Fact]
    public async Task With_UsePounce_a_web_application_logs_through_Pounce_only()
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder(new Microsoft.AspNetCore.Builder.WebApplicationOptions
        {
            EnvironmentName = "Production",
        });
        var sink = new SinkStream();
        builder.Services.AddSingleton(_ => new LogLineWriter(sink, LogFormat.Json, 1024, ownsStream: false));
        Pounce.Hosting.PounceWebHostBuilderExtensions.UsePounce(builder.WebHost);
        await using (var app = builder.Build())
        {
            var providers = app.Services.GetServices<ILoggerProvider>().ToArray();
            Assert.DoesNotContain(providers, p => p is ConsoleLoggerProvider);
            Assert.Contains(providers, p => p is PounceLoggerProvider);
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("App").LogWarning("from the app");
        }
        var line = Assert.Single(ParseLines(sink.Written));
        Assert.Equal("from the app", line.GetProperty("message").GetString());
    }

    [Fact]
    public void Application_log_messages_go_through_the_writer_as_json_and_are_flushed_on_dispose()
    {
        var sink = new SinkStream();
        using (var sp = Services(sink, _ => { }))
        {
            var logger = sp.GetRequiredService<ILogger<PounceLoggingTests>>();
            logger.LogInformation(new EventId(7, "Hello"), "Hello {Name} number {Count}", "wor\"ld\n", 3);
            logger.LogError(new InvalidOperationException("boom"), "Failed");
        }
        var lines = ParseLines(sink.Written);
        Assert.Equal(2, lines.Length);
        Assert.Equal(["timestamp", "level", "category", "message", "event_id", "Name", "Count"], Keys(lines[0]));
        Assert.Equal(typeof(PounceLoggingTests).FullName, lines[0].GetProperty("category").GetString());
        Assert.Equal("Hello wor\"ld\n number 3", lines[0].GetProperty("message").GetString());
        Assert.Equal(3, lines[0].GetProperty("Count").GetInt32());
        Assert.Equal("error", lines[1].GetProperty("level").GetString());
        Assert.Contains("InvalidOperationException: boom", lines[1].GetProperty("exception").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Lifecycle_events_are_written_once_and_bridged_to_other_providers_with_structured_fields()
    {
        var sink = new SinkStream();
        var captured = new CapturingProvider();
        using (var sp = Services(sink, config =>
        {
            config.LifecycleLogging = true;
            config.LogLevel = LogLevel.Debug;
        }, s => s.AddSingleton<ILoggerProvider>(captured)))
        {
            var emitter = sp.GetRequiredService<LifecycleEmitter>();
            var c = Connection(11, worker: 2);
            emitter.ConnectionOpened(c);
            Serve(emitter, c, Request(c, 1, path: "/a"));
            c.ReportEnd(ConnectionEnd.ClientClosedIdle);
            emitter.ConnectionCompleted(c);
        }

        var lines = ParseLines(sink.Written);
        var events = lines.Where(l => l.TryGetProperty("event", out _)).Select(l => l.GetProperty("event").GetString()!).ToArray();
        Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted", "ConnectionCompleted"], events);
        Assert.Single(lines, l => l.TryGetProperty("category", out var cat) && cat.GetString() == "Pounce.Access");
        Assert.Equal(5, lines.Length);

        var bridged = captured.Entries.Where(e => e.Category == "Pounce.Lifecycle").ToArray();
        Assert.Equal(4, bridged.Length);
        Assert.Equal(OpenedKeys, bridged[0].State.Select(kv => kv.Key));
        Assert.Equal(11L, bridged[0].State.First(kv => kv.Key == "connection_id").Value);
        Assert.StartsWith("ConnectionOpened connection_id=11 worker_id=2 ", bridged[0].Message, StringComparison.Ordinal);
        var access = Assert.Single(captured.Entries, e => e.Category == "Pounce.Access");
        Assert.Equal("/a", access.State.First(kv => kv.Key == "path").Value);
        Assert.StartsWith("203.0.113.7 - - [", access.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Observers_registered_in_DI_receive_events()
    {
        var sink = new SinkStream();
        var observer = new RecordingObserver();
        using var sp = Services(sink, config =>
        {
            config.LifecycleLogging = true;
            config.LogLevel = LogLevel.Debug;
        }, s => s.AddSingleton<ILifecycleObserver>(observer));
        var emitter = sp.GetRequiredService<LifecycleEmitter>();
        var c = Connection();
        emitter.ConnectionOpened(c);
        emitter.ConnectionCompleted(c);
        Assert.Equal([LifecycleEventKind.ConnectionOpened, LifecycleEventKind.ConnectionCompleted], observer.Kinds);
    }

    [Fact]
    public void AddLifecycleObserver_registers_an_observer_type()
    {
        var sink = new SinkStream();
        using var sp = Services(sink, config =>
        {
            config.LifecycleLogging = true;
            config.LogLevel = LogLevel.Debug;
        }, s => s.AddLifecycleObserver<CountingObserver>().AddLifecycleObserver<CountingObserver>());
        var emitter = sp.GetRequiredService<LifecycleEmitter>();
        emitter.ConnectionOpened(Connection());
        Assert.Equal(1, Assert.IsType<CountingObserver>(Assert.Single(sp.GetServices<ILifecycleObserver>())).Count);
    }

    internal sealed class CountingObserver : ILifecycleObserver
    {
        public int Count;

        public void OnEvent(in LifecycleEvent e) => Interlocked.Increment(ref Count);
    }

    [Fact]
    public void Without_other_providers_the_bridge_builds_nothing()
    {
        var sink = new SinkStream();
        using var sp = Services(sink, config =>
        {
            config.LifecycleLogging = true;
            config.LogLevel = LogLevel.Debug;
        });
        var factory = sp.GetRequiredService<ILoggerFactory>();
        Assert.False(factory.CreateLogger(LifecycleEmitter.LifecycleCategory).IsEnabled(LogLevel.Critical));
        Assert.False(factory.CreateLogger(LifecycleEmitter.AccessCategory).IsEnabled(LogLevel.Critical));
        Assert.True(factory.CreateLogger("Pounce.Hosting").IsEnabled(LogLevel.Information));
    }

    [Fact]
    public void Pounce_categories_follow_the_configured_level_unless_configuration_says_otherwise()
    {
        var sink = new SinkStream();
        using (var sp = Services(sink, config => config.LogLevel = LogLevel.Debug, s => s.AddLogging(b => b.SetMinimumLevel(LogLevel.Information))))
        {
            var factory = sp.GetRequiredService<ILoggerFactory>();
            factory.CreateLogger("Pounce.Hosting.PounceServer").LogDebug("server debug");
            factory.CreateLogger("Other").LogDebug("other debug");
        }
        var line = Assert.Single(ParseLines(sink.Written));
        Assert.Equal("server debug", line.GetProperty("message").GetString());

        var quiet = new SinkStream();
        using (var sp = Services(quiet, config => config.LogLevel = LogLevel.Debug, s => s.AddLogging(b => b.AddFilter("Pounce.Hosting", LogLevel.Warning))))
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Pounce.Hosting.PounceServer").LogInformation("hidden");
        Assert.Empty(ParseLines(quiet.Written));
    }

    [Fact]
    public async Task The_log_file_setting_appends_to_the_file()
    {
        var dir = Directory.CreateTempSubdirectory("pounce-log-");
        try
        {
            var path = Path.Combine(dir.FullName, "app.log");
            File.WriteAllText(path, "{\"existing\":true}\n");
            var writer = new LogLineWriter(new ServerConfig { LogFile = path, LogFormat = LogFormat.Json });
            writer.WriteLogMessage(DateTime.UtcNow, LogLevel.Information, "Test", default, "hello", null, null);
            await writer.DisposeAsync();
            var lines = ParseLines(File.ReadAllBytes(path));
            Assert.Equal(2, lines.Length);
            Assert.Equal("hello", lines[1].GetProperty("message").GetString());

            var bad = Assert.Throws<InvalidOperationException>(() => new LogLineWriter(new ServerConfig { LogFile = Path.Combine(dir.FullName, "missing", "x.log") }));
            Assert.StartsWith("Invalid Pounce setting LogFile = ", bad.Message, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    internal sealed record Entry(string Category, LogLevel Level, string Message, IReadOnlyList<KeyValuePair<string, object?>> State);

    internal sealed class CapturingProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<Entry> _entries = new();

        public IReadOnlyList<Entry> Entries => _entries.ToArray();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<Entry> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => entries.Enqueue(new Entry(category, logLevel, formatter(state, exception),
                    state as IReadOnlyList<KeyValuePair<string, object?>> ?? []));
        }
    }
}
