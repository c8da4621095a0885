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

        var urls = _addresses.Addresses.Count > 0
            ? _addresses.Addresses.ToArray()
            : [DefaultUrl()];
        var targets = new List<ListenAddress>();
        foreach (var url in urls)
            targets.Add(ListenAddress.Parse(url));

        TlsServerOptions? tls = null;
        foreach (var target in targets)
        {
            if (target.IsHttps && tls is null)
                tls = TlsServerOptions.Create(_config);
        }

        _context = new ServerContext(_config, application, _emitter, _logger);
        var perWorker = new List<Listener>[_config.Workers];
        for (var i = 0; i < perWorker.Length; i++)
            perWorker[i] = [];
        var bound = new List<string>();
        try
        {
            foreach (var target in targets)
            {
                var port = target.Port;
                foreach (var ip in target.Addresses)
                {
                    Socket[] sockets;
                    try
                    {
                        sockets = ListenSocket.Bind(new IPEndPoint(ip, port), _config.Workers, _config.Backlog);
                    }
                    catch (SocketException ex) when (target.Host == "localhost" && ip.AddressFamily == AddressFamily.InterNetworkV6)
                    {
                        _logger.LogDebug("Skipping [::1] for localhost: {error}", ex.SocketErrorCode);
                        continue;
                    }
                    catch (SocketException ex)
                    {
                        throw new IOException($"Pounce could not bind {ip}:{port}: {ex.Message}", ex);
                    }
                    var actual = (IPEndPoint)sockets[0].LocalEndPoint!;
                    port = actual.Port;
                    var endpointTls = target.IsHttps ? tls : null;
                    for (var w = 0; w < perWorker.Length; w++)
                        perWorker[w].Add(new Listener(sockets.Length == perWorker.Length ? sockets[w] : sockets[0], endpointTls));
                    if (target.Host == "localhost")
                    {
                        var url = target.Scheme + "://localhost:" + port.ToString(CultureInfo.InvariantCulture);
                        if (!bound.Contains(url))
                            bound.Add(url);
                    }
                    else
                    {
                        bound.Add(target.Scheme + "://" + FormatHost(actual.Address) + ":" + port.ToString(CultureInfo.InvariantCulture));
                    }
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

    private string DefaultUrl()
    {
        var host = _config.Host;
        if (IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6)
            host = "[" + host + "]";
        var scheme = ServerCertificateLoader.IsConfigured(_config) ? "https://" : "http://";
        return scheme + host + ":" + _config.Port.ToString(CultureInfo.InvariantCulture);
    }

    private static string FormatHost(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? "[" + address + "]" : address.ToString();

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
