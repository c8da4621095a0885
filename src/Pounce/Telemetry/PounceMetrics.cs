using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Pounce.Connections;
using Pounce.Logging;

namespace Pounce.Telemetry;

/// <summary>
/// The server's metrics, on the <see cref="System.Diagnostics.Metrics"/> meter <see cref="MeterName"/>: what
/// <c>dotnet-counters</c>, a <see cref="MeterListener"/> or the OpenTelemetry SDK reads. Named and tagged after the
/// OpenTelemetry semantic conventions for Kestrel (<c>kestrel.*</c> becomes <c>pounce.*</c>, same units and tags),
/// plus the lifecycle contract's close <c>reason</c>.
/// </summary>
/// <remarks>
/// <para>The <see cref="Lifecycle.LifecycleEmitter"/> calls it at every lifecycle fact, before its level gate, so the
/// metrics never depend on the log level. Each call checks <see cref="Instrument.Enabled"/> first: without a listener
/// nothing is measured. With one, a measurement allocates nothing (tags in a <see cref="TagList"/>, the server
/// address and boxed port cached per local end point).</para>
/// <para>An up-down counter is only decremented for a connection or request it was incremented for (the state is
/// kept on <see cref="ConnectionInfo"/> and <see cref="RequestInfo"/>), so a listener that attaches while connections
/// are open never sees them go negative.</para>
/// </remarks>
public sealed class PounceMetrics
{
    /// <summary>The meter's name: <c>Pounce</c>.</summary>
    public const string MeterName = "Pounce";

    // ConnectionInfo.MetricsState
    private const int ConnectionActive = 1;
    private const int ConnectionUpgraded = 2;
    private const int ConnectionOpened = 4;
    private const int ConnectionClosed = 8;
    private const int ConnectionUpgradeSeen = 16;

    // RequestInfo.MetricsState
    private const int RequestActive = 1;
    private const int RequestEnded = 2;

    /// <summary>Bucket boundaries the semantic conventions advise for <c>kestrel.connection.duration</c>.</summary>
    private static readonly double[] ConnectionDurationBuckets = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

