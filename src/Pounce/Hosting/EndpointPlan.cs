using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using Pounce.Tls;

namespace Pounce.Hosting;

/// <summary>One endpoint the server will bind: its address, protocols and TLS options (null for http://).</summary>
internal sealed record PlannedEndpoint(string Url, ListenAddress Address, HttpProtocols Protocols, TlsServerOptions? Tls);

/// <summary>
/// Decides what a server binds, as Kestrel does: <see cref="ServerConfig.Endpoints"/> when there are any (the hosting
/// URLs, if any, are left out with a warning naming them), unless the host prefers its URLs
/// (<c>PreferHostingUrls</c>, which the <c>pounce</c> command sets for <c>--urls</c>); else the hosting URLs
/// (<c>--urls</c>, <c>ASPNETCORE_URLS</c>, <c>ASPNETCORE_HTTP_PORTS</c>/<c>HTTPS_PORTS</c>, <c>UseUrls</c>); else
/// <see cref="ServerConfig.Host"/>:<see cref="ServerConfig.Port"/>. Loads every HTTPS endpoint's certificate.
/// </summary>
internal static class EndpointPlan
{
    public static List<PlannedEndpoint> Create(ServerConfig config, ICollection<string> hostingUrls, bool preferHostingUrls, ILogger logger)
    {
        var plan = new List<PlannedEndpoint>();
        var useEndpoints = config.Endpoints.Count > 0 && !(preferHostingUrls && hostingUrls.Count > 0);
        if (useEndpoints)
        {
            if (hostingUrls.Count > 0)
            {
                logger.LogWarning("Overriding address(es) '{Addresses}': binding the configured endpoints ({Endpoints}) instead, as Kestrel does.",
                    string.Join(", ", hostingUrls), string.Join(", ", config.Endpoints.Select(e => e.Url)));
            }
            foreach (var endpoint in config.Endpoints)
                plan.Add(Plan(config, endpoint.Url, endpoint, logger));
            return plan;
        }
        if (config.Endpoints.Count > 0)
        {
            logger.LogWarning("Endpoints ({Endpoints}) are not bound: the host prefers its URLs ({Addresses}).",
                string.Join(", ", config.Endpoints.Select(e => e.Url)), string.Join(", ", hostingUrls));
        }
        var urls = hostingUrls.Count > 0 ? hostingUrls.ToArray() : [DefaultUrl(config)];
        foreach (var url in urls)
            plan.Add(Plan(config, url, null, logger));
        return plan;
    }

    private static PlannedEndpoint Plan(ServerConfig config, string url, PounceEndpoint? endpoint, ILogger logger)
    {
        ListenAddress address;
        try
        {
            address = ListenAddress.Parse(url);
        }
        catch (InvalidOperationException ex)
        {
            throw new PounceConfigurationException(endpoint is null ? ex.Message : $"Endpoint {endpoint.Name}: {ex.Message}", ex);
        }
        if (address.IsHostName)
            logger.LogWarning("'{Host}' in {Url} is not an IP address or localhost: binding every address ([::]) instead, as Kestrel does.", address.Host, url);
        var protocols = endpoint?.Protocols ?? config.Protocols;
        if (protocols is not (HttpProtocols.Http1 or HttpProtocols.Http2 or HttpProtocols.Http1AndHttp2))
            throw new PounceConfigurationException($"Endpoint {url}: Protocols = {protocols} is not supported: expected Http1, Http2 or Http1AndHttp2 (Pounce does not serve HTTP/3).");
        if (!config.Http2Enabled && protocols == HttpProtocols.Http2)
            throw new PounceConfigurationException($"Endpoint {url}: Protocols = Http2, but Http2Enabled is false.");
        var mode = endpoint?.ClientCertificateMode ?? config.ClientCertificateMode;
        if (mode is not (ClientCertificateMode.NoCertificate or ClientCertificateMode.AllowCertificate or ClientCertificateMode.RequireCertificate))
            throw new PounceConfigurationException($"Endpoint {url}: ClientCertificateMode = {mode} is not supported: expected NoCertificate, AllowCertificate or RequireCertificate.");
        TlsServerOptions? tls = null;
        if (address.IsHttps)
        {
            var (leaf, chain) = ServerCertificateLoader.LoadFor(config, endpoint, url);
            tls = TlsServerOptions.Create(config, leaf, chain, protocols, mode);
        }
        else if (endpoint?.Certificate is not null || endpoint?.ServerCertificate is not null || (endpoint?.ClientCertificateMode ?? ClientCertificateMode.NoCertificate) != ClientCertificateMode.NoCertificate)
        {
            logger.LogWarning("Endpoint {Name} ({Url}) is http://: its Certificate and ClientCertificateMode are not used.", endpoint!.Name, url);
        }
        return new PlannedEndpoint(url, address, protocols, tls);
    }

    private static string DefaultUrl(ServerConfig config)
    {
        var host = config.Host;
        if (IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6)
            host = "[" + host + "]";
        var scheme = ServerCertificateLoader.IsConfigured(config) ? "https://" : "http://";
        return scheme + host + ":" + config.Port.ToString(CultureInfo.InvariantCulture);
    }
}
