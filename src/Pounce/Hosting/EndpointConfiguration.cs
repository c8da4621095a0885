using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;

namespace Pounce.Hosting;

/// <summary>
/// Reads what a Kestrel app carries in configuration into <see cref="ServerConfig"/>: <c>Kestrel:Certificates:Default</c>,
/// <c>Kestrel:EndpointDefaults</c> (<c>Protocols</c>, <c>ClientCertificateMode</c>) and the endpoints of
/// <c>Pounce:Endpoints</c>, else <c>Kestrel:Endpoints</c>. Every other <c>Kestrel</c> key is named in a warning
/// (Pounce's own settings are in section <c>Pounce</c>); a value that cannot be honoured is an error naming its key.
/// </summary>
internal static class EndpointConfiguration
{
    /// <summary>ASP.NET Core's usual place for the default HTTPS certificate (<c>Path</c>, <c>KeyPath</c>, <c>Password</c>).</summary>
    public const string DefaultCertificateSection = "Kestrel:Certificates:Default";

    private static readonly HashSet<string> EndpointKeys = new(StringComparer.OrdinalIgnoreCase) { "Url", "Protocols", "Certificate", "ClientCertificateMode" };
    private static readonly HashSet<string> CertificateKeys = new(StringComparer.OrdinalIgnoreCase) { "Path", "KeyPath", "Password", "Subject", "Store", "Location", "AllowInvalid" };

    /// <summary>Applies the Kestrel defaults; run before the <c>Pounce</c> section is bound, so Pounce's own keys win.</summary>
    public static void ApplyKestrelDefaults(ServerConfig config, IConfiguration configuration)
    {
        var certificate = configuration.GetSection(DefaultCertificateSection);
        if (certificate["Path"] is { Length: > 0 } path)
        {
            config.SslCertFile = path;
            config.SslKeyFile = certificate["KeyPath"] is { Length: > 0 } keyPath ? keyPath : null;
            config.SslKeyPassword = certificate["Password"];
        }
        var defaults = configuration.GetSection("Kestrel:EndpointDefaults");
        if (defaults["Protocols"] is { Length: > 0 } protocols)
            config.Protocols = ParseProtocols(protocols, "Kestrel:EndpointDefaults:Protocols");
        if (defaults["ClientCertificateMode"] is { Length: > 0 } mode)
            config.ClientCertificateMode = ParseMode(mode, "Kestrel:EndpointDefaults:ClientCertificateMode");

        foreach (var child in configuration.GetSection("Kestrel").GetChildren())
        {
            switch (child.Key.ToLowerInvariant())
            {
                case "endpoints":
                    break;
                case "endpointdefaults":
                    foreach (var key in child.GetChildren())
                    {
                        if (!key.Key.Equals("Protocols", StringComparison.OrdinalIgnoreCase) && !key.Key.Equals("ClientCertificateMode", StringComparison.OrdinalIgnoreCase))
                            Warn(config, key.Path);
                    }
                    break;
                case "certificates":
                    foreach (var named in child.GetChildren())
                    {
                        if (!named.Key.Equals("Default", StringComparison.OrdinalIgnoreCase))
                            Warn(config, named.Path);
                        else
                            WarnUnknown(config, named, CertificateKeys);
                    }
                    break;
                default:
                    WarnLeaves(config, child);
                    break;
            }
        }
    }

    /// <summary>
    /// Replaces <see cref="ServerConfig.Endpoints"/> with <c>Pounce:Endpoints</c>, or <c>Kestrel:Endpoints</c> when Pounce
    /// has none; run after the <c>Pounce</c> section is bound (the binder's own copy of the list is replaced).
    /// </summary>
    public static void ApplyEndpoints(ServerConfig config, IConfiguration configuration)
    {
        config.Endpoints.Clear();
        var section = configuration.GetSection("Pounce:Endpoints");
        if (!section.GetChildren().Any())
            section = configuration.GetSection("Kestrel:Endpoints");
        foreach (var child in section.GetChildren())
            config.Endpoints.Add(ReadEndpoint(config, child));
    }

    private static PounceEndpoint ReadEndpoint(ServerConfig config, IConfigurationSection section)
    {
        var url = section["Url"];
        if (string.IsNullOrWhiteSpace(url))
            throw new PounceConfigurationException($"{section.Path}: the endpoint has no Url (e.g. \"Url\": \"http://127.0.0.1:8080\").");
        var endpoint = new PounceEndpoint { Name = section.Key, Url = url.Trim() };
        if (section["Protocols"] is { Length: > 0 } protocols)
            endpoint.Protocols = ParseProtocols(protocols, section.Path + ":Protocols");
        if (section["ClientCertificateMode"] is { Length: > 0 } mode)
            endpoint.ClientCertificateMode = ParseMode(mode, section.Path + ":ClientCertificateMode");
        var certificate = section.GetSection("Certificate");
        if (certificate.GetChildren().Any())
        {
            WarnUnknown(config, certificate, CertificateKeys);
            var allowInvalid = certificate["AllowInvalid"];
            endpoint.Certificate = new EndpointCertificate
            {
                Path = certificate["Path"],
                KeyPath = certificate["KeyPath"],
                Password = certificate["Password"],
                Subject = certificate["Subject"],
                Store = certificate["Store"],
                Location = certificate["Location"],
                AllowInvalid = allowInvalid is not null && (bool.TryParse(allowInvalid, out var b)
                    ? b
                    : throw new PounceConfigurationException($"Invalid value '{allowInvalid}' for {certificate.Path}:AllowInvalid: expected true or false.")),
            };
        }
        WarnUnknown(config, section, EndpointKeys);
        return endpoint;
    }

    /// <summary>Parses a <see cref="HttpProtocols"/> value; HTTP/3 and unknown names are errors naming <paramref name="key"/>.</summary>
    public static HttpProtocols ParseProtocols(string text, string key)
    {
        if (Enum.TryParse<HttpProtocols>(text.Trim(), ignoreCase: true, out var value)
            && value is HttpProtocols.Http1 or HttpProtocols.Http2 or HttpProtocols.Http1AndHttp2)
        {
            return value;
        }
        throw new PounceConfigurationException($"Invalid value '{text}' for {key}: expected Http1, Http2 or Http1AndHttp2 (Pounce does not serve HTTP/3).");
    }

    private static ClientCertificateMode ParseMode(string text, string key)
    {
        if (Enum.TryParse<ClientCertificateMode>(text.Trim(), ignoreCase: true, out var value)
            && value is ClientCertificateMode.NoCertificate or ClientCertificateMode.AllowCertificate or ClientCertificateMode.RequireCertificate)
        {
            return value;
        }
        throw new PounceConfigurationException($"Invalid value '{text}' for {key}: expected NoCertificate, AllowCertificate or RequireCertificate (DelayCertificate is not supported).");
    }

    private static void WarnUnknown(ServerConfig config, IConfigurationSection section, HashSet<string> known)
    {
        foreach (var child in section.GetChildren())
        {
            if (!known.Contains(child.Key))
                Warn(config, child.Path);
        }
    }

    private static void WarnLeaves(ServerConfig config, IConfigurationSection section)
    {
        if (section.Value is not null)
            Warn(config, section.Path);
        foreach (var child in section.GetChildren())
            WarnLeaves(config, child);
    }

    private static void Warn(ServerConfig config, string key)
        => config.ConfigurationWarnings.Add($"Configuration key {key} is not supported by Pounce and is ignored (Pounce's own settings are in section Pounce; see its README).");
}
