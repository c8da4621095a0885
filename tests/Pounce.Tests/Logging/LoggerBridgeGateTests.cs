using System.Diagnostics.Tracing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Debug;
using Microsoft.Extensions.Logging.EventSource;
using Pounce.Lifecycle;
using Pounce.Logging;

namespace Pounce.Tests.Logging;

/// <summary>
/// The ILogger bridge of lifecycle and access lines skips building their state while the only providers are ones that
/// cannot write (the EventSource provider with no listener, the Debug provider with no debugger), and builds it again
/// as soon as a listener attaches; with any other provider it always does.
/// </summary>
public class LoggerBridgeGateTests
{
    private static ServiceProvider Services(Action<ILoggingBuilder> logging)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => logging(b.AddConsole()));
        services.AddOptions<ServerConfig>().Configure(c => c.AccessLog = true);
        services.AddSingleton(_ => new LogLineWriter(Stream.Null, LogFormat.Json, 1024, ownsStream: false));
        services.AddPounceLogging();
        return services.BuildServiceProvider();
    }

    [Fact]
    public void The_template_providers_give_a_gate_closed_without_a_listener_and_open_with_one()
    {
        using var services = Services(b => b.AddEventSourceLogger().AddDebug());
        var emitter = services.GetRequiredService<LifecycleEmitter>();
        var gate = emitter.BridgeGate;
        Assert.NotNull(gate);
        // The EventSource provider says it is enabled even with nobody listening: that is why the gate exists.
        Assert.True(services.GetRequiredService<ILoggerFactory>().CreateLogger(LifecycleEmitter.AccessCategory).IsEnabled(LogLevel.Information));

        // Another test's listener may have the source on for a moment; ours decides what is asserted below.
        using (var listener = new LoggingListener())
        {
            Assert.True(gate.IsOpen, "a listener on Microsoft-Extensions-Logging must open the gate");
        }
        if (!EventSource.GetSources().Any(s => s.Name == "Microsoft-Extensions-Logging" && s.IsEnabled()))
            Assert.False(gate.IsOpen);
    }

    [Fact]
    public void A_listener_receives_the_access_line_through_the_bridge()
    {
        using var services = Services(b => b.AddEventSourceLogger());
        var emitter = services.GetRequiredService<LifecycleEmitter>();
        using var listener = new LoggingListener();
        var c = Lifecycle.LifecycleTestKit.Connection(7);
        var r = Lifecycle.LifecycleTestKit.Request(c, 1);
        Lifecycle.LifecycleTestKit.Serve(emitter, c, r);
        Assert.Contains(listener.Loggers, name => name == LifecycleEmitter.AccessCategory);
    }

    [Fact]
    public void Any_other_provider_or_factory_leaves_the_bridge_always_open()
    {
        using (var services = Services(b => b.AddEventSourceLogger().AddProvider(new PounceLoggingTests.CapturingProvider())))
            Assert.Null(services.GetRequiredService<LifecycleEmitter>().BridgeGate);

        Assert.Null(LoggerBridgeGate.For(NullLoggerFactory.Instance, []));
        using var factory = new LoggerFactory();
        var debugOnly = LoggerBridgeGate.For(factory, [new DebugLoggerProvider()]);
        Assert.NotNull(debugOnly);
        Assert.Equal(System.Diagnostics.Debugger.IsAttached, debugOnly.IsOpen);
    }

    /// <summary>A tracing session on the logging event source, as dotnet-trace would start, recording logger names.</summary>
    private sealed class LoggingListener : EventListener
    {
        public readonly System.Collections.Concurrent.ConcurrentBag<string> Loggers = [];

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Extensions-Logging")
                EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)2); // Message keyword
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            var index = eventData.PayloadNames?.IndexOf("LoggerName") ?? -1;
            if (index >= 0 && eventData.Payload?[index] is string name)
                Loggers.Add(name);
        }
    }
}
