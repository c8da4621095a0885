using Pounce.Connections;

namespace Pounce.Lifecycle;

/// <summary>
/// The one receiver of lifecycle facts for a server. Protocol and connection code call it at each step of a
/// connection's life; it applies the level gate, the health-check filter and the slow flag, and hands events
/// to the observers (line writer, ILogger bridge, access log, tests).
/// </summary>
public sealed class LifecycleEmitter
{
    private readonly ServerConfig _config;

    /// <summary>Creates the emitter for a server with these settings.</summary>
    public LifecycleEmitter(ServerConfig config)
    {
        _config = config;
    }

    /// <summary>The settings the emitter applies.</summary>
    public ServerConfig Config => _config;

    /// <summary>A connection was accepted and its protocol is known (or it ended before that).</summary>
    public void ConnectionOpened(ConnectionInfo connection) { }

    /// <summary>A request head was parsed, before the application runs.</summary>
    public void RequestStarted(ConnectionInfo connection, RequestInfo request) { }

    /// <summary>The last byte of a response was handed to the transport.</summary>
    public void ResponseCompleted(ConnectionInfo connection, RequestInfo request) { }

    /// <summary>The client went away while a request was in flight.</summary>
    public void ClientDisconnected(ConnectionInfo connection, RequestInfo request) { }

    /// <summary>The connection switched protocols (101).</summary>
    public void ConnectionUpgraded(ConnectionInfo connection, RequestInfo request) { }

    /// <summary>The connection closed; its reason is <see cref="ConnectionInfo.End"/>.</summary>
    public void ConnectionCompleted(ConnectionInfo connection) { }
}
