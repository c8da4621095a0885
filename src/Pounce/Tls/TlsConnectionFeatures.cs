using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Pounce.Tls;

/// <summary>
/// What the application can learn about a request's TLS connection: <see cref="ITlsConnectionFeature"/> (the client
/// certificate, when the endpoint's <c>ClientCertificateMode</c> asked for one and the client sent it), <see cref="ITlsHandshakeFeature"/> (version, cipher suite, SNI
/// host name) and <see cref="ITlsApplicationProtocolFeature"/> (the ALPN choice). One per connection, read-only after
/// the handshake.
/// </summary>
public sealed class TlsConnectionFeatures : ITlsConnectionFeature, ITlsHandshakeFeature, ITlsApplicationProtocolFeature
{
    private readonly SslProtocols _protocol;
    private readonly TlsCipherSuite _cipherSuite;
    private readonly ReadOnlyMemory<byte> _applicationProtocol;
#pragma warning disable SYSLIB0058 // The legacy algorithm properties are part of ITlsHandshakeFeature.
    private readonly CipherAlgorithmType _cipherAlgorithm;
    private readonly int _cipherStrength;
    private readonly HashAlgorithmType _hashAlgorithm;
    private readonly int _hashStrength;
    private readonly ExchangeAlgorithmType _keyExchangeAlgorithm;
    private readonly int _keyExchangeStrength;

    internal TlsConnectionFeatures(SslStream ssl, string? hostName)
    {
        _protocol = ssl.SslProtocol;
        _cipherSuite = ssl.NegotiatedCipherSuite;
        _applicationProtocol = ssl.NegotiatedApplicationProtocol.Protocol.ToArray();
        _cipherAlgorithm = ssl.CipherAlgorithm;
        _cipherStrength = ssl.CipherStrength;
        _hashAlgorithm = ssl.HashAlgorithm;
        _hashStrength = ssl.HashStrength;
        _keyExchangeAlgorithm = ssl.KeyExchangeAlgorithm;
        _keyExchangeStrength = ssl.KeyExchangeStrength;
        HostName = hostName ?? "";
        ClientCertificate = ssl.RemoteCertificate switch
        {
            null => null,
            X509Certificate2 c2 => c2,
            var c => X509CertificateLoader.LoadCertificate(c.GetRawCertData()),
        };
    }

    /// <inheritdoc />
    public X509Certificate2? ClientCertificate { get; set; }

    /// <inheritdoc />
    public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult(ClientCertificate);

    /// <inheritdoc />
    public SslProtocols Protocol => _protocol;

    /// <inheritdoc />
    public TlsCipherSuite? NegotiatedCipherSuite => _cipherSuite;

    /// <summary>The server name the client sent (SNI), or empty when it sent none.</summary>
    public string HostName { get; }

    /// <inheritdoc />
    public CipherAlgorithmType CipherAlgorithm => _cipherAlgorithm;

    /// <inheritdoc />
    public int CipherStrength => _cipherStrength;

    /// <inheritdoc />
    public HashAlgorithmType HashAlgorithm => _hashAlgorithm;

    /// <inheritdoc />
    public int HashStrength => _hashStrength;

    /// <inheritdoc />
    public ExchangeAlgorithmType KeyExchangeAlgorithm => _keyExchangeAlgorithm;

    /// <inheritdoc />
    public int KeyExchangeStrength => _keyExchangeStrength;
#pragma warning restore SYSLIB0058

    /// <inheritdoc />
    public ReadOnlyMemory<byte> ApplicationProtocol => _applicationProtocol;
}
