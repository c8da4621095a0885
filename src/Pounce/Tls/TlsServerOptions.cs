using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Pounce.Tls;

/// <summary>
/// What every HTTPS connection of a server shares, built once at start-up: the certificate context (leaf and
/// chain), TLS 1.2 and 1.3 only, AEAD cipher suites with forward secrecy only (where the platform lets us choose),
/// and ALPN <c>h2</c> (when <see cref="ServerConfig.Http2Enabled"/>) then <c>http/1.1</c>.
/// </summary>
internal sealed class TlsServerOptions
{
    private readonly SslServerAuthenticationOptions _options;

    private TlsServerOptions(SslServerAuthenticationOptions options, X509Certificate2 certificate)
    {
        _options = options;
        Certificate = certificate;
    }

    /// <summary>The server certificate (leaf).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The options handed to every <see cref="SslStream.AuthenticateAsServerAsync(SslServerAuthenticationOptions, CancellationToken)"/>.</summary>
    public SslServerAuthenticationOptions Authentication => _options;

    /// <summary>Loads the certificate from <paramref name="config"/> and fixes the handshake options; throws a clear error when it cannot.</summary>
    public static TlsServerOptions Create(ServerConfig config)
    {
        var (leaf, chain) = ServerCertificateLoader.Load(config);
        var protocols = new List<SslApplicationProtocol>(2);
        if (config.Http2Enabled)
            protocols.Add(SslApplicationProtocol.Http2);
        protocols.Add(SslApplicationProtocol.Http11);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = SslStreamCertificateContext.Create(leaf, chain, offline: true),
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ApplicationProtocols = protocols,
            ClientCertificateRequired = false,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            EncryptionPolicy = EncryptionPolicy.RequireEncryption,
        };
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            options.CipherSuitesPolicy = AeadCipherSuites();
        return new TlsServerOptions(options, leaf);
    }

    /// <summary>
    /// TLS 1.3's suites and, for TLS 1.2, ECDHE with AES-GCM or ChaCha20-Poly1305 only: no CBC, no RSA key exchange,
    /// none of the suites RFC 9113 (Appendix A) forbids for HTTP/2.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static CipherSuitesPolicy AeadCipherSuites() => new(
    [
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]);
}
