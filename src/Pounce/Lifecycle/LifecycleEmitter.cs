using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Logging;
using Pounce.Telemetry;

namespace Pounce.Lifecycle;

/// <summary>
/// The one receiver of lifecycle facts for a server. Protocol and connection code call it at each step of a
/// connection's life; it applies the level gate, the health-check filter and the slow flag, and hands events
/// to the observers (line writer, ILogger bridge, access log, tests).
/// </summary>
/// <remarks>
/// <para>Thread-safe and lock-free: it is called concurrently from every connection (and every HTTP/2 stream). Its
/// only per-connection state is <see cref="ConnectionInfo.LifecycleState"/>, changed with interlocked operations.</para>
/// <para>Level gate: an event below <see cref="ServerConfig.LogLevel"/> is never built. <c>ResponseCompleted</c> is
/// info when slow, else debug; <c>ClientDisconnected</c> is a warning; the rest are debug. With
/// <see cref="ServerConfig.LifecycleLogging"/> off nothing runs but the access log.</para>
/// <para>Health-check filter: with <see cref="ServerConfig.HealthCheckPath"/> set, <c>ConnectionOpened</c> is held
/// until the first request head is known; requests to that path emit nothing; a connection that only ever carried
/// health checks emits nothing at all; a connection that carried no request still emits opened and completed.
/// Health checks that succeed (2xx/3xx) have no access-log line either. One that fails (any other status, or abandoned
/// by the client) is logged like any request: its held-back <c>RequestStarted</c> (timed at its start) is emitted
/// with its ending, and it has its access-log line.</para>
/// <para>Access log: one line per request that reached the server, at its end: <see cref="ResponseCompleted"/>,
/// <see cref="ClientDisconnected"/> (status 499 with <c>during_streaming</c>) and <see cref="ServerAnswered"/> (the
/// server's own answers).</para>
/// <para>Metrics: every fact also goes to <see cref="PounceMetrics"/> (when the emitter has one), before the level gate
/// and the health-check filter, so the metrics count every connection and request whatever the log level.</para>
/// <para>Each event goes, in this order, to the <see cref="LogLineWriter"/> (when there is one), to the observers, and
/// to <see cref="ILogger"/> category <see cref="LifecycleCategory"/> when a provider other than Pounce's own is
/// enabled for it (Pounce's provider ignores that category: the writer has already written the line).</para>
/// </remarks>
public sealed class LifecycleEmitter
{
    /// <summary>The <see cref="ILogger"/> category of lifecycle events.</summary>
    public const string LifecycleCategory = "Pounce.Lifecycle";

    /// <summary>The <see cref="ILogger"/> category of access-log lines.</summary>
    public const string AccessCategory = "Pounce.Access";

    // ConnectionInfo.LifecycleState: the low two bits track ConnectionOpened, the others are flags.
    private const int OpenMask = 3;
    private const int OpenNone = 0;
    private const int OpenHeld = 1;
    private const int OpenEmitting = 2;
    private const int OpenDone = 3;
    private const int HealthSeen = 4;
    private const int CompletedFlag = 8;

    private readonly ServerConfig _config;
    private readonly LogLineWriter? _writer;
    private readonly ILogger? _lifecycleLogger;
    private readonly ILogger? _accessLogger;
    private readonly PounceMetrics? _metrics;
    private readonly object _observerGate = new();
    private ILifecycleObserver[] _observers = [];
    private long _observerFaults;

    private readonly bool _on;
    private readonly bool _debug;
    private readonly bool _info;
    private readonly bool _warning;
    private readonly bool _access;
    private readonly string? _healthPath;
    private readonly double _slowMs;
    private readonly LoggerBridgeGate? _bridgeGate;

    /// <summary>Creates the emitter for a server with these settings. It writes no lines: events reach only the
    /// observers added with <see cref="AddObserver"/>. Servers get the fully wired emitter from DI
    /// (<see cref="PounceLoggingServiceCollectionExtensions.AddPounceLogging"/>).</summary>
    public LifecycleEmitter(ServerConfig config)
        : this(config, null, null, null)
    {
    }

