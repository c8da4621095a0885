using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Pounce.Tests.Tls;

/// <summary>Self-signed server certificates made in the test, for <c>localhost</c> and 127.0.0.1.</summary>
internal static class TestCertificates
{
    private static readonly Lazy<X509Certificate2> Shared = new(() => Create("localhost"));

    /// <summary>One ECDSA P-256 certificate shared by the tests of a run.</summary>
    public static X509Certificate2 Localhost => Shared.Value;

    /// <summary>A fresh self-signed certificate for <paramref name="name"/> (plus 127.0.0.1), valid for a day.</summary>
    public static X509Certificate2 Create(string name, bool rsa = false)
    {
        CertificateRequest request;
        if (rsa)
            request = new CertificateRequest("CN=" + name, RSA.Create(2048), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        else
            request = new CertificateRequest("CN=" + name, ECDsa.Create(ECCurve.NamedCurves.nistP256), HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>Writes <paramref name="certificate"/> as PEM files (certificate, PKCS#8 key) into a new temporary folder.</summary>
    public static (string CertFile, string KeyFile) WritePem(X509Certificate2 certificate, string folder)
    {
        Directory.CreateDirectory(folder);
        var certFile = Path.Combine(folder, "cert.pem");
        var keyFile = Path.Combine(folder, "key.pem");
        File.WriteAllText(certFile, certificate.ExportCertificatePem());
        AsymmetricAlgorithm key = (AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey() ?? certificate.GetRSAPrivateKey()!;
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (certFile, keyFile);
    }

    /// <summary>An HttpClient handler that trusts exactly <paramref name="certificate"/> and offers ALPN as .NET does.</summary>
    public static SocketsHttpHandler TrustingHandler(X509Certificate2 certificate) => new()
    {
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
        SslOptions =
        {
            RemoteCertificateValidationCallback = (_, presented, _, _) =>
                presented is not null && presented.GetCertHashString() == certificate.GetCertHashString(),
        },
    };
}
