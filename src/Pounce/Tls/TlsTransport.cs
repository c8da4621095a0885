using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using Pounce.Connections;
using Pounce.Transport;

namespace Pounce.Tls;

/// <summary>
/// TLS over a connection's socket pipes: runs the server handshake (with ALPN) through an <see cref="SslStream"/>,
/// then offers the plaintext as a new pair of pipes for the protocol (HTTP/1.1, HTTP/2, WebSocket), pumped by a
/// decrypt loop and an encrypt loop. It knows nothing of HTTP; it reports TLS facts on the <see cref="ConnectionInfo"/>.
/// </summary>
internal sealed class TlsTransport : IDuplexPipe
{
    // The decrypt loop already runs on the thread pool (the socket pipe's reader is scheduled there), so the
    // protocol continues inline on it: one thread hop per received batch, as without TLS.
    private static readonly PipeOptions InputOptions = new(
        pauseWriterThreshold: 1024 * 1024,
        resumeWriterThreshold: 512 * 1024,
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        useSynchronizationContext: false);


    /// <summary>Response bytes gathered into one TLS write when a batch spans several pipe segments.</summary>
    private const int CoalesceLimit = 16 * 1024;

    private readonly SocketTransport _socket;
    private readonly ConnectionInfo _info;
    private readonly PipeStream _inner;
    private readonly SslStream _ssl;
    private readonly Pipe _input = new(InputOptions);
    private readonly SendScheduler _sendScheduler = new();
    private readonly Pipe _output;
    private Task _receiveTask = Task.CompletedTask;
    private Task _sendTask = Task.CompletedTask;
    private volatile bool _closing;

    public TlsTransport(SocketTransport socket, ConnectionInfo info)
    {
        _socket = socket;
        _info = info;
        _output = new Pipe(_sendScheduler.CreateOptions());
        _inner = new PipeStream(socket);
        _ssl = new SslStream(_inner, leaveInnerStreamOpen: true);
    }

    /// <summary>Plaintext from the client.</summary>
    public PipeReader Input => _input.Reader;

    /// <summary>Plaintext to the client.</summary>
    public PipeWriter Output => _output.Writer;

    /// <summary>Runs the send loop of <see cref="Output"/>; see <see cref="SendScheduler.FlushHeldAsync"/>.</summary>
    public SendScheduler OutputScheduler => _sendScheduler;

    /// <summary>The TLS features the application sees (set once the handshake succeeded).</summary>
    public TlsConnectionFeatures? Features { get; private set; }

    /// <summary>True when ALPN chose <c>h2</c>.</summary>
    public bool NegotiatedHttp2 => _ssl.NegotiatedApplicationProtocol == SslApplicationProtocol.Http2;

    /// <summary>True when ALPN chose <c>http/1.1</c> (false when the client offered no ALPN).</summary>
    public bool NegotiatedHttp11 => _ssl.NegotiatedApplicationProtocol == SslApplicationProtocol.Http11;

