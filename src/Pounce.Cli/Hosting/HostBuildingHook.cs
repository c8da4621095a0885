using System.Diagnostics;
using Microsoft.Extensions.Hosting;

namespace Pounce.Cli.Hosting;

/// <summary>
/// Watches for the moment an application builds its host: the <c>Microsoft.Extensions.Hosting</c> diagnostic
/// listener's <c>HostBuilding</c> event, whose payload is an <see cref="IHostBuilder"/> (also for apps built with
/// <c>WebApplication.CreateBuilder</c>). Registrations made there come after the app's own, so they win.
/// Only the first host built is changed.
/// </summary>
internal sealed class HostBuildingHook : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
{
    private const string ListenerName = "Microsoft.Extensions.Hosting";
    private const string HostBuildingEvent = "HostBuilding";

    private readonly Action<IHostBuilder> _configure;
    private readonly List<IDisposable> _subscriptions = [];
    private readonly IDisposable _allListeners;
    private int _applied;

    public HostBuildingHook(Action<IHostBuilder> configure)
    {
        _configure = configure;
        _allListeners = DiagnosticListener.AllListeners.Subscribe(this);
    }

    /// <summary>Whether a host was built and configured.</summary>
    public bool Applied => Volatile.Read(ref _applied) == 1;

    void IObserver<DiagnosticListener>.OnNext(DiagnosticListener listener)
    {
        if (listener.Name != ListenerName)
            return;
        lock (_subscriptions)
            _subscriptions.Add(listener.Subscribe(this));
    }

    void IObserver<KeyValuePair<string, object?>>.OnNext(KeyValuePair<string, object?> value)
    {
        if (value.Key == HostBuildingEvent && value.Value is IHostBuilder builder && Interlocked.Exchange(ref _applied, 1) == 0)
            _configure(builder);
    }

    void IObserver<DiagnosticListener>.OnCompleted() { }

    void IObserver<DiagnosticListener>.OnError(Exception error) { }

    void IObserver<KeyValuePair<string, object?>>.OnCompleted() { }

    void IObserver<KeyValuePair<string, object?>>.OnError(Exception error) { }

    public void Dispose()
    {
        _allListeners.Dispose();
        lock (_subscriptions)
        {
            foreach (var subscription in _subscriptions)
                subscription.Dispose();
            _subscriptions.Clear();
        }
    }
}
