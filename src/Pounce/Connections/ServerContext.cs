using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Pounce.Features;
using Pounce.Lifecycle;
using Pounce.Transport;

namespace Pounce.Connections;

/// <summary>What every connection of one server shares: settings, the application, the emitter, the clock.</summary>
internal sealed class ServerContext
{
    private int _stopping;

    public ServerContext(ServerConfig config, RequestApplication application, LifecycleEmitter emitter, ILogger logger)
    {
        Config = config;
        Application = application;
        Emitter = emitter;
        Logger = logger;
        Heartbeat = new Heartbeat(Heartbeat.IntervalFor(config), OnHeartbeat);
    }

    public ServerConfig Config { get; }

    public RequestApplication Application { get; }

    public LifecycleEmitter Emitter { get; }

    public ILogger Logger { get; }

    public Heartbeat Heartbeat { get; }

    /// <summary>Live connections by id.</summary>
    public ConcurrentDictionary<long, Connection> Connections { get; } = new();

    /// <summary>Accepted connections currently counted against <c>MaxConnections</c>.</summary>
    public int ActiveConnections => Volatile.Read(ref _active);

    private int _active;
    private long _lastConnectionId;

    public bool IsStopping => Volatile.Read(ref _stopping) != 0;

    public void BeginStopping() => Volatile.Write(ref _stopping, 1);

    public long NextConnectionId() => Interlocked.Increment(ref _lastConnectionId);

    /// <summary>Takes a slot under <c>MaxConnections</c>; false when the server is full.</summary>
    public bool TryAdmit()
    {
        if (Interlocked.Increment(ref _active) <= Config.MaxConnections)
            return true;
        Interlocked.Decrement(ref _active);
        return false;
    }

    public void Release() => Interlocked.Decrement(ref _active);

    private int _upgraded;

    /// <summary>Whether an upgrade would be admitted now (a hint: <see cref="TryAdmitUpgrade"/> decides).</summary>
    public bool CanAdmitUpgrade => Volatile.Read(ref _upgraded) < Config.MaxConcurrentUpgradedConnections;

    /// <summary>Takes a slot under <c>MaxConcurrentUpgradedConnections</c>; false when at the limit.</summary>
    public bool TryAdmitUpgrade()
    {
        if (Interlocked.Increment(ref _upgraded) <= Config.MaxConcurrentUpgradedConnections)
            return true;
        Interlocked.Decrement(ref _upgraded);
        return false;
    }

    public void ReleaseUpgrade() => Interlocked.Decrement(ref _upgraded);

    private void OnHeartbeat(long nowTicks)
    {
        foreach (var pair in Connections)
            pair.Value.OnHeartbeat(nowTicks);
    }
}