    /// <summary>Creates the emitter for a server with these settings.</summary>
    /// <param name="config">The server's settings (read once, here).</param>
    /// <param name="writer">Where lifecycle and access-log lines are written; null for none.</param>
    /// <param name="loggerFactory">Source of the <see cref="LifecycleCategory"/> and <see cref="AccessCategory"/> loggers
    /// of the ILogger bridge; null for no bridge.</param>
    /// <param name="observers">Observers receiving every emitted event.</param>
    /// <param name="metrics">The server's metrics, told every lifecycle fact whatever the log level; null for none.</param>
    public LifecycleEmitter(ServerConfig config, LogLineWriter? writer, ILoggerFactory? loggerFactory = null,
        IEnumerable<ILifecycleObserver>? observers = null, PounceMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        _config = config;
        _writer = writer;
        _metrics = metrics;
        if (loggerFactory is not null)
        {
            _lifecycleLogger = loggerFactory.CreateLogger(LifecycleCategory);
            _accessLogger = loggerFactory.CreateLogger(AccessCategory);
        }
        if (observers is not null)
            _observers = observers.ToArray();

        var min = config.LogLevel;
        bool Enabled(LogLevel level) => min != LogLevel.None && level >= min;
        _on = config.LifecycleLogging;
        _debug = _on && Enabled(LogLevel.Debug);
        _info = _on && Enabled(LogLevel.Information);
        _warning = _on && Enabled(LogLevel.Warning);
        _access = config.AccessLog && Enabled(LogLevel.Information);
        _healthPath = string.IsNullOrEmpty(config.HealthCheckPath) ? null : config.HealthCheckPath;
        _slowMs = config.LogSlowRequestsThreshold * 1000.0;
    }

    /// <summary>The settings the emitter applies.</summary>
    public ServerConfig Config => _config;

    /// <summary>When set, the ILogger bridge builds an event's state only while the gate is open (see
    /// <see cref="LoggerBridgeGate"/>); unset, whenever its logger is enabled.</summary>
    internal LoggerBridgeGate? BridgeGate
    {
        get => _bridgeGate;
        init => _bridgeGate = value;
    }

    private bool BridgeOpen => _bridgeGate is null || _bridgeGate.IsOpen;

    /// <summary>The line writer, when the emitter has one.</summary>
    public LogLineWriter? Writer => _writer;

    /// <summary>The metrics the emitter reports to, when it has them.</summary>
    public PounceMetrics? Metrics => _metrics;

    /// <summary>Exceptions thrown by observers (caught, so they never reach the protocol code).</summary>
    public long ObserverFaults => Interlocked.Read(ref _observerFaults);

    /// <summary>Whether any lifecycle event can be emitted (<see cref="ServerConfig.LifecycleLogging"/> on and a level that lets one through).</summary>
    public bool IsEnabled => _warning || _info || _debug;

    /// <summary>
    /// Adds an observer that receives every event emitted from now on; dispose the result to remove it.
    /// Registration takes a lock and copies the observer list; emitting reads it without locking.
    /// </summary>
    public IDisposable AddObserver(ILifecycleObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        lock (_observerGate)
            _observers = [.. _observers, observer];
        return new Registration(this, observer);
    }

    private void RemoveObserver(ILifecycleObserver observer)
    {
        lock (_observerGate)
        {
            var i = Array.IndexOf(_observers, observer);
            if (i < 0)
                return;
            var list = _observers.ToList();
            list.RemoveAt(i);
            _observers = list.ToArray();
        }
    }

    /// <summary>A connection was accepted and its protocol is known (or it ended before that).</summary>
    public void ConnectionOpened(ConnectionInfo connection)
    {
        _metrics?.OnConnectionOpened(connection);
        if (!_debug)
            return;
        ref var state = ref connection.LifecycleState;
        if (_healthPath is not null)
        {
            // Held until the first request head tells whether this is a health-check connection.
            var s = Volatile.Read(ref state);
            while ((s & OpenMask) == OpenNone)
            {
                var seen = Interlocked.CompareExchange(ref state, s | OpenHeld, s);
                if (seen == s)
                    return;
                s = seen;
            }
            return;
        }
        EnsureOpened(connection, DateTime.UtcNow);
    }

