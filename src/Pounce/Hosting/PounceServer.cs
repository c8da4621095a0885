using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Pounce.Connections;
using Pounce.Features;
using Pounce.Lifecycle;
using Pounce.Tls;
using Pounce.Transport;

namespace Pounce.Hosting;

/// <summary>
/// Pounce's <see cref="IServer"/>: binds the configured addresses with one accept loop per worker, serves HTTP/1.1
/// to the ASP.NET Core application, and shuts down gracefully.
/// </summary>
public sealed class PounceServer : IServer
{
    private readonly ServerConfig _config;
    private readonly LifecycleEmitter _emitter;
    private readonly ILogger _logger;
    private readonly ServerAddressesFeature _addresses = new();
    private readonly List<Worker> _workers = [];
    private readonly List<string> _unixPaths = [];
    private ServerContext? _context;
    private int _state; // 0 new, 1 started, 2 stopping, 3 stopped

    /// <summary>Creates the server from DI (used by <c>UsePounce</c>).</summary>
    public PounceServer(IOptions<ServerConfig> options, LifecycleEmitter emitter, ILoggerFactory? loggerFactory = null)
        : this(options.Value, emitter, loggerFactory)
    {
    }

    /// <summary>Creates a server with explicit settings.</summary>
    public PounceServer(ServerConfig config, LifecycleEmitter emitter, ILoggerFactory? loggerFactory = null)
    {
        _config = config.Clone();
        _emitter = emitter;
        _logger = Logging.PounceOwnLogger.Create("Pounce.Server", emitter.Writer, loggerFactory, _config.LogLevel);
        Features.Set<IServerAddressesFeature>(_addresses);
    }

    /// <inheritdoc />
    public IFeatureCollection Features { get; } = new FeatureCollection();

    /// <summary>The settings in force (a copy taken at construction).</summary>
    public ServerConfig Config => _config;

    /// <summary>The addresses actually bound, with real ports (after start).</summary>
    public ICollection<string> Addresses => _addresses.Addresses;

    /// <summary>Connections accepted and not yet closed (for tests and diagnostics); 0 before start.</summary>
    internal int OpenConnections => _context?.Connections.Count ?? 0;

    /// <inheritdoc />
    public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull
        => StartAsync(new HostingRequestApplication<TContext>(application), cancellationToken);

    /// <summary>Starts serving <paramref name="application"/> (a protocol-level application, e.g. for tests).</summary>
    public Task StartAsync(RequestApplication application, CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            throw new InvalidOperationException("The server has already been started.");
        try
        {
            Start(application);
        }
        catch
        {
            Volatile.Write(ref _state, 3);
            throw;
        }
        return Task.CompletedTask;
    }

    private void Start(RequestApplication application)
    {
        _config.Validate();
        foreach (var warning in _config.ConfigurationWarnings)
            _logger.LogWarning("{Warning}", warning);

        var plan = EndpointPlan.Create(_config, _addresses.Addresses, _addresses.PreferHostingUrls, _logger);
        _context = new ServerContext(_config, application, _emitter, _logger);
        var perWorker = new List<Listener>[_config.Workers];
        for (var i = 0; i < perWorker.Length; i++)
            perWorker[i] = [];
        var bound = new List<string>();
        try
        {
            foreach (var endpoint in plan)
            {
                var target = endpoint.Address;
                if (target.UnixPath is { } path)
                {
                    var socket = Bind(() => ListenSocket.BindUnix(path, _config.Backlog), target, endpoint.Url);
                    _unixPaths.Add(path);
                    for (var w = 0; w < perWorker.Length; w++)
                        perWorker[w].Add(new Listener(socket, endpoint.Tls, endpoint.Protocols));
                    bound.Add(target.Format(IPAddress.None, 0));
                    continue;
                }
                var port = target.Port;
                foreach (var ip in target.Addresses)
                {
                    Socket[] sockets;
                    try
                    {
                        var p = port;
                        sockets = Bind(() => ListenSocket.Bind(new IPEndPoint(ip, p), _config.Workers, _config.Backlog), target, endpoint.Url);
                    }
                    catch (IOException ex) when (target.Host == "localhost" && ip.AddressFamily == AddressFamily.InterNetworkV6 && ex.InnerException is SocketException se
                        && se.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported)
                    {
                        _logger.LogDebug("Skipping [::1] for localhost: {error}", se.SocketErrorCode);
                        continue;
                    }
                    var actual = (IPEndPoint)sockets[0].LocalEndPoint!;
                    port = actual.Port;
                    for (var w = 0; w < perWorker.Length; w++)
                        perWorker[w].Add(new Listener(sockets.Length == perWorker.Length ? sockets[w] : sockets[0], endpoint.Tls, endpoint.Protocols));
                    var url = target.Format(actual.Address, port);
                    if (!bound.Contains(url))
                        bound.Add(url);
                }
            }
        }
        catch
        {
            foreach (var list in perWorker)
            {
                foreach (var listener in list)
                    listener.Socket.Dispose();
            }
            DeleteUnixSockets();
            _context.Heartbeat.Dispose();
            throw;
        }

        _addresses.Addresses.Clear();
        foreach (var url in bound)
            _addresses.Addresses.Add(url);
        for (var i = 0; i < perWorker.Length; i++)
        {
            var worker = new Worker(_context, i + 1, [.. perWorker[i]]);
            _workers.Add(worker);
            worker.Start();
        }
        _logger.LogDebug("Pounce listening on {addresses} with {workers} workers ({mode})",
            string.Join(", ", bound), _config.Workers, ListenSocket.SupportsReusePort && _config.Workers > 1 ? "SO_REUSEPORT" : "shared socket");
        Logging.StartupNotice.WriteIfLoggingToFile(_config, bound);
    }

