using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Pounce.Http1;
using Pounce.Http2;
using Pounce.Tls;
using Pounce.Transport;

namespace Pounce.Connections;

/// <summary>
/// One accepted connection: owns the socket, the deadlines and the single close decision, runs the protocol,
/// and reports ConnectionOpened/ConnectionCompleted exactly once.
/// </summary>
internal sealed class Connection : IThreadPoolWorkItem
{
    private static readonly byte[] ServiceUnavailable =
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray();

    private readonly ServerContext _server;
    private readonly Socket _socket;
    private readonly bool _admitted;
    private readonly TlsServerOptions? _tlsOptions;
    private readonly HttpProtocols _protocols;
    private TlsTransport? _tls;
    private long _idleDeadline;
    private ConnectionEnd _idleEnd;
    private long _bodyDeadline;
    private int _idle;
    private int _shutdownRequested;
    private Action? _shutdownCallback;
    private Action<long>? _heartbeatCallback;
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Connection(ServerContext server, Socket socket, int workerId, bool admitted, TlsServerOptions? tls = null, HttpProtocols protocols = HttpProtocols.Http1AndHttp2)
    {
        _server = server;
        _responseDataRate = server.Config.ResponseRate;
        _socket = socket;
        _admitted = admitted;
        _tlsOptions = tls;
        // Http2Enabled = false turns HTTP/2 off on every endpoint.
        _protocols = server.Config.Http2Enabled ? protocols : HttpProtocols.Http1;
        Info = new ConnectionInfo(server.NextConnectionId(), workerId, socket.RemoteEndPoint as IPEndPoint, socket.LocalEndPoint as IPEndPoint)
        {
            Tls = tls is not null,
        };
        Transport = new SocketTransport(socket, server.Config.EpollSockets ? EpollEngine.Shared : null, server.Config.InlineScheduling);
        _pipes = Transport;
    }

    public ConnectionInfo Info { get; }

    /// <summary>Whether this connection's endpoint serves HTTP/2 (its <c>Protocols</c>, and <c>Http2Enabled</c>): the h2c upgrade needs it.</summary>
    public bool ServesHttp2 => (_protocols & HttpProtocols.Http2) != 0;

    public SocketTransport Transport { get; }

    /// <summary>
    /// The pipes the protocol reads requests from and writes responses to: the socket's own, or the plaintext side
    /// of TLS once the handshake is done.
    /// </summary>
    public IDuplexPipe Pipes
    {
        get => Volatile.Read(ref _pipes);
        private set => Volatile.Write(ref _pipes, value); // read by the heartbeat's thread
    }

    private IDuplexPipe _pipes;

    /// <summary>The scheduler of <see cref="Pipes"/>' send loop, for flushes that let the send wait for the rest of a response.</summary>
    public SendScheduler OutputScheduler => Pipes is TlsTransport tls ? tls.OutputScheduler : Transport.OutputScheduler;

    public ServerContext Server => _server;

    public ServerConfig Config => _server.Config;

    /// <summary>Completes when the connection has closed and reported its end.</summary>
    public Task Completed => _completed.Task;

    public bool ShutdownRequested => Volatile.Read(ref _shutdownRequested) != 0;

    void IThreadPoolWorkItem.Execute() => _ = _admitted ? RunAsync() : RejectAsync();