    /// <summary>
    /// Runs the server handshake. Returns <see cref="ConnectionEnd.None"/> on success (and starts the pumps), or the
    /// fact that ended it: the connection's own deadline (already reported by the heartbeat), a client that closed or
    /// reset before sending anything, or <see cref="ConnectionEnd.TlsHandshakeFailed"/>. <c>Failure</c>
    /// carries the handshake's error for the debug log.
    /// </summary>
    public async ValueTask<(ConnectionEnd End, Exception? Failure)> HandshakeAsync(TlsServerOptions options)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await _ssl.AuthenticateAsServerAsync(options.Authentication, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // Whatever the platform throws (AuthenticationException, IOException, a cancelled read, ...), the
            // handshake did not happen: that is a fact about this connection, not a fault of the server.
            _info.TlsHandshakeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (_info.End != ConnectionEnd.None)
                return (_info.End, ex);
            if (_inner.BytesRead == 0 && _socket.PeerClose != PeerClose.None)
                return (_socket.PeerClose == PeerClose.Fin ? ConnectionEnd.ClientClosedIdle : ConnectionEnd.PeerReset, ex);
            return (ConnectionEnd.TlsHandshakeFailed, ex);
        }
        _info.TlsHandshakeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        _info.TlsProtocolVersion = _ssl.SslProtocol switch
        {
            SslProtocols.Tls13 => "1.3",
            SslProtocols.Tls12 => "1.2",
            var other => other.ToString(),
        };
        var serverName = _ssl.TargetHostName;
        _info.TlsServerName = string.IsNullOrEmpty(serverName) ? null : serverName;
        Features = new TlsConnectionFeatures(_ssl, _info.TlsServerName);
        _receiveTask = ReceiveLoopAsync();
        _sendTask = SendLoopAsync();
        return (ConnectionEnd.None, null);
    }

    private async Task ReceiveLoopAsync()
    {
        var writer = _input.Writer;
        try
        {
            while (true)
            {
                // Wait for a record before taking a buffer, so idle connections hold no plaintext memory.
#pragma warning disable CA2022 // A zero-byte read only waits for data; it never returns any.
                await _ssl.ReadAsync(Memory<byte>.Empty);
#pragma warning restore CA2022
                var memory = writer.GetMemory(4096);
                var read = await _ssl.ReadAsync(memory);
                if (read == 0)
                {
                    // close_notify (or the socket's EOF, already recorded): the client closed its side. It may keep
                    // the socket open, so say so here, before the protocol sees the end of its input.
                    if (!_closing)
                        _socket.OnPeerEndedStream();
                    break;
                }
                writer.Advance(read);
                var result = await writer.FlushAsync();
                if (result.IsCompleted || result.IsCanceled)
                    break;
            }
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // A peer that went away shows in the socket's PeerClose; anything else broke the TLS stream itself.
            if (_socket.PeerClose == PeerClose.None && !_closing)
            {
                _info.ReportEnd(ConnectionEnd.TlsError);
                _socket.Abort();
            }
        }
        finally
        {
            await writer.CompleteAsync();
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        byte[]? gathered = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                var buffer = result.Buffer;
                try
                {
                    if (buffer.IsSingleSegment)
                    {
                        if (!buffer.IsEmpty)
                            await _ssl.WriteAsync(buffer.First);
                    }
                    else if (buffer.Length <= CoalesceLimit)
                    {
                        // A response head and its body in two segments: one TLS record, one send. The copy goes
                        // back to the pool at once, so an idle connection holds no 16 KiB buffer.
                        gathered = ArrayPool<byte>.Shared.Rent(CoalesceLimit);
                        var length = (int)buffer.Length;
                        buffer.CopyTo(gathered);
                        await _ssl.WriteAsync(gathered.AsMemory(0, length));
                        ArrayPool<byte>.Shared.Return(gathered);
                        gathered = null;
                    }
                    else
                    {
                        foreach (var segment in buffer)
                        {
                            if (!segment.IsEmpty)
                                await _ssl.WriteAsync(segment);
                        }
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.End);
                }
                if (result.IsCompleted || result.IsCanceled)
                    break;
            }
            await _ssl.ShutdownAsync();
            await reader.CompleteAsync();
        }
        catch (Exception ex)
        {
            await reader.CompleteAsync(ex);
            // Unblock a protocol waiting for a request that can never be answered.
            _input.Reader.CancelPendingRead();
        }
        finally
        {
            if (gathered is not null)
                ArrayPool<byte>.Shared.Return(gathered);
        }
    }

    /// <summary>
    /// Sends what the protocol wrote and a close_notify alert (waiting at most <paramref name="sendTimeout"/>),
    /// then stops reading. The socket transport is closed by the caller afterwards.
    /// </summary>
    public async ValueTask CloseAsync(TimeSpan sendTimeout)
    {
        _closing = true;
        _sendScheduler.SendHeld(); // a response waiting for its poller's batch to end goes now
        await _output.Writer.CompleteAsync();
        if (!_sendTask.IsCompleted)
            await Task.WhenAny(_sendTask, Task.Delay(sendTimeout));
        await _input.Reader.CompleteAsync();
    }

    /// <summary>Waits for the pumps to end (after the socket is closed) and releases the TLS state.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _receiveTask;
            await _sendTask;
        }
        catch (Exception)
        {
            // The loops record their own failures.
        }
        _ssl.Dispose();
        _inner.Dispose();
    }
}
