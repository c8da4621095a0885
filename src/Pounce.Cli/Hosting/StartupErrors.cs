using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Pounce.Cli.Hosting;

/// <summary>
/// Until the host has started, the host's own "Hosting failed to start" error line (with its stack trace) is not
/// written: the command reports the same failure as one line (<c>pounce: ...</c>, exit 2 for a configuration error).
/// Once started, the host's errors are written as usual.
/// </summary>
internal sealed class StartupErrors : IHostedService
{
    private const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";
    private readonly IHostApplicationLifetime _lifetime;
    private readonly State _state;

    public StartupErrors(IHostApplicationLifetime lifetime, State state)
    {
        _lifetime = lifetime;
        _state = state;
    }

    /// <summary>Registers the filter and the service that ends the start-up phase.</summary>
    public static void Add(IServiceCollection services)
    {
        var state = new State();
        services.AddSingleton(state);
        services.AddHostedService<StartupErrors>();
        services.AddLogging(logging => logging.AddFilter(HostCategory, level => level >= LogLevel.Warning && !(state.Starting && level >= LogLevel.Error)));
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _lifetime.ApplicationStarted.Register(static s => ((State)s!).Starting = false, _state);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Whether the host is still starting.</summary>
    internal sealed class State
    {
        private volatile bool _starting = true;

        public bool Starting
        {
            get => _starting;
            set => _starting = value;
        }
    }
}
