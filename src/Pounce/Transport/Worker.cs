using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Tls;

namespace Pounce.Transport;

/// <summary>
/// One accept loop: takes connections from its listening sockets, admits them under <c>MaxConnections</c>, and
/// starts each on the thread pool tagged with this worker's id.
/// </summary>
internal sealed class Worker
{
    private readonly ServerContext _server;
    private readonly Listener[] _listeners;
    private readonly List<Task> _loops = [];

    public Worker(ServerContext server, int id, Listener[] listeners)
    {
        _server = server;
        Id = id;
        _listeners = listeners;
    }

    /// <summary>1..N.</summary>
    public int Id { get; }

    public void Start()
    {
        foreach (var listener in _listeners)
            _loops.Add(AcceptLoopAsync(listener));
    }

    private async Task AcceptLoopAsync(Listener listener)
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await listener.Socket.AcceptAsync();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted or SocketError.InvalidArgument)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Transient accept failures (the peer reset before accept, out of descriptors): keep serving.
                _server.Logger.LogWarning("Worker {worker_id} accept failed: {error}", Id, ex.SocketErrorCode);
                if (_server.IsStopping)
                    return;
                continue;
            }
            if (_server.IsStopping)
            {
                socket.Dispose();
                continue;
            }
            if (socket.AddressFamily != AddressFamily.Unix)
                socket.NoDelay = true;
            var admitted = _server.TryAdmit();
            var connection = new Connection(_server, socket, Id, admitted, listener.Tls, listener.Protocols);
            ThreadPool.UnsafeQueueUserWorkItem(connection, preferLocal: false);
        }
    }

    /// <summary>Stops accepting: closes the listening sockets and waits for the loops to end.</summary>
    public Task StopAcceptingAsync()
    {
        foreach (var listener in _listeners)
            listener.Socket.Dispose();
        return Task.WhenAll(_loops);
    }
}

/// <summary>
/// A listening socket, the protocols its endpoint serves and, for an HTTPS endpoint, the TLS options of the
/// connections it accepts.
/// </summary>
internal readonly record struct Listener(Socket Socket, TlsServerOptions? Tls, HttpProtocols Protocols = HttpProtocols.Http1AndHttp2);
