namespace Pounce.Connections;

/// <summary>Why a connection ended: exactly one per connection, as the lifecycle contract names them.</summary>
public enum CloseReason
{
    /// <summary>Normal close: <c>Connection: close</c>, the client closed an idle keep-alive connection, a finished upgrade.</summary>
    Complete,
    /// <summary>The server closed it because a timeout fired (keep-alive idle, request head, body, write).</summary>
    Timeout,
    /// <summary>The client went away while a request was in flight, or reset the connection.</summary>
    ClientDisconnect,
    /// <summary>A protocol error (malformed request answered 400) or an unhandled server fault.</summary>
    Error,
    /// <summary>Refused because the server was at <c>MaxConnections</c> (503 + Retry-After).</summary>
    Backpressure,
    /// <summary>The server was stopping.</summary>
    Shutdown,
}

/// <summary>The protocol a connection spoke, as the lifecycle contract names it.</summary>
public enum ConnectionProtocol
{
    /// <summary>No protocol was established (closed before its first byte, failed TLS handshake, refused).</summary>
    Unknown,
    /// <summary>HTTP/1.x.</summary>
    H1,
    /// <summary>HTTP/2.</summary>
    H2,
    /// <summary>An HTTP/1.1 connection upgraded to WebSocket.</summary>
    WebSocket,
}
