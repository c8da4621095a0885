using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Pounce.Lifecycle;
using Pounce.Telemetry;

namespace Pounce.Logging;

/// <summary>Registers Pounce's lifecycle emitter, log writer and logger provider.</summary>
public static class PounceLoggingServiceCollectionExtensions
{
    /// <summary>
    /// Adds Pounce's logging to the services:
    /// <list type="bullet">
    /// <item><see cref="LogLineWriter"/>, a singleton built from <c>IOptions&lt;ServerConfig&gt;</c> (standard output or
    /// <see cref="ServerConfig.LogFile"/>, <see cref="ServerConfig.LogFormat"/>); the container disposes it when the
    /// host stops, which writes every queued line and flushes;</item>
    /// <item><see cref="PounceMetrics"/>, a singleton on a meter from the container's <see cref="System.Diagnostics.Metrics.IMeterFactory"/>
    /// (meter <c>Pounce</c>; it measures nothing until a listener enables an instrument);</item>
    /// <item><see cref="LifecycleEmitter"/>, a singleton with that writer, the <see cref="ILoggerFactory"/> (the
    /// <c>Pounce.Lifecycle</c>/<c>Pounce.Access</c> bridge), every <see cref="ILifecycleObserver"/> registered in
    /// the container and the metrics;</item>
    /// <item><see cref="PounceLoggerProvider"/> as an <see cref="ILoggerProvider"/>, in place of the console provider
    /// when one is registered (its registrations are removed; other providers stay), so the application's own log lines
    /// go through the same writer in the same format. Where no console provider is registered (the application called
    /// <c>ClearProviders()</c>, or logs through Serilog or another provider) nothing is added: the application's lines
    /// go where it sends them, once, and Pounce's own lines (lifecycle, access log, start-up, server errors) still go
    /// through the writer.</item>
    /// </list>
    /// Calling it more than once has no further effect (call it after the application's providers are registered).
    /// </summary>
    public static IServiceCollection AddPounceLogging(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddLogging();
        services.AddMetrics();
        services.TryAddSingleton(sp => new LogLineWriter(Config(sp)));
        services.TryAddSingleton(sp => new PounceMetrics(
            sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetRequiredService<LogLineWriter>()));
        services.TryAddSingleton(sp => new LifecycleEmitter(
            Config(sp),
            sp.GetRequiredService<LogLineWriter>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetServices<ILifecycleObserver>(),
            sp.GetRequiredService<PounceMetrics>())
        {
            BridgeGate = LoggerBridgeGate.For(sp.GetService<ILoggerFactory>(), sp.GetServices<ILoggerProvider>()),
        });

        // Pounce's provider takes the console provider's place, and only where the application has one: an application
        // that cleared its providers, or logs through Serilog or another provider, keeps exactly that (Pounce's own
        // lines still reach the writer: see PounceOwnLogger).
        var hadConsole = false;
        for (var i = services.Count - 1; i >= 0; i--)
        {
            var d = services[i];
            if (d.ServiceType == typeof(ILoggerProvider) && !d.IsKeyedService && d.ImplementationType == typeof(ConsoleLoggerProvider))
            {
                services.RemoveAt(i);
                hadConsole = true;
            }
        }
        if (hadConsole)
        {
            services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoggerProvider, PounceLoggerProvider>(
                sp => new PounceLoggerProvider(sp.GetRequiredService<LogLineWriter>())));
        }
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<LoggerFilterOptions>, PounceCategoryLevel>());
        return services;
    }

    /// <summary>
    /// Registers a lifecycle observer (a singleton) that the emitter hands every emitted event to. Register it before
    /// the server starts (the emitter reads the observers once, when it is created); at run time use
    /// <see cref="LifecycleEmitter.AddObserver"/> instead.
    /// </summary>
    public static IServiceCollection AddLifecycleObserver<TObserver>(this IServiceCollection services)
        where TObserver : class, ILifecycleObserver
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILifecycleObserver, TObserver>());
        return services;
    }

    /// <summary>
    /// Makes the <c>Pounce</c> categories (the server's own messages, <c>Pounce.Lifecycle</c>, <c>Pounce.Access</c>)
    /// follow <see cref="ServerConfig.LogLevel"/> for every provider, unless the <c>Logging</c> configuration already
    /// has a rule for a <c>Pounce</c> category, which then wins.
    /// </summary>
    private sealed class PounceCategoryLevel(IOptions<ServerConfig> config) : IPostConfigureOptions<LoggerFilterOptions>
    {
        public void PostConfigure(string? name, LoggerFilterOptions options)
        {
            if (options.Rules.Any(r => r.CategoryName is not null && r.CategoryName.StartsWith("Pounce", StringComparison.Ordinal)))
                return;
            options.Rules.Add(new LoggerFilterRule(null, "Pounce", config.Value.LogLevel, null));
        }
    }

    private static ServerConfig Config(IServiceProvider sp) => sp.GetRequiredService<IOptions<ServerConfig>>().Value;
}
