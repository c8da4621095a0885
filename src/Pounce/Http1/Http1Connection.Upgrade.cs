using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using Pounce.Connections;
using Pounce.WebSockets;

namespace Pounce.Http1;

/// <summary>
/// Protocol upgrades (RFC 9110 7.8), as <c>UseWebSockets()</c> uses them: <c>101 Switching Protocols</c>, then the
/// connection is the application's duplex stream until the application returns, and then it closes.
/// </summary>
internal sealed partial class Http1Connection : IHttpUpgradeFeature
{
    private bool _upgraded;
    private UpgradedStream? _upgradedStream;

    protected override object? UpgradeFeature => this;

    /// <summary>
    /// HTTP/1.1 with a <c>Connection: upgrade</c> token and an <c>Upgrade</c> header, without a body (as Kestrel: an
    /// upgrade request carries no payload), while the server is not stopping and is under
    /// <see cref="ServerConfig.MaxConcurrentUpgradedConnections"/>. An <c>Upgrade</c> header that lists only
    /// <c>h2c</c> does not count: that upgrade belongs to the server (<see cref="ServerConfig.Http2CleartextUpgrade"/>),
    /// never to the application, whether the setting is on or off.
    /// </summary>
    bool IHttpUpgradeFeature.IsUpgradableRequest => IsUpgradable;

    private bool IsUpgradable =>
        _version == HttpVersionKind.Http11
        && _connectionUpgrade
        && UpgradeListsOtherThanH2c
        && _bodyKind == BodyKind.None
        && !_upgraded
        && !_connection.ShutdownRequested
        && _server.CanAdmitUpgrade;

    async Task<Stream> IHttpUpgradeFeature.UpgradeAsync()
    {
        if (!IsUpgradable)
            throw new InvalidOperationException("This request cannot be upgraded (not an HTTP/1.1 upgrade request without a body, the server is stopping, or MaxConcurrentUpgradedConnections is reached).");
        if (HasStarted)
            throw new InvalidOperationException("This request cannot be upgraded: the response has already started.");
        if (!_server.TryAdmitUpgrade())
            throw new InvalidOperationException("This request cannot be upgraded: MaxConcurrentUpgradedConnections is reached.");

        var info = RequestInfo;
        try
        {
            StatusCode = StatusCodes.Status101SwitchingProtocols;
            ReasonPhrase = "Switching Protocols";
            ResponseHeaders[HeaderNames.Connection] = HeaderNames.Upgrade;
            await StartResponseAsync(default);
            _upgraded = true;
        }
        catch
        {
            _server.ReleaseUpgrade();
            throw;
        }
        info.IsStreaming = true;
        _responseEnded = true;
        var isWebSocket = RequestHeaders.TryGetValue(HeaderNames.Upgrade, out var upgrade)
            && upgrade.ToString().Contains("websocket", StringComparison.OrdinalIgnoreCase);
        _upgradedStream = new PipeUpgradedStream(_input, _output, isWebSocket);
        try
        {
            await FlushOutputAsync(default);
        }
        catch (Exception)
        {
            // The peer is gone: the stream's first read or write says so to the application.
        }

        // The request goes on as the upgraded session: its one ending (ResponseCompleted with the tunnel's bytes and
        // the whole session's duration, or ClientDisconnected) comes when the application returns.
        Connection.Protocol = ConnectionProtocol.WebSocket;
        _server.Emitter.ConnectionUpgraded(Connection, info);
        _connection.SetUpgraded(OnShutdownWhileUpgraded);
        return _upgradedStream;
    }

    /// <summary>
    /// Server shutdown: a WebSocket gets Close 1001 (Going Away) and the application's WebSocket sees the client's
    /// answering Close; RequestAborted follows after half the <see cref="ServerConfig.ShutdownTimeout"/> (at most 5 s), or at once
    /// when the Close could not be sent (a write in progress, not a WebSocket), to end an application loop that does
    /// not read. <c>ShutdownTimeout</c> still aborts the connection.
    /// </summary>
    private void OnShutdownWhileUpgraded()
        => _ = _upgradedStream!.CloseForShutdownAsync(UpgradedStream.ShutdownGrace(_config), SignalRequestAborted, _connection.Transport.ConnectionClosed);

    /// <summary>
    /// The application returned from an upgraded request: decides how the connection ended (a close handshake or an
    /// application that finished is <c>complete</c>; a peer that vanished first is <c>client_disconnect</c>), and
    /// closes it.
    /// </summary>
    private async ValueTask<bool> FinishUpgradedAsync(object? context, Exception? appError)
    {
        var stream = _upgradedStream!;
        var info = RequestInfo;
        Volatile.Write(ref _requestInFlight, false);
        info.BytesSent += stream.BytesWritten;
        Connection.TotalBytesSent += info.BytesSent;
        var vanished = false;
        var peer = _connection.Transport.PeerClose;
        var peerGone = peer is Transport.PeerClose.Fin or Transport.PeerClose.Reset;
        if (stream.ClosedForShutdown || (_connection.ShutdownRequested && !(peerGone && stream.PeerEnded)))
        {
            Connection.ReportEnd(ConnectionEnd.ShutdownDrained);
        }
        else if (stream.PeerViolatedProtocol)
        {
            // The client's bad frame failed the WebSocket (whatever the application's WebSocket threw for it).
            Connection.ReportEnd(ConnectionEnd.WebSocketProtocolError);
        }
        else if (stream.CloseHandshakeDone)
        {
            Connection.ReportEnd(ConnectionEnd.UpgradeCompleted);
        }
        else if (peerGone && (stream.PeerEnded || appError is not null || RequestAborted))
        {
            vanished = true;
            Connection.ReportEnd(peer == Transport.PeerClose.Fin ? ConnectionEnd.ClientClosedInFlight : ConnectionEnd.PeerReset);
        }
        else if (appError is not null && !(appError is OperationCanceledException && RequestAborted))
        {
            ReportApplicationError(appError, "Unhandled exception on an upgraded connection");
            _connection.Abort(ConnectionEnd.AppError);
        }
        else
        {
            Connection.ReportEnd(ConnectionEnd.UpgradeCompleted);
        }

        // The session's one ending, as over HTTP/2: the server ended it or it closed normally (completed), or the
        // peer vanished without the close handshake (disconnected).
        info.EndTimestamp = Stopwatch.GetTimestamp();
        if (vanished)
        {
            _server.Emitter.ClientDisconnected(Connection, info);
        }
        else
        {
            Connection.RequestsServed++;
            _server.Emitter.ResponseCompleted(Connection, info);
        }

        await FireOnCompletedAsync();
        try
        {
            _server.Application.DisposeContext(context, appError);
        }
        catch (Exception ex)
        {
            ReportApplicationError(ex, "Disposing the request context failed");
        }
        _server.ReleaseUpgrade();
        return false;
    }
}
