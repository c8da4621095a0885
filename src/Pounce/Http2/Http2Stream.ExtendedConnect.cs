using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Pounce.WebSockets;

namespace Pounce.Http2;

/// <summary>
/// Extended CONNECT (RFC 8441): a CONNECT stream with <c>:protocol</c> becomes, once the application accepts it
/// (<c>200</c>), a duplex byte stream over the stream's DATA frames in both directions, within the usual flow-control
/// windows. ASP.NET Core's <c>UseWebSockets()</c> uses it for WebSockets over HTTP/2. Only the stream leaves HTTP:
/// the connection goes on carrying other streams.
/// </summary>
internal sealed partial class Http2Stream : IHttpExtendedConnectFeature
{
    private volatile Http2TunnelStream? _tunnel;

    /// <summary>True once the application accepted the extended CONNECT: the object is the tunnel's, never pooled.</summary>
    public bool HasTunnel => _tunnel is not null;

    /// <summary>The <c>:protocol</c> of an extended CONNECT request (set by the header handler), or null.</summary>
    public string? ConnectProtocol { get; set; }

    /// <summary>
    /// An extended CONNECT request the application may accept now: not while the server is stopping, nor at
    /// <see cref="ServerConfig.MaxConcurrentUpgradedConnections"/> (as <c>IsUpgradableRequest</c> on HTTP/1.1), so that
    /// the application answers it as an ordinary request (<c>UseWebSockets()</c> apps: not a WebSocket request).
    /// </summary>
    bool IHttpExtendedConnectFeature.IsExtendedConnect =>
        ConnectProtocol is not null && !_connection.ShutdownRequested && _server.CanAdmitUpgrade;

    string? IHttpExtendedConnectFeature.Protocol => ConnectProtocol;

    async ValueTask<Stream> IHttpExtendedConnectFeature.AcceptAsync()
    {
        if (ConnectProtocol is null)
            throw new InvalidOperationException("This request is not an extended CONNECT request (RFC 8441).");
        if (_tunnel is not null)
            throw new InvalidOperationException("This extended CONNECT request was already accepted.");
        if (HasStarted)
            throw new InvalidOperationException("This extended CONNECT request cannot be accepted: the response has already started.");
        if (_connection.ShutdownRequested)
            throw new InvalidOperationException("This extended CONNECT request cannot be accepted: the server is stopping.");
        if (!_server.TryAdmitUpgrade())
            throw new InvalidOperationException("This extended CONNECT request cannot be accepted: MaxConcurrentUpgradedConnections is reached.");
        try
        {
            StatusCode = StatusCodes.Status200OK;
            // The tunnel's bytes are not a request body: no size limit (and no BodyReadTimeout, see CheckBodyDeadline).
            MaxRequestBodySize = null;
            await StartResponseAsync(default);
        }
        catch
        {
            _server.ReleaseUpgrade();
            throw;
        }
        RequestInfo.IsStreaming = true;
        var tunnel = new Http2TunnelStream(this, string.Equals(ConnectProtocol, "websocket", StringComparison.OrdinalIgnoreCase));
        _tunnel = tunnel;
        await FlushOutputAsync(default);
        if (_connection.ShutdownRequested)
            OnServerShutdown();
        return tunnel;
    }

    /// <summary>
    /// The server is stopping (the connection sends GOAWAY and drains): a WebSocket tunnel gets Close 1001, then
    /// <c>RequestAborted</c> after the grace period if the application has not ended it, as on HTTP/1.1.
    /// </summary>
    public void OnServerShutdown()
    {
        if (_tunnel is { } tunnel)
            _ = tunnel.CloseForShutdownAsync(UpgradedStream.ShutdownGrace(_server.Config), SignalRequestAborted, tunnel.Ended);
    }

    /// <summary>
    /// The application returned from an accepted tunnel. Decides how it ended, for the lifecycle: a close handshake,
    /// a Close 1001 of the server's, or an application that ended it while the client was still there is answered
    /// (<c>ResponseCompleted</c>, true); a client that reset the stream, ended its side or lost the connection without
    /// the close handshake vanished (<c>ClientDisconnected</c>, false). An exception the application's WebSocket threw
    /// because the client vanished or broke RFC 6455, or because the server aborted it after Close 1001, is not an
    /// application fault: it is not logged as one, and the stream still ends with END_STREAM.
    /// </summary>
    private async ValueTask<bool> CompleteTunnelAsync(Exception? appError)
    {
        var tunnel = _tunnel!;
        tunnel.End();
        _server.ReleaseUpgrade();
        var peerGone = ResetByPeer || tunnel.PeerEnded;
        var answered = tunnel.CloseHandshakeDone || tunnel.ClosedForShutdown || !peerGone;
        if (appError is not null && (peerGone || tunnel.ClosedForShutdown || tunnel.PeerViolatedProtocol))
            appError = null;
        await CompleteResponseAsync(appError);
        return answered;
    }

    /// <summary>The accepted stream: reads are the request's DATA, writes are response DATA.</summary>
    private sealed class Http2TunnelStream : UpgradedStream
    {
        private readonly Http2Stream _stream;
        private readonly CancellationTokenSource _ended = new();

        public Http2TunnelStream(Http2Stream stream, bool scanWebSocketFrames)
            : base(scanWebSocketFrames)
        {
            _stream = stream;
        }

        /// <summary>Cancelled when the application has returned.</summary>
        public CancellationToken Ended => _ended.Token;

        public void End() => _ended.Cancel();

        protected override ValueTask<int> ReadTransportAsync(Memory<byte> buffer, CancellationToken cancellationToken)
            => _stream.ReadBodyAsync(buffer, cancellationToken);

        protected override async ValueTask<bool> WriteTransportAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (IsGone)
                return false;
            await _stream.WriteBodyAsync(data, cancellationToken);
            // A write to a stream reset meanwhile (or on a failed connection) is discarded: tell the application.
            return !IsGone;
        }

        private bool IsGone => _stream.IsReset || _stream._connection.IsClosed;
    }
}
