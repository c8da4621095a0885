using System.Security.Cryptography.X509Certificates;

namespace Pounce.Tls;

/// <summary>
/// The ASP.NET Core HTTPS development certificate (what <c>dotnet dev-certs https</c> creates), found where ASP.NET Core
/// finds it: the CurrentUser\My store (on Linux, <c>~/.dotnet/corefx/cryptography/x509stores/my</c>), a certificate with
/// the development-certificate extension (OID 1.3.6.1.4.1.311.84.1.1), valid now, with its private key.
/// </summary>
internal static class DevelopmentCertificate
{
    /// <summary>The OID ASP.NET Core marks its HTTPS development certificate with.</summary>
    public const string Oid = "1.3.6.1.4.1.311.84.1.1";

    /// <summary>The valid development certificate that expires last, or null when there is none.</summary>
    public static X509Certificate2? Find()
    {
        try
        {
            using var store = new X509Store(StoreName.My, StoreLocation.CurrentUser);
            store.Open(OpenFlags.ReadOnly);
            var now = DateTime.Now;
            X509Certificate2? best = null;
            foreach (var certificate in store.Certificates)
            {
                if (IsDevelopment(certificate) && certificate.HasPrivateKey && certificate.NotBefore <= now && now <= certificate.NotAfter
                    && (best is null || certificate.NotAfter > best.NotAfter))
                {
                    best = certificate;
                }
            }
            return best;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null; // no store for this user
        }
    }

    /// <summary>Whether <paramref name="certificate"/> carries the development-certificate extension.</summary>
    public static bool IsDevelopment(X509Certificate2 certificate)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value == Oid)
                return true;
        }
        return false;
    }
}