    /// <summary>Bucket boundaries the semantic conventions advise for <c>kestrel.tls_handshake.duration</c>.</summary>
    private static readonly double[] TlsHandshakeBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private readonly UpDownCounter<long> _activeConnections;
    private readonly Histogram<double> _connectionDuration;
    private readonly Counter<long> _rejectedConnections;
    private readonly UpDownCounter<long> _upgradedConnections;
    private readonly Histogram<double> _tlsHandshakeDuration;
    private readonly UpDownCounter<long> _activeRequests;
    private readonly Counter<long> _bytesSent;
    private ServerEndpoint[] _endpoints = [];

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/> (which owns and disposes it).</summary>
    /// <param name="meterFactory">The application's meter factory (DI's <see cref="IMeterFactory"/>).</param>
    /// <param name="writer">The server's log writer, whose written and dropped lines are observed; null for none.</param>
    public PounceMetrics(IMeterFactory meterFactory, LogLineWriter? writer = null)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter = meterFactory.Create(new MeterOptions(MeterName) { Version = typeof(PounceMetrics).Assembly.GetName().Version?.ToString() });
        _activeConnections = Meter.CreateUpDownCounter<long>("pounce.active_connections", "{connection}",
            "Number of connections that are currently active on the server.");
        _connectionDuration = Meter.CreateHistogram("pounce.connection.duration", "s",
            "The duration of connections on the server, by close reason.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = ConnectionDurationBuckets });
        _rejectedConnections = Meter.CreateCounter<long>("pounce.rejected_connections", "{connection}",
            "Number of connections rejected by the server at MaxConnections (503 + Retry-After).");
        _upgradedConnections = Meter.CreateUpDownCounter<long>("pounce.upgraded_connections", "{connection}",
            "Number of connections that are currently upgraded (WebSockets).");
        _tlsHandshakeDuration = Meter.CreateHistogram("pounce.tls_handshake.duration", "s",
            "The duration of TLS handshakes on the server.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = TlsHandshakeBuckets });
        _activeRequests = Meter.CreateUpDownCounter<long>("pounce.active_requests", "{request}",
            "Number of HTTP requests in flight on the server, by protocol version.");
        _bytesSent = Meter.CreateCounter<long>("pounce.response.body.sent", "By",
            "Response body bytes handed to the transport (and, on upgraded connections, the bytes the application wrote).");
        if (writer is not null)
        {
            Meter.CreateObservableCounter("pounce.log.lines_written", () => writer.WrittenLines, "{line}",
                "Log lines written by the server's line writer (lifecycle, access log, application logs).");
            Meter.CreateObservableCounter("pounce.log.lines_dropped", () => writer.DroppedLines, "{line}",
                "Log lines dropped because the line writer's buffer (LogBufferLines) was full.");
        }
    }

    /// <summary>The meter the instruments live on.</summary>
    public Meter Meter { get; }

    /// <summary>A connection's protocol is known (or it ended before that): it counts as active until it closes; a
    /// successful TLS handshake is measured. Only the first call for a connection counts.</summary>
    public void OnConnectionOpened(ConnectionInfo connection)
    {
        var countActive = _activeConnections.Enabled;
        var measureTls = _tlsHandshakeDuration.Enabled && connection.TlsProtocolVersion is not null && connection.TlsHandshakeMs > 0;
        if (!countActive && !measureTls)
            return;
        var previous = Interlocked.Or(ref connection.MetricsState, ConnectionOpened | (countActive ? ConnectionActive : 0));
        if ((previous & (ConnectionOpened | ConnectionClosed)) != 0)
            return;
        var endpoint = Endpoint(connection);
        if (countActive)
        {
            var tags = EndpointTags(endpoint);
            _activeConnections.Add(1, in tags);
        }
        if (measureTls)
        {
            var tags = EndpointTags(endpoint);
            tags.Add("tls.protocol.version", connection.TlsProtocolVersion);
            _tlsHandshakeDuration.Record(connection.TlsHandshakeMs / 1000.0, in tags);
        }
    }

    /// <summary>A connection closed: it leaves the active (and upgraded) counts, its duration is recorded with its
    /// close reason, a refusal at <c>MaxConnections</c> is counted, a failed TLS handshake is measured. Only the first
    /// call for a connection counts.</summary>
    public void OnConnectionCompleted(ConnectionInfo connection)
    {
        var previous = Interlocked.Or(ref connection.MetricsState, ConnectionClosed);
        if ((previous & ConnectionClosed) != 0)
            return;
        var (reason, detail) = ConnectionEnds.Describe(connection.End);
        var wasActive = (previous & ConnectionActive) != 0;
        var wasUpgraded = (previous & ConnectionUpgraded) != 0;
        var upgradedBytes = (previous & ConnectionUpgradeSeen) != 0 ? connection.TotalBytesSent - connection.MetricsBytesAtUpgrade : 0;
        if (upgradedBytes > 0 && _bytesSent.Enabled)
        {
            var byteTags = new TagList { { "network.protocol.name", "web_sockets" } };
            _bytesSent.Add(upgradedBytes, in byteTags);
        }
        var recordDuration = _connectionDuration.Enabled;
        var countRejected = reason == CloseReason.Backpressure && _rejectedConnections.Enabled;
        var failedTls = connection.TlsHandshakeMs > 0 && connection.TlsProtocolVersion is null && _tlsHandshakeDuration.Enabled;
        if (!wasActive && !wasUpgraded && !recordDuration && !countRejected && !failedTls)
            return;

        var endpoint = Endpoint(connection);
        if (wasActive)
        {
            var tags = EndpointTags(endpoint);
            _activeConnections.Add(-1, in tags);
        }
        if (wasUpgraded)
        {
            var tags = EndpointTags(endpoint);
            _upgradedConnections.Add(-1, in tags);
        }
        // The refusal is counted before the duration is recorded: whoever waits for the duration sees both.
        if (countRejected)
        {
            var tags = EndpointTags(endpoint);
            _rejectedConnections.Add(1, in tags);
        }
        if (recordDuration)
        {
            var tags = EndpointTags(endpoint);
            AddProtocolTags(ref tags, connection.Protocol);
            if (connection.TlsProtocolVersion is { } tls)
                tags.Add("tls.protocol.version", tls);
            tags.Add("reason", ConnectionEnds.Name(reason));
            if (IsAbnormal(connection.End, reason))
                tags.Add("error.type", detail);
            _connectionDuration.Record(connection.DurationMs / 1000.0, in tags);
        }
        if (failedTls)
        {
            // A failed handshake (a successful one was measured when the connection opened).
            var tags = EndpointTags(endpoint);
            tags.Add("error.type", connection.End == ConnectionEnd.None ? "_OTHER" : detail);
            _tlsHandshakeDuration.Record(connection.TlsHandshakeMs / 1000.0, in tags);
        }
    }

    /// <summary>The connection switched protocols (101): it counts as upgraded until it closes, and the bytes the
    /// application writes from now on are counted when it closes.</summary>
    public void OnConnectionUpgraded(ConnectionInfo connection)
    {
        var countUpgraded = _upgradedConnections.Enabled;
        if (!countUpgraded && !_bytesSent.Enabled)
            return;
        connection.MetricsBytesAtUpgrade = connection.TotalBytesSent;
        var previous = Interlocked.Or(ref connection.MetricsState, ConnectionUpgradeSeen | (countUpgraded ? ConnectionUpgraded : 0));
        if (!countUpgraded || (previous & (ConnectionUpgraded | ConnectionClosed)) != 0)
            return;
        var tags = EndpointTags(Endpoint(connection));
        _upgradedConnections.Add(1, in tags);
    }

    /// <summary>A request head was parsed: the request is active until it ends.</summary>
    public void OnRequestStarted(ConnectionInfo connection, RequestInfo request)
    {
        if (!_activeRequests.Enabled || request.MetricsState != 0)
            return;
        request.MetricsState = RequestActive;
        var tags = RequestTags(connection, request);
        _activeRequests.Add(1, in tags);
    }

    /// <summary>A request ended (response completed, or the client vanished): it leaves the active count and its
    /// response body bytes are counted. Only the first end of a request counts.</summary>
    public void OnRequestEnded(ConnectionInfo connection, RequestInfo request)
    {
        var state = request.MetricsState;
        if ((state & RequestEnded) != 0)
            return;
        request.MetricsState = state | RequestEnded;
        if ((state & RequestActive) != 0)
        {
            var tags = RequestTags(connection, request);
            _activeRequests.Add(-1, in tags);
        }
        // An HTTP/1.1 WebSocket's bytes are its session's (the 101 has no body): counted as web_sockets when the
        // connection closes, not here.
        if (request.BytesSent > 0 && _bytesSent.Enabled && connection.Protocol != ConnectionProtocol.WebSocket)
        {
            var tags = new TagList
            {
                { "network.protocol.name", "http" },
                { "network.protocol.version", ProtocolVersion(request.Version) },
            };
            _bytesSent.Add(request.BytesSent, in tags);
        }
    }

    /// <summary>Whether a close is an error in the sense of <c>error.type</c>: anything but a normal close or a
    /// graceful shutdown (a shutdown that had to abort counts).</summary>
    private static bool IsAbnormal(ConnectionEnd end, CloseReason reason) => reason switch
    {
        CloseReason.Complete => false,
        CloseReason.Shutdown => end == ConnectionEnd.ShutdownAborted,
        _ => true,
    };

    private static TagList RequestTags(ConnectionInfo connection, RequestInfo request) => new()
    {
        { "network.protocol.name", "http" },
        { "network.protocol.version", ProtocolVersion(request.Version) },
        { "url.scheme", connection.Tls ? "https" : "http" },
    };

    private static string ProtocolVersion(HttpVersionKind version) => version switch
    {
        HttpVersionKind.Http10 => "1.0",
        HttpVersionKind.Http2 => "2",
        _ => "1.1",
    };

    private static void AddProtocolTags(ref TagList tags, ConnectionProtocol protocol)
    {
        switch (protocol)
        {
            case ConnectionProtocol.H1:
                tags.Add("network.protocol.name", "http");
                tags.Add("network.protocol.version", "1.1");
                break;
            case ConnectionProtocol.H2:
                tags.Add("network.protocol.name", "http");
                tags.Add("network.protocol.version", "2");
                break;
            case ConnectionProtocol.WebSocket:
                tags.Add("network.protocol.name", "web_sockets");
                break;
        }
    }

    private static TagList EndpointTags(ServerEndpoint? endpoint)
    {
        var tags = new TagList { { "network.transport", "tcp" } };
        if (endpoint is not null)
        {
            tags.Add("network.type", endpoint.NetworkType);
            tags.Add("server.address", endpoint.Address);
            tags.Add("server.port", endpoint.Port);
        }
        return tags;
    }

    /// <summary>The cached tag values of the connection's local end point (a server has few: one per bound address).</summary>
    private ServerEndpoint? Endpoint(ConnectionInfo connection)
    {
        var local = connection.LocalEndPoint;
        if (local is null)
            return null;
        var known = Volatile.Read(ref _endpoints);
        foreach (var endpoint in known)
        {
            if (endpoint.EndPoint.Equals(local))
                return endpoint;
        }
        var added = new ServerEndpoint(local);
        if (known.Length < 64)
            Interlocked.CompareExchange(ref _endpoints, [.. known, added], known);
        return added;
    }

    private sealed class ServerEndpoint(IPEndPoint endPoint)
    {
        public IPEndPoint EndPoint { get; } = endPoint;

        public string Address { get; } = endPoint.Address.ToString();

        public object Port { get; } = endPoint.Port;

        public string NetworkType { get; } = endPoint.AddressFamily == AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4";
    }
}