    private async Task RunAsync()
    {
        _server.Connections[Info.ConnectionId] = this;
        if (_server.IsStopping)
            RequestShutdown();
        var linger = TimeSpan.Zero;
        try
        {
            Transport.Start();
            ConnectionProtocol protocol;
            if (_tlsOptions is null)
            {
                protocol = await WaitForFirstBytesAsync();
            }
            else
            {
                protocol = await HandshakeAsync(_tlsOptions);
                if (protocol == ConnectionProtocol.Unknown && Info.End == ConnectionEnd.None)
                    protocol = await WaitForFirstBytesAsync(); // no ALPN offered: the endpoint's protocols and the first bytes decide
            }
            if (protocol == ConnectionProtocol.H1)
            {
                Info.Protocol = ConnectionProtocol.H1;
                _server.Emitter.ConnectionOpened(Info);
                var http1 = new Http1Connection(this);
                await http1.ProcessRequestsAsync();
                if (http1.H2cUpgrade is { } upgrade && Info.End == ConnectionEnd.None)
                {
                    // 101 sent (Upgrade: h2c): the same transport now carries HTTP/2, the request is stream 1.
                    Info.Protocol = ConnectionProtocol.H2;
                    var upgraded = new Http2Connection(this, Pipes, upgrade);
                    await upgraded.ProcessAsync();
                }
                if (ConnectionEnds.Describe(Info.End).Reason == CloseReason.Error)
                    linger = TimeSpan.FromSeconds(1);
            }
            else if (protocol == ConnectionProtocol.H2)
            {
                Info.Protocol = ConnectionProtocol.H2;
                _server.Emitter.ConnectionOpened(Info);
                var http2 = new Http2Connection(this, Pipes);
                await http2.ProcessAsync();
                if (ConnectionEnds.Describe(Info.End).Reason == CloseReason.Error)
                    linger = TimeSpan.FromSeconds(1);
            }
            else
            {
                _server.Emitter.ConnectionOpened(Info);
            }
        }
        catch (Exception ex)
        {
            Info.ReportEnd(ConnectionEnd.InternalError);
            _server.Logger.LogError(ex, "Connection {connection_id} failed in the server", Info.ConnectionId);
        }
        finally
        {
            ClearIdleDeadline();
            _bodyDeadline = 0;
            try
            {
                if (_tls is not null)
                    await _tls.CloseAsync(Config.ResponseWriteTimeout);
                await Transport.CloseAsync(Config.ResponseWriteTimeout, linger);
                if (_tls is not null)
                    await _tls.DisposeAsync();
            }
            catch (Exception ex)
            {
                _server.Logger.LogDebug(ex, "Closing connection {connection_id} failed", Info.ConnectionId);
            }
            _server.Connections.TryRemove(Info.ConnectionId, out _);
            if (Info.End == ConnectionEnd.None)
            {
                Info.ReportEnd(Transport.PeerClose switch
                {
                    PeerClose.Reset => ConnectionEnd.PeerReset,
                    _ => ConnectionEnd.ClientClosedIdle,
                });
            }
            Info.ClosedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
            _server.Release();
            try
            {
                _server.Emitter.ConnectionCompleted(Info);
            }
            finally
            {
                _completed.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Runs the TLS handshake under <c>TlsHandshakeTimeout</c>. On success the protocol's pipes become the plaintext
    /// side of TLS and the result is ALPN's choice (<see cref="ConnectionProtocol.Unknown"/> when the client offered
    /// none: the first bytes decide, as on a plaintext port). On failure the end is reported and the result is
    /// <see cref="ConnectionProtocol.Unknown"/> with <see cref="ConnectionInfo.End"/> set.
    /// </summary>
    private async ValueTask<ConnectionProtocol> HandshakeAsync(TlsServerOptions options)
    {
        if (!EnterIdle(Config.TlsHandshakeTimeout, ConnectionEnd.TlsHandshakeTimeout))
            return ConnectionProtocol.Unknown;
        var tls = new TlsTransport(Transport, Info);
        _tls = tls;
        ConnectionEnd end;
        Exception? failure;
        try
        {
            (end, failure) = await tls.HandshakeAsync(options);
        }
        finally
        {
            LeaveIdle();
            ClearIdleDeadline();
        }
        if (end != ConnectionEnd.None)
        {
            Info.ReportEnd(end);
            if (failure is not null)
            {
                var cause = failure.GetBaseException();
                _server.Logger.LogDebug("Connection {connection_id}: TLS handshake ended ({detail}): {error}", Info.ConnectionId, ConnectionEnds.Describe(Info.End).Detail, cause.Message);
            }
            return ConnectionProtocol.Unknown;
        }
        Info.TlsFeatures = tls.Features;
        Pipes = tls;
        if (tls.NegotiatedHttp2)
            return ConnectionProtocol.H2;
        return tls.NegotiatedHttp11 ? ConnectionProtocol.H1 : ConnectionProtocol.Unknown;
    }

    /// <summary>
    /// Waits for the first bytes and chooses the protocol from the endpoint's <see cref="HttpProtocols"/>: an
    /// HTTP/1-only endpoint is HTTP/1 and an HTTP/2-only one HTTP/2 (whatever arrives: a bad preface gets GOAWAY
    /// PROTOCOL_ERROR); on a shared endpoint bytes that start with <c>PRI * HTTP/2.0</c> commit the connection to
    /// HTTP/2 (the rest of the preface is checked there, so a bad remainder is GOAWAY PROTOCOL_ERROR too, not a 505),
    /// anything else is HTTP/1. <see cref="ConnectionProtocol.Unknown"/> when the connection ended first.
    /// </summary>
    private async ValueTask<ConnectionProtocol> WaitForFirstBytesAsync()
    {
        if (!EnterIdle(Config.KeepAliveTimeout, ConnectionEnd.KeepAliveTimeout))
            return ConnectionProtocol.Unknown;
        var input = Pipes.Input;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                var buffer = result.Buffer;
                if (result.IsCanceled || buffer.IsEmpty)
                {
                    input.AdvanceTo(buffer.Start);
                    if (buffer.IsEmpty && result.IsCompleted)
                        Info.ReportEnd(Transport.PeerClose == PeerClose.Reset ? ConnectionEnd.PeerReset : ConnectionEnd.ClientClosedIdle);
                    if (result.IsCanceled || result.IsCompleted)
                        return ConnectionProtocol.Unknown;
                    continue;
                }
                var protocol = _protocols switch
                {
                    HttpProtocols.Http1 => ConnectionProtocol.H1,
                    HttpProtocols.Http2 => ConnectionProtocol.H2,
                    _ => SniffPrefaceStart(buffer),
                };
                if (protocol == ConnectionProtocol.Unknown && result.IsCompleted)
                    protocol = ConnectionProtocol.H1;
                if (protocol != ConnectionProtocol.Unknown)
                {
                    // Leave the bytes for the protocol to read again.
                    input.AdvanceTo(buffer.Start, buffer.Start);
                    if (protocol == ConnectionProtocol.H2)
                        SetHeaderDeadline(); // the rest of the preface must come within HeaderTimeout
                    return protocol;
                }
                // A prefix of "PRI * HTTP/2.0": wait for more.
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        finally
        {
            LeaveIdle();
        }
    }

    /// <summary>The preface's request line, <c>PRI * HTTP/2.0</c>: bytes starting with it are HTTP/2's.</summary>
    private static ReadOnlySpan<byte> PrefaceStart => "PRI * HTTP/2.0"u8;

    /// <summary>H2 when the bytes start with <see cref="PrefaceStart"/>, Unknown while they are a prefix of it, else H1.</summary>
    internal static ConnectionProtocol SniffPrefaceStart(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[14];
        var n = (int)Math.Min(buffer.Length, head.Length);
        buffer.Slice(0, n).CopyTo(head);
        if (!head[..n].SequenceEqual(PrefaceStart[..n]))
            return ConnectionProtocol.H1;
        return n == head.Length ? ConnectionProtocol.H2 : ConnectionProtocol.Unknown;
    }

    /// <summary>Refuses a connection over <c>MaxConnections</c>: 503 with Retry-After, then the close.</summary>
    private async Task RejectAsync()
    {
        _server.Emitter.ConnectionOpened(Info);
        Info.ReportEnd(ConnectionEnd.MaxConnections);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await _socket.SendAsync(ServiceUnavailable, SocketFlags.None, cts.Token);
            ReportRefusal();
            _socket.Shutdown(SocketShutdown.Send);
            // Read what the client already sent until its FIN, briefly, so the 503 is not lost to a reset.
            var scratch = new byte[512];
            while (await _socket.ReceiveAsync(scratch, SocketFlags.None, cts.Token) > 0)
            {
            }
        }
        catch (Exception)
        {
            // The client may be gone; the refusal is still counted.
        }
        finally
        {
            _socket.Dispose();
            Info.ClosedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
            _server.Emitter.ConnectionCompleted(Info);
            _completed.TrySetResult();
        }
    }

    /// <summary>The 503 went out: its access-log line (no request head was read: method and path are unknown).</summary>
    private void ReportRefusal()
    {
        var request = new RequestInfo();
        request.Reset(Info.ConnectionId, sequence: 1, streamId: 0);
        request.StartTimestamp = Info.OpenedTimestamp;
        request.EndTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        request.Status = 503;
        _server.Emitter.ServerAnswered(Info, request);
    }

    // ---------------- deadlines ----------------

    /// <summary>
    /// Marks the connection idle (waiting for a request, nothing received) and arms the idle deadline.
    /// Returns false when the server is stopping, in which case the close is already decided.
    /// </summary>
    public bool EnterIdle(TimeSpan timeout, ConnectionEnd onExpiry)
    {
        _idleEnd = onExpiry;
        Volatile.Write(ref _idleDeadline, Environment.TickCount64 + (long)timeout.TotalMilliseconds);
        Interlocked.Exchange(ref _idle, 1);
        if (ShutdownRequested)
        {
            Info.ReportEnd(ConnectionEnd.ShutdownIdle);
            return false;
        }
        return true;
    }

    /// <summary>Bytes of a request arrived: no longer idle.</summary>
    public void LeaveIdle()
    {
        // Called again when the head is done: by then the flag is usually clear, and a read costs less than an exchange.
        if (Volatile.Read(ref _idle) != 0)
            Interlocked.Exchange(ref _idle, 0);
    }

    /// <summary>Arms the deadline for the rest of a request head.</summary>
    public void SetHeaderDeadline()
    {
        _idleEnd = ConnectionEnd.HeaderTimeout;
        Volatile.Write(ref _idleDeadline, Environment.TickCount64 + (long)Config.HeaderTimeout.TotalMilliseconds);
    }

    public void ClearIdleDeadline() => Volatile.Write(ref _idleDeadline, 0);

    /// <summary>
    /// Arms the deadline (a <see cref="Environment.TickCount64"/> value; 0 = none) of the wait for the next request body
    /// bytes, and the fact reported when it passes (the data rate or <c>BodyReadTimeout</c>).
    /// </summary>
    public void SetBodyDeadline(long deadline, ConnectionEnd onExpiry)
    {
        _bodyEnd = onExpiry;
        Volatile.Write(ref _bodyDeadline, deadline);
    }

    private ConnectionEnd _bodyEnd = ConnectionEnd.BodyReadTimeout;

    /// <summary>The minimum response data rate in force for the current request (HTTP/1.1 may change it per request); null = off.</summary>
    public Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate? ResponseDataRate
    {
        get => Volatile.Read(ref _responseDataRate);
        set => Volatile.Write(ref _responseDataRate, value);
    }

    private Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate? _responseDataRate;

    public void ClearBodyDeadline() => Volatile.Write(ref _bodyDeadline, 0);

    public void OnHeartbeat(long now)
    {
        // A send held for an application that then blocked its thread instead of waiting: sent by the tick.
        OutputScheduler.SendHeld();
        var idle = Volatile.Read(ref _idleDeadline);
        if (idle != 0 && now >= idle)
        {
            Volatile.Write(ref _idleDeadline, 0);
            Info.ReportEnd(_idleEnd);
            Pipes.Input.CancelPendingRead();
        }
        var body = Volatile.Read(ref _bodyDeadline);
        if (body != 0 && now >= body)
        {
            Volatile.Write(ref _bodyDeadline, 0);
            Info.ReportEnd(_bodyEnd);
            Pipes.Input.CancelPendingRead();
        }
        Volatile.Read(ref _heartbeatCallback)?.Invoke(now);
        var sendStarted = Transport.SendStartedTicks;
        if (sendStarted != 0)
        {
            var sending = now - sendStarted;
            if (sending >= (long)Config.ResponseWriteTimeout.TotalMilliseconds)
                Abort(ConnectionEnd.WriteTimeout);
            else if (ResponseDataRate is { BytesPerSecond: > 0 } rate && sending > rate.GracePeriod.TotalMilliseconds
                && sending > Transport.SendPendingBytes * 1000.0 / rate.BytesPerSecond)
                Abort(ConnectionEnd.MinResponseDataRate); // Kestrel's: a send of N bytes may take max(grace, N / rate).
        }
    }

    // ---------------- shutdown and abort ----------------

    private Action? _upgradedShutdown;

    /// <summary>
    /// The connection was upgraded: <paramref name="onShutdown"/> runs when the server stops (at once if it is already
    /// stopping), once, so the application's loop over the upgraded stream can end before <c>ShutdownTimeout</c>.
    /// </summary>
    public void SetUpgraded(Action onShutdown)
    {
        Volatile.Write(ref _upgradedShutdown, onShutdown);
        if (ShutdownRequested)
            Interlocked.Exchange(ref _upgradedShutdown, null)?.Invoke();
    }

    /// <summary>
    /// The first step of a server stop, taken for every connection before any is asked to close
    /// (<see cref="RequestShutdown"/>): from here a request that completes closes its connection as drained instead of
    /// going back to idle, even if the server has not reached this connection's <see cref="RequestShutdown"/> yet.
    /// </summary>
    public void MarkShutdown() => Interlocked.Exchange(ref _shutdownRequested, 1);

    /// <summary>The server is stopping: close now if idle, else after the request in flight.</summary>
    public void RequestShutdown()
    {
        Interlocked.Exchange(ref _shutdownRequested, 1);
        Interlocked.Exchange(ref _upgradedShutdown, null)?.Invoke();
        if (Volatile.Read(ref _idle) != 0)
        {
            Info.ReportEnd(ConnectionEnd.ShutdownIdle);
            Pipes.Input.CancelPendingRead();
        }
        Volatile.Read(ref _shutdownCallback)?.Invoke();
    }

    /// <summary>
    /// Registers the protocol's reaction to <see cref="RequestShutdown"/> (HTTP/2 sends GOAWAY and drains). Check
    /// <see cref="ShutdownRequested"/> after registering: a shutdown may have come before.
    /// </summary>
    public void OnShutdownRequested(Action callback) => Volatile.Write(ref _shutdownCallback, callback);

    /// <summary>Registers a protocol check run on every heartbeat (HTTP/2: per-stream request body deadlines).</summary>
    public void OnHeartbeatTick(Action<long> callback) => Volatile.Write(ref _heartbeatCallback, callback);

    /// <summary>Records <paramref name="end"/> (if first) and tears the socket down.</summary>
    public void Abort(ConnectionEnd end)
    {
        Info.ReportEnd(end);
        Transport.Abort();
    }
}