    /// <summary>Binds, turning a socket error into Kestrel's message: "Failed to bind to address URL: address already in use."</summary>
    private static T Bind<T>(Func<T> bind, ListenAddress target, string url)
    {
        try
        {
            return bind();
        }
        catch (SocketException ex)
        {
            var what = ex.SocketErrorCode == SocketError.AddressAlreadyInUse ? "address already in use" : ex.Message;
            throw new IOException($"Failed to bind to address {url}: {what}.", ex);
        }
    }

    private void DeleteUnixSockets()
    {
        foreach (var path in _unixPaths)
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        _unixPaths.Clear();
    }

    /// <summary>
    /// Stops accepting, closes idle connections at once, lets requests in flight finish within
    /// <see cref="ServerConfig.ShutdownTimeout"/> (or until <paramref name="cancellationToken"/> fires), then aborts
    /// what is left.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) != 1)
            return;
        var context = _context!;
        context.BeginStopping();
        _logger.LogInformation("Pounce stopping: {connections} open connections", context.Connections.Count);
        foreach (var worker in _workers)
            await worker.StopAcceptingAsync();

        // Two passes: every connection knows of the stop before an idle one closes, so a request that completes once
        // another connection has closed cannot go back to idle and be reported as shutdown_idle instead of drained.
        foreach (var connection in context.Connections.Values)
            connection.MarkShutdown();
        foreach (var connection in context.Connections.Values)
            connection.RequestShutdown();

        var drained = await WaitForConnectionsAsync(context, _config.ShutdownTimeout, cancellationToken);
        if (!drained)
        {
            var left = 0;
            foreach (var connection in context.Connections.Values)
            {
                left++;
                connection.Abort(ConnectionEnd.ShutdownAborted);
            }
            _logger.LogWarning("Pounce aborted {count} connections still busy after the shutdown timeout", left);
            await WaitForConnectionsAsync(context, TimeSpan.FromSeconds(5), CancellationToken.None);
        }
        context.Heartbeat.Dispose();
        DeleteUnixSockets();
        Volatile.Write(ref _state, 3);
        _logger.LogInformation("Pounce stopped");
    }

    private static async Task<bool> WaitForConnectionsAsync(ServerContext context, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var deadline = Task.Delay(Timeout.Infinite, cts.Token);
        while (!context.Connections.IsEmpty)
        {
            var tasks = new List<Task>();
            foreach (var connection in context.Connections.Values)
                tasks.Add(connection.Completed);
            var all = Task.WhenAll(tasks);
            if (await Task.WhenAny(all, deadline) != all)
                return context.Connections.IsEmpty;
        }
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Volatile.Read(ref _state) == 1)
            StopAsync(new CancellationTokenSource(TimeSpan.Zero).Token).GetAwaiter().GetResult();
        _context?.Heartbeat.Dispose();
    }

    private sealed class ServerAddressesFeature : IServerAddressesFeature
    {
        public ICollection<string> Addresses { get; } = new List<string>();

        public bool PreferHostingUrls { get; set; }
    }
}