    /// <summary>A request head was parsed, before the application runs.</summary>
    public void RequestStarted(ConnectionInfo connection, RequestInfo request)
    {
        _metrics?.OnRequestStarted(connection, request);
        if (!_on)
            return;
        if (IsHealthCheck(request))
        {
            if (_debug)
                Interlocked.Or(ref connection.LifecycleState, HealthSeen);
            return;
        }
        if (!_debug || IsCompleted(connection))
            return;
        EnsureOpened(connection, connection.OpenedUtc);
        Dispatch(new LifecycleEvent(LifecycleEventKind.RequestStarted, LogLevel.Debug, DateTime.UtcNow, connection, request));
    }

    /// <summary>The last byte of a response was handed to the transport. Also writes the access-log line.</summary>
    public void ResponseCompleted(ConnectionInfo connection, RequestInfo request)
    {
        _metrics?.OnRequestEnded(connection, request);
        if (!_access && !(_on && (_debug || _info)))
            return;
        var duration = request.DurationMs;
        var health = IsHealthCheck(request);
        if (health && request.Status is >= 200 and < 400)
            return; // a health check that succeeded: silent everywhere
        if (_access)
            Access(connection, request, duration, request.Status, abandoned: false);
        if (!_on)
            return;
        var slow = !request.IsStreaming && duration >= _slowMs;
        if (!(slow ? _info : _debug) || IsCompleted(connection))
            return;
        if (_debug)
        {
            EnsureOpened(connection, connection.OpenedUtc);
            if (health)
                HealthCheckStarted(connection, request, duration);
        }
        Dispatch(new LifecycleEvent(LifecycleEventKind.ResponseCompleted, slow ? LogLevel.Information : LogLevel.Debug,
            EndUtc(request), connection, request, duration, slow));
    }

    /// <summary>The client went away while a request was in flight. Also writes the access-log line (status 499).</summary>
    public void ClientDisconnected(ConnectionInfo connection, RequestInfo request)
    {
        _metrics?.OnRequestEnded(connection, request);
        if (!_access && !_warning)
            return;
        var duration = request.DurationMs;
        if (_access)
            Access(connection, request, duration, ClientClosedRequest, abandoned: true);
        var health = IsHealthCheck(request); // an abandoned health check did not succeed: logged like any request
        if (!_warning || IsCompleted(connection))
            return;
        if (_debug)
        {
            EnsureOpened(connection, connection.OpenedUtc);
            if (health)
                HealthCheckStarted(connection, request, duration);
        }
        Dispatch(new LifecycleEvent(LifecycleEventKind.ClientDisconnected, LogLevel.Warning, EndUtc(request), connection, request,
            duration));
    }

    /// <summary>
    /// The server answered a request head itself, without running the application (400 for a malformed head, 408,
    /// 413, 414, 431, 501, 505; 503 at <c>MaxConnections</c>): <paramref name="request"/> has <c>Status</c> set, and
    /// whatever of the head was parsed (<c>Method</c> empty when the request line was not). Writes its access-log line;
    /// there is no lifecycle request event for it (the connection's <c>ConnectionCompleted</c> tells the reason).
    /// </summary>
    public void ServerAnswered(ConnectionInfo connection, RequestInfo request)
    {
        if (!_access)
            return;
        Access(connection, request, request.DurationMs, request.Status, abandoned: false);
    }

    /// <summary>The status nginx writes for a request the client abandoned before its response was complete.</summary>
    public const int ClientClosedRequest = 499;

    /// <summary>The <c>RequestStarted</c> held back for a health check that turned out to fail, timed at its start.</summary>
    private void HealthCheckStarted(ConnectionInfo connection, RequestInfo request, double durationMs)
        => Dispatch(new LifecycleEvent(LifecycleEventKind.RequestStarted, LogLevel.Debug,
            DateTime.UtcNow - TimeSpan.FromMilliseconds(durationMs), connection, request));

    /// <summary>The connection switched protocols (101).</summary>
    public void ConnectionUpgraded(ConnectionInfo connection, RequestInfo request)
    {
        _metrics?.OnConnectionUpgraded(connection);
        if (!_debug || IsHealthCheck(request) || IsCompleted(connection))
            return;
        EnsureOpened(connection, connection.OpenedUtc);
        Dispatch(new LifecycleEvent(LifecycleEventKind.ConnectionUpgraded, LogLevel.Debug, DateTime.UtcNow, connection, request));
    }

