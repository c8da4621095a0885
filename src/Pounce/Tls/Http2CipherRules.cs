using System.Net.Security;
using System.Security.Authentication;

namespace Pounce.Tls;

/// <summary>
/// RFC 9113 9.2.2: HTTP/2 over TLS 1.2 must not use the cipher suites of its Appendix A, which are every suite without
/// an ephemeral key exchange or without an AEAD cipher. TLS 1.3's suites are all acceptable.
/// </summary>
internal static class Http2CipherRules
{
    /// <summary>Whether a connection on <paramref name="protocol"/> with <paramref name="suite"/> is unfit for HTTP/2.</summary>
    public static bool IsProhibited(SslProtocols protocol, TlsCipherSuite? suite)
    {
        if (protocol != SslProtocols.Tls12)
            return false; // TLS 1.3 (only AEAD suites exist); older versions are never negotiated
        if (suite is not { } value)
            return true;
        // One string per HTTP/2-over-TLS-1.2 connection: the rule reads best on the suite's IANA name.
        var name = value.ToString();
        var ephemeral = name.StartsWith("TLS_ECDHE_", StringComparison.Ordinal) || name.StartsWith("TLS_DHE_", StringComparison.Ordinal);
        var aead = name.Contains("_GCM_", StringComparison.Ordinal) || name.Contains("_CCM", StringComparison.Ordinal)
            || name.Contains("_CHACHA20_POLY1305_", StringComparison.Ordinal);
        return !(ephemeral && aead);
    }
}
