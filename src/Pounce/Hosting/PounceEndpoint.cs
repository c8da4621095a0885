using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Pounce.Hosting;

/// <summary>
/// One endpoint to listen on, with its own protocols, certificate and client-certificate mode, as Kestrel's
/// <c>Kestrel:Endpoints:NAME</c> configuration has them. Read from configuration section <c>Pounce:Endpoints</c>, or
/// <c>Kestrel:Endpoints</c> when Pounce has none; or added in code to <see cref="ServerConfig.Endpoints"/>.
/// </summary>
public sealed class PounceEndpoint
{
    /// <summary>The name (the configuration key), for messages.</summary>
    public string Name { get; set; } = "";

    /// <summary>The URL: <c>http://127.0.0.1:8080</c>, <c>https://*:443</c>, <c>http://unix:/run/app.sock</c>.</summary>
    public string Url { get; set; } = "";

    /// <summary>Protocols served (Kestrel's <c>ListenOptions.Protocols</c>); null: <see cref="ServerConfig.Protocols"/>.</summary>
    public HttpProtocols? Protocols { get; set; }

    /// <summary>Where the HTTPS certificate comes from; null: the server's certificate, else the development certificate.</summary>
    public EndpointCertificate? Certificate { get; set; }

    /// <summary>A certificate given in code (with its private key); wins over <see cref="Certificate"/>.</summary>
    public X509Certificate2? ServerCertificate { get; set; }

    /// <summary>Whether a client certificate is asked for; null: <see cref="ServerConfig.ClientCertificateMode"/>.</summary>
    public ClientCertificateMode? ClientCertificateMode { get; set; }
}

/// <summary>
/// An endpoint's certificate as Kestrel's configuration gives it: a file (<see cref="Path"/>, <see cref="KeyPath"/>,
/// <see cref="Password"/>) or a certificate store entry (<see cref="Subject"/>, <see cref="Store"/>,
/// <see cref="Location"/>, <see cref="AllowInvalid"/>).
/// </summary>
public sealed class EndpointCertificate
{
    /// <summary>PEM or PKCS#12 (<c>.pfx</c>/<c>.p12</c>) certificate file.</summary>
    public string? Path { get; set; }

    /// <summary>PEM private key of <see cref="Path"/>.</summary>
    public string? KeyPath { get; set; }

    /// <summary>Password of the PKCS#12 file or of an encrypted PEM key.</summary>
    public string? Password { get; set; }

    /// <summary>Subject name to look for in the store (a match on the subject, as Kestrel does).</summary>
    public string? Subject { get; set; }

    /// <summary>Store name, e.g. <c>My</c> (the default).</summary>
    public string? Store { get; set; }

    /// <summary><c>CurrentUser</c> (default) or <c>LocalMachine</c>.</summary>
    public string? Location { get; set; }

    /// <summary>Accept a store certificate that is not valid now (expired, not yet valid).</summary>
    public bool AllowInvalid { get; set; }
}

/// <summary>Decides whether a client certificate is acceptable (like Kestrel's <c>HttpsConnectionAdapterOptions.ClientCertificateValidation</c>).</summary>
public delegate bool ClientCertificateValidator(X509Certificate2 certificate, X509Chain? chain, SslPolicyErrors errors);
