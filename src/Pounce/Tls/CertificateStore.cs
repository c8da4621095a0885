using System.Security.Cryptography.X509Certificates;

namespace Pounce.Tls;

/// <summary>Finds an endpoint's certificate in a certificate store by subject, as Kestrel's configuration does.</summary>
internal static class CertificateStore
{
    /// <summary>
    /// The certificate of <paramref name="source"/>'s store (<c>Store</c>, default <c>My</c>; <c>Location</c>, default
    /// <c>CurrentUser</c>) whose subject contains <c>Subject</c>, with a private key, valid now unless
    /// <c>AllowInvalid</c>; the one that expires last. None is an error naming <paramref name="label"/>.
    /// </summary>
    public static X509Certificate2 Find(Hosting.EndpointCertificate source, string label)
    {
        var storeName = string.IsNullOrEmpty(source.Store) ? "My" : source.Store;
        StoreLocation location;
        if (string.IsNullOrEmpty(source.Location))
            location = StoreLocation.CurrentUser;
        else if (!Enum.TryParse(source.Location, ignoreCase: true, out location))
            throw new Hosting.PounceConfigurationException($"Invalid value '{source.Location}' for {label}:Location: expected CurrentUser or LocalMachine.");
        try
        {
            using var store = new X509Store(storeName, location);
            store.Open(OpenFlags.ReadOnly);
            var now = DateTime.Now;
            X509Certificate2? best = null;
            foreach (var certificate in store.Certificates.Find(X509FindType.FindBySubjectName, source.Subject!, validOnly: false))
            {
                if (!certificate.HasPrivateKey)
                    continue;
                if (!source.AllowInvalid && (certificate.NotBefore > now || certificate.NotAfter < now))
                    continue;
                if (best is null || certificate.NotAfter > best.NotAfter)
                    best = certificate;
            }
            return best ?? throw new Hosting.PounceConfigurationException(
                $"{label}: no certificate with subject '{source.Subject}' and a private key{(source.AllowInvalid ? "" : ", valid now,")} in store {location}\\{storeName}.");
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            throw new Hosting.PounceConfigurationException($"{label}: the store {location}\\{storeName} cannot be opened: {ex.Message}", ex);
        }
    }
}
