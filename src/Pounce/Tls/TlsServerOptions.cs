using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Pounce.Tls;

/// <summary>
/// What every HTTPS connection of a server shares, built once at start-up: the certificate context (leaf and
/// chain), TLS 1.2 and 1.3 only, the cipher suites of <see cref="ServerConfig.TlsCipherPolicy"/> (the platform's, or
/// AEAD with forward secrecy only where the platform lets us choose), and ALPN <c>h2</c> (when <see cref="ServerConfig.Http2Enabled"/>) then <c>http/1.1</c>.
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
        return Create(config, leaf, chain, config.Http2Enabled ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1, config.ClientCertificateMode);
    }

    /// <summary>
    /// The options of one HTTPS endpoint: its certificate, ALPN offering only <paramref name="protocols"/>, and its
    /// client-certificate mode (with <see cref="ServerConfig.ClientCertificateValidation"/>, else a valid chain).
    /// </summary>
    public static TlsServerOptions Create(ServerConfig config, X509Certificate2 leaf, X509Certificate2Collection chain, HttpProtocols protocols, ClientCertificateMode clientCertificateMode)
    {
        var alpn = new List<SslApplicationProtocol>(2);
        if (protocols.HasFlag(HttpProtocols.Http2))
            alpn.Add(SslApplicationProtocol.Http2);
        if (protocols.HasFlag(HttpProtocols.Http1))
            alpn.Add(SslApplicationProtocol.Http11);
        var askClient = clientCertificateMode is ClientCertificateMode.AllowCertificate or ClientCertificateMode.RequireCertificate;
        var validation = config.ClientCertificateValidation;
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = SslStreamCertificateContext.Create(leaf, chain, offline: true),
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ApplicationProtocols = alpn,
            ClientCertificateRequired = askClient,
            RemoteCertificateValidationCallback = askClient
                ? (_, certificate, certificateChain, errors) => AcceptClient(clientCertificateMode, validation, certificate, certificateChain, errors)
                : null,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            EncryptionPolicy = EncryptionPolicy.RequireEncryption,
        };
        // A cipher list of our own costs .NET's shared OpenSSL context (it then builds one per connection): no session
        // resumption and ~6 KB more per connection. Only when asked for.
        if (config.TlsCipherPolicy == TlsCipherPolicy.AeadOnly && (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()))
            options.CipherSuitesPolicy = AeadCipherSuites();
        return new TlsServerOptions(options, leaf);
    }

    /// <summary>Kestrel's rule: no certificate is fine unless required; a certificate must pass validation.</summary>
    private static bool AcceptClient(ClientCertificateMode mode, Hosting.ClientCertificateValidator? validation, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null)
            return mode != ClientCertificateMode.RequireCertificate;
        if (validation is null)
            return errors == SslPolicyErrors.None;
        var certificate2 = certificate as X509Certificate2 ?? new X509Certificate2(certificate);
        return validation(certificate2, chain, errors & ~SslPolicyErrors.RemoteCertificateNotAvailable);
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
