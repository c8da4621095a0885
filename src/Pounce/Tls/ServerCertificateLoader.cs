using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Pounce.Tls;

/// <summary>
/// Loads the HTTPS server certificate from the settings: <see cref="ServerConfig.ServerCertificate"/>, or
/// <see cref="ServerConfig.SslCertFile"/> as PEM (key in <see cref="ServerConfig.SslKeyFile"/> or in the same file)
/// or PKCS#12. Every failure is an <see cref="InvalidOperationException"/> that names the setting and the file.
/// </summary>
internal static class ServerCertificateLoader
{
    /// <summary>True when the settings give a certificate, so HTTPS endpoints can be served.</summary>
    public static bool IsConfigured(ServerConfig config) => config.ServerCertificate is not null || config.SslCertFile is not null;

    /// <summary>
    /// The certificate of an HTTPS endpoint: the endpoint's own (given in code, a file or a store entry), else the
    /// server's (<see cref="Load"/>), else the ASP.NET Core development certificate; none is an error naming the URL.
    /// <paramref name="findDevelopment"/> looks for the development certificate (default: <see cref="DevelopmentCertificate.Find"/>,
    /// the user's store, which the SDK's first run may fill; tests pass their own to not depend on the machine).
    /// </summary>
    public static (X509Certificate2 Leaf, X509Certificate2Collection Chain) LoadFor(
        ServerConfig config, Hosting.PounceEndpoint? endpoint, string url, Func<X509Certificate2?>? findDevelopment = null)
    {
        if (endpoint?.ServerCertificate is { } given)
        {
            if (!given.HasPrivateKey)
                throw new Hosting.PounceConfigurationException($"Endpoint {endpoint.Name} ({url}): the certificate '{given.Subject}' has no private key.");
            return (given, []);
        }
        if (endpoint?.Certificate is { } source)
        {
            var label = $"Endpoints:{endpoint.Name}:Certificate";
            if (source.Path is { Length: > 0 } path)
                return LoadFile(path, source.KeyPath is { Length: > 0 } k ? k : null, source.Password, label + ":Path", label + ":KeyPath", label + ":Password");
            if (source.Subject is { Length: > 0 })
                return (CertificateStore.Find(source, label), []);
            throw new Hosting.PounceConfigurationException($"{label}: set Path (a PEM or PKCS#12 file) or Subject (a certificate store entry).");
        }
        if (IsConfigured(config))
            return Load(config);
        if ((findDevelopment ?? DevelopmentCertificate.Find)() is { } development)
            return (development, []);
        throw new Hosting.PounceConfigurationException(
            $"HTTPS endpoint {url} has no certificate: set SslCertFile (--ssl-certfile) and SslKeyFile, Kestrel:Certificates:Default:Path, " +
            "the endpoint's Certificate, or create the development certificate with 'dotnet dev-certs https'.");
    }

    /// <summary>The certificate, with its private key and the chain found in the file (leaf first).</summary>
    public static (X509Certificate2 Leaf, X509Certificate2Collection Chain) Load(ServerConfig config)
    {
        if (config.ServerCertificate is { } given)
        {
            if (!given.HasPrivateKey)
                throw new Hosting.PounceConfigurationException($"Pounce setting ServerCertificate: the certificate '{given.Subject}' has no private key.");
            return (given, []);
        }
        var certFile = config.SslCertFile
            ?? throw new Hosting.PounceConfigurationException("HTTPS needs a certificate: set SslCertFile (--ssl-certfile) and SslKeyFile (--ssl-keyfile), or ServerCertificate in code.");
        return LoadFile(certFile, config.SslKeyFile, config.SslKeyPassword, "SslCertFile", "SslKeyFile", "SslKeyPassword");
    }

    private static (X509Certificate2, X509Certificate2Collection) LoadFile(string certFile, string? keyFile, string? password, string certSetting, string keySetting, string passwordSetting)
    {
        if (!File.Exists(certFile))
            throw new Hosting.PounceConfigurationException($"Pounce setting {certSetting} = '{certFile}': the file does not exist.");
        if (keyFile is not null && !File.Exists(keyFile))
            throw new Hosting.PounceConfigurationException($"Pounce setting {keySetting} = '{keyFile}': the file does not exist.");
        try
        {
            var extension = Path.GetExtension(certFile);
            if (extension.Equals(".pfx", StringComparison.OrdinalIgnoreCase) || extension.Equals(".p12", StringComparison.OrdinalIgnoreCase))
                return LoadPkcs12(certFile, password, certSetting);
            return LoadPem(certFile, keyFile, password, certSetting, keySetting, passwordSetting);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or FormatException or PlatformNotSupportedException)
        {
            // A malformed file is a setting error, whatever the BCL's loaders throw for it (found by fuzz/ cert-config: a
            // truncated PKCS#12 makes X509CertificateLoader throw ArgumentException "Destination is too short"; an EC
            // key whose curve OID is garbage makes OpenSSL's import throw PlatformNotSupportedException).
            var source = keyFile is null ? $"{certSetting} = '{certFile}'" : $"{certSetting} = '{certFile}' / {keySetting} = '{keyFile}'";
            throw new Hosting.PounceConfigurationException($"Pounce setting {source}: the certificate could not be loaded: {ex.Message}", ex);
        }
    }

    private static (X509Certificate2, X509Certificate2Collection) LoadPkcs12(string file, string? password, string certSetting)
    {
        var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(file, password, X509KeyStorageFlags.EphemeralKeySet);
        X509Certificate2? leaf = null;
        var chain = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (leaf is null && certificate.HasPrivateKey)
                leaf = certificate;
            else
                chain.Add(certificate);
        }
        if (leaf is null)
            throw new Hosting.PounceConfigurationException($"Pounce setting {certSetting} = '{file}': the PKCS#12 file holds no certificate with a private key.");
        return (leaf, chain);
    }

    private static (X509Certificate2, X509Certificate2Collection) LoadPem(string certFile, string? keyFile, string? password, string certSetting, string keySetting, string passwordSetting)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(certFile);
        if (certificates.Count == 0)
            throw new Hosting.PounceConfigurationException($"Pounce setting {certSetting} = '{certFile}': no PEM certificate found in the file.");
        var keyText = File.ReadAllText(keyFile ?? certFile);
        if (!keyText.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
        {
            throw new Hosting.PounceConfigurationException(keyFile is null
                ? $"Pounce setting {certSetting} = '{certFile}': the file has no private key; set {keySetting} to the PEM key."
                : $"Pounce setting {keySetting} = '{keyFile}': no PEM private key found in the file.");
        }
        var leafOnly = certificates[0];
        X509Certificate2 withKey;
        if (keyText.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal))
        {
            if (password is null)
                throw new Hosting.PounceConfigurationException($"Pounce setting {(keyFile is null ? certSetting : keySetting)} = '{keyFile ?? certFile}': the key is encrypted; set {passwordSetting}.");
            withKey = X509Certificate2.CreateFromEncryptedPem(leafOnly.ExportCertificatePem(), keyText, password);
        }
        else
        {
            withKey = X509Certificate2.CreateFromPem(leafOnly.ExportCertificatePem(), keyText);
        }
        var chain = new X509Certificate2Collection();
        for (var i = 1; i < certificates.Count; i++)
            chain.Add(certificates[i]);
        leafOnly.Dispose();
        // On Linux a key created from PEM is usable by SslStream as is (ephemeral); no PKCS#12 round-trip needed.
        return (withKey, chain);
    }
}
