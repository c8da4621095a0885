using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pounce.Lifecycle;

namespace Pounce.Logging;

/// <summary>Registers Pounce's lifecycle emitter and log writer.</summary>
public static class PounceLoggingServiceCollectionExtensions
{
    /// <summary>Adds the lifecycle emitter (and, with it, Pounce's line writer) to the services.</summary>
    public static IServiceCollection AddPounceLogging(this IServiceCollection services)
    {
        services.TryAddSingleton(sp => new LifecycleEmitter(sp.GetRequiredService<IOptions<ServerConfig>>().Value));
        return services;
    }
}