    /// <summary>The connection closed; its reason is <see cref="ConnectionInfo.End"/>. Only the first call for a
    /// connection emits; nothing is emitted for the connection afterwards.</summary>
    public void ConnectionCompleted(ConnectionInfo connection)
    {
        _metrics?.OnConnectionCompleted(connection);
        if (!_on)
            return;
        var previous = Interlocked.Or(ref connection.LifecycleState, CompletedFlag);
        if ((previous & CompletedFlag) != 0 || !_debug)
            return;
        if ((previous & OpenMask) is OpenNone or OpenHeld && (previous & HealthSeen) != 0)
            return; // only ever carried health checks (so its opened event was never written): silent
        EnsureOpened(connection, connection.OpenedUtc);
        Dispatch(new LifecycleEvent(LifecycleEventKind.ConnectionCompleted, LogLevel.Debug, DateTime.UtcNow, connection, null,
            connection.DurationMs));
    }

    private bool IsHealthCheck(RequestInfo request)
    {
        if (request.IsHealthCheck)
            return true;
        if (_healthPath is null || !string.Equals(request.Path, _healthPath, StringComparison.Ordinal))
            return false;
        request.IsHealthCheck = true;
        return true;
    }

    // When the request ended, from the timestamp its protocol took then (no second clock read); now if it has none.
    private static DateTime EndUtc(RequestInfo request)
        => request.EndTimestamp != 0 ? WallClock.UtcAt(request.EndTimestamp) : DateTime.UtcNow;

    private static bool IsCompleted(ConnectionInfo connection) => (Volatile.Read(ref connection.LifecycleState) & CompletedFlag) != 0;

    /// <summary>
    /// Emits the connection's <c>ConnectionOpened</c> if nobody has yet, exactly once even when HTTP/2 streams race;
    /// a thread that loses the race waits for the winner so the opened event is always written first.
    /// </summary>
    private void EnsureOpened(ConnectionInfo connection, DateTime timestampUtc)
    {
        ref var state = ref connection.LifecycleState;
        var s = Volatile.Read(ref state);
        var spin = new SpinWait();
        while (true)
        {
            switch (s & OpenMask)
            {
                case OpenDone:
                    return;
                case OpenEmitting:
                    spin.SpinOnce();
                    s = Volatile.Read(ref state);
                    continue;
            }
            var seen = Interlocked.CompareExchange(ref state, (s & ~OpenMask) | OpenEmitting, s);
            if (seen != s)
            {
                s = seen;
                continue;
            }
            try
            {
                Dispatch(new LifecycleEvent(LifecycleEventKind.ConnectionOpened, LogLevel.Debug, timestampUtc, connection, null));
            }
            finally
            {
                Interlocked.Or(ref state, OpenDone);
            }
            return;
        }
    }

    private void Access(ConnectionInfo connection, RequestInfo request, double durationMs, int status, bool abandoned)
    {
        // The line is about the request's end, so the end's timestamp (taken by this flow just before, with no line
        // queued in between) gives both its time and its place in the log's order: no clock read of its own.
        var now = EndUtc(request);
        _writer?.WriteAccess(now, connection, request, durationMs, status, abandoned, request.EndTimestamp);
        if (_accessLogger is { } logger && BridgeOpen && logger.IsEnabled(LogLevel.Information))
        {
            var state = AccessLogState.Create(now, connection, request, durationMs, status, abandoned);
            logger.Log(LogLevel.Information, new EventId(100, "Access"), state, null, AccessLogState.Format);
        }
    }

    private void Dispatch(in LifecycleEvent e)
    {
        _writer?.WriteEvent(in e);
        var observers = Volatile.Read(ref _observers);
        for (var i = 0; i < observers.Length; i++)
        {
            try
            {
                observers[i].OnEvent(in e);
            }
            catch (Exception)
            {
                Interlocked.Increment(ref _observerFaults);
            }
        }
        if (_lifecycleLogger is { } logger && BridgeOpen && logger.IsEnabled(e.Level))
        {
            var state = LifecycleLogState.For(in e);
            logger.Log(e.Level, new EventId((int)e.Kind + 1, e.Name), state, null, LifecycleLogState.Format);
        }
    }

    private sealed class Registration(LifecycleEmitter emitter, ILifecycleObserver observer) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                emitter.RemoveObserver(observer);
        }
    }
}
