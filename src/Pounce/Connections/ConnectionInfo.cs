using System.Diagnostics;
using System.Net;

namespace Pounce.Connections;

/// <summary>
/// What the server knows about one accepted connection: identity, addresses, counters and, once closed,
/// its single close reason. The transport and protocol layers fill it in; lifecycle events read it.
/// </summary>
public sealed class ConnectionInfo
{
    private int _end;
    private string? _clientAddress;
    private string? _serverAddress;

    /// <summary>Creates the record of a connection accepted now.</summary>
    public ConnectionInfo(long connectionId, int workerId, IPEndPoint? remote, IPEndPoint? local)
    {
        ConnectionId = connectionId;
        WorkerId = workerId;
        RemoteEndPoint = remote;
        LocalEndPoint = local;
        OpenedUtc = DateTime.UtcNow;
        OpenedTimestamp = Stopwatch.GetTimestamp();
    }

    /// <summary>Unique over the whole server process, starting at 1.</summary>
    public long ConnectionId { get; }

    /// <summary>The worker (1..N) that accepted the connection.</summary>
    public int WorkerId { get; }

    /// <summary>The client's end point.</summary>
    public IPEndPoint? RemoteEndPoint { get; }

    /// <summary>The server's end point.</summary>
    public IPEndPoint? LocalEndPoint { get; }

    /// <summary>Wall-clock time of the accept.</summary>
    public DateTime OpenedUtc { get; }

    /// <summary><see cref="Stopwatch"/> timestamp of the accept.</summary>
    public long OpenedTimestamp { get; }

    /// <summary><see cref="Stopwatch"/> timestamp of the close, 0 while open.</summary>
    public long ClosedTimestamp { get; internal set; }

    /// <summary>Whether the connection is TLS.</summary>
    public bool Tls { get; internal set; }

    /// <summary>
    /// Milliseconds the TLS handshake took (failed or not), 0 for a plaintext connection or while it runs.
    /// </summary>
    public double TlsHandshakeMs { get; internal set; }

    /// <summary>The negotiated TLS version ("1.2", "1.3"), null for plaintext or a failed handshake.</summary>
    public string? TlsProtocolVersion { get; internal set; }

    /// <summary>The server name the client asked for (SNI), null when none was sent or the connection is plaintext.</summary>
    public string? TlsServerName { get; internal set; }

    /// <summary>The protocol, <see cref="ConnectionProtocol.Unknown"/> until known.</summary>
    public ConnectionProtocol Protocol { get; internal set; }

    /// <summary>Responses completed on this connection (health checks included).</summary>
    public int RequestsServed { get; internal set; }

    /// <summary>Response body bytes sent over all requests of the connection.</summary>
    public long TotalBytesSent { get; internal set; }

    /// <summary>The first end fact reported for the connection.</summary>
    public ConnectionEnd End => (ConnectionEnd)Volatile.Read(ref _end);

    /// <summary>The contract's close reason, decided from <see cref="End"/>.</summary>
    public CloseReason Reason => ConnectionEnds.Describe(End).Reason;

    /// <summary>The stable snake_case detail of the close reason.</summary>
    public string Detail => ConnectionEnds.Describe(End).Detail;

    /// <summary>Client IP address as text (cached).</summary>
    public string ClientAddress => _clientAddress ??= RemoteEndPoint?.Address.ToString() ?? "";

    /// <summary>Client port, 0 when unknown.</summary>
    public int ClientPort => RemoteEndPoint?.Port ?? 0;

    /// <summary>Server IP address as text (cached).</summary>
    public string ServerAddress => _serverAddress ??= LocalEndPoint?.Address.ToString() ?? "";

    /// <summary>Server port, 0 when unknown.</summary>
    public int ServerPort => LocalEndPoint?.Port ?? 0;

    /// <summary>Milliseconds from accept to close (or to now while open).</summary>
    public double DurationMs
    {
        get
        {
            var end = ClosedTimestamp != 0 ? ClosedTimestamp : Stopwatch.GetTimestamp();
            return Stopwatch.GetElapsedTime(OpenedTimestamp, end).TotalMilliseconds;
        }
    }

    /// <summary>
    /// Records how the connection is ending. Only the first fact counts: a timeout that aborts the socket is
    /// not turned into a peer reset by the read that fails afterwards. Returns whether this fact won.
    /// </summary>
    public bool ReportEnd(ConnectionEnd end)
    {
        if (end == ConnectionEnd.None)
            return false;
        return Interlocked.CompareExchange(ref _end, (int)end, 0) == 0;
    }

    /// <summary>The TLS features served to the application (null for plaintext).</summary>
    internal Tls.TlsConnectionFeatures? TlsFeatures { get; set; }

    /// <summary>State owned by the lifecycle emitter (deferred opened event, health-check filter).</summary>
    internal int LifecycleState;

    /// <summary>State owned by <see cref="Telemetry.PounceMetrics"/> (which counters this connection was added to).</summary>
    internal int MetricsState;

    /// <summary>Set by <see cref="Telemetry.PounceMetrics"/>: <see cref="TotalBytesSent"/> when the connection was upgraded.</summary>
    internal long MetricsBytesAtUpgrade;
}
