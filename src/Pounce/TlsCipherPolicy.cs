namespace Pounce;

/// <summary>Which cipher suites HTTPS endpoints accept (<see cref="ServerConfig.TlsCipherPolicy"/>).</summary>
public enum TlsCipherPolicy
{
    /// <summary>
    /// The platform's defaults, as Kestrel: on Linux, .NET's list (TLS 1.3 suites; for TLS 1.2, ECDHE with AES-GCM or
    /// AES-CBC-SHA256/384). .NET then shares one OpenSSL context per certificate between connections, which gives TLS
    /// session resumption (tickets) and costs about 6 KB less per connection. HTTP/2 over TLS 1.2 on a suite RFC 9113
    /// prohibits (a client offering only CBC suites) is refused with GOAWAY(INADEQUATE_SECURITY).
    /// </summary>
    Platform,

    /// <summary>
    /// On Linux and macOS, only TLS 1.3's suites and, for TLS 1.2, ECDHE with AES-GCM or ChaCha20-Poly1305: no CBC, no
    /// RSA key exchange (Mozilla's "intermediate" list). .NET builds an OpenSSL context per connection for a custom
    /// list: no TLS session resumption, about 6 KB more per connection, and a slower handshake.
    /// </summary>
    AeadOnly,
}
