using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Pounce.Hosting;

namespace Pounce.BenchApp;

/// <summary>Puts the chosen server under a builder: the binding both share, and only the settings the command line gave.</summary>
internal static class ServerSetup
{
    /// <summary>
    /// Binds <c>http(s)://127.0.0.1:PORT</c> and configures Kestrel or Pounce. Settings not given on the command line
    /// keep <paramref name="fallback"/>'s values (the core app's historical bench settings) or, when that is null, the
    /// server's own defaults (the realistic app).
    /// </summary>
    public static void Configure(WebApplicationBuilder builder, BenchOptions options, CoreDefaults? fallback)
    {
        var tls = options.TlsCert is not null;
        builder.WebHost.UseUrls($"{(tls ? "https" : "http")}://127.0.0.1:{options.Port}");
        var keepAlive = options.KeepAliveTimeout ?? fallback?.KeepAliveTimeout;

        if (options.Server == ServerKind.Kestrel)
        {
            if (tls)
                builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves Kestrel's HTTPS out
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.AddServerHeader = true; // "Server: Kestrel" (its default), as Pounce sends "Server: pounce"
                if (keepAlive is { } k)
                    kestrel.Limits.KeepAliveTimeout = k;
                kestrel.Limits.MaxConcurrentConnections = options.MaxConnections;
                var protocols = tls ? BenchProtocols.Http1AndHttp2 : options.Protocols ?? fallback?.Protocols;
                if (protocols is { } p)
                {
                    kestrel.ConfigureEndpointDefaults(endpoint => endpoint.Protocols = p switch
                    {
                        BenchProtocols.Http2 => HttpProtocols.Http2,
                        BenchProtocols.Http1AndHttp2 => HttpProtocols.Http1AndHttp2,
                        _ => HttpProtocols.Http1,
                    });
                }
                if (tls)
                {
                    var certificate = X509Certificate2.CreateFromPemFile(options.TlsCert!, options.TlsKey);
                    kestrel.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate);
                }
            });
            return;
        }

        builder.WebHost.UsePounce(config =>
        {
            config.Host = "127.0.0.1";
            config.Port = options.Port;
            if (keepAlive is { } k)
                config.KeepAliveTimeout = k;
            config.MaxConnections = options.MaxConnections;
            if (options.Workers is { } workers)
                config.Workers = workers;
            if ((options.LifecycleLogging ?? fallback?.LifecycleLogging) is { } lifecycle)
                config.LifecycleLogging = lifecycle;
            if (options.LogLevel is { } level)
                config.LogLevel = level;
            if (options.LogFormat is { } format)
                config.LogFormat = format;
            if (options.LogFile is not null)
                config.LogFile = options.LogFile;
            if ((options.AccessLog ?? fallback?.AccessLog) is { } access)
                config.AccessLog = access;
            if (tls)
            {
                config.SslCertFile = options.TlsCert;
                config.SslKeyFile = options.TlsKey;
            }
            if (options.OtelEndpoint is not null)
                config.OtelEndpoint = options.OtelEndpoint;
        });
    }
}

/// <summary>The settings the core (routing-free) app has always used on both servers, unless the command line overrides them.</summary>
internal sealed record CoreDefaults(TimeSpan KeepAliveTimeout, BenchProtocols Protocols, bool LifecycleLogging, bool AccessLog)
{
    /// <summary>Keep-alive 120 s, Kestrel HTTP/1.1 only on cleartext, Pounce with no lifecycle logging and no access log.</summary>
    public static readonly CoreDefaults Instance = new(TimeSpan.FromSeconds(120), BenchProtocols.Http1, LifecycleLogging: false, AccessLog: false);
}
