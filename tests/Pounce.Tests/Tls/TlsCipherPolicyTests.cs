using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Pounce.Tests.Infrastructure;
using Xunit;

namespace Pounce.Tests.Tls;

/// <summary>
/// <see cref="ServerConfig.TlsCipherPolicy"/>: the platform's suites by default (as Kestrel, with TLS session resumption),
/// AEAD-only when asked; and HTTP/2 refused on a TLS 1.2 suite RFC 9113 prohibits.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class TlsCipherPolicyTests
{
    private static readonly Regex AcceptedSuite = new(@"^(?:Preferred|Accepted)\s+(TLSv\S+)\s+\d+ bits\s+(\S+)", RegexOptions.Multiline);

    /// <summary>sslscan's findings: only TLS 1.2 and 1.3, no renegotiation, and the accepted suites, each with forward secrecy.</summary>
    private static async Task<List<(string Name, string Line)>> AcceptedSuitesAsync(int port)
    {
        var (exit, output) = await ExternalTool.RunAsync("sslscan", $"--no-colour 127.0.0.1:{port}", TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, output);
        foreach (var old in new[] { "SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1" })
            Assert.Matches(new Regex($@"^{Regex.Escape(old)}\s+disabled", RegexOptions.Multiline), output);
        Assert.Matches(new Regex(@"^TLSv1\.2\s+enabled", RegexOptions.Multiline), output);
        Assert.Matches(new Regex(@"^TLSv1\.3\s+enabled", RegexOptions.Multiline), output);
        Assert.Contains("Session renegotiation not supported", output);
        var suites = new List<(string, string)>();
        foreach (Match suite in AcceptedSuite.Matches(output))
        {
            var name = suite.Groups[2].Value;
            Assert.True(suite.Groups[1].Value is "TLSv1.2" or "TLSv1.3", suite.Value);
            Assert.True(name.StartsWith("TLS_", StringComparison.Ordinal) || name.StartsWith("ECDHE-", StringComparison.Ordinal), $"suite without forward secrecy: {suite.Value}");
            suites.Add((name, suite.Value));
        }
        Assert.NotEmpty(suites);
        return suites;
    }

    [ToolFact("sslscan")]
    public async Task Sslscan_Default_FindsTls12And13_WithForwardSecrecyOnly()
    {
        await using var server = await TestServer.StartAsync(ctx => Task.CompletedTask, c => c.ServerCertificate = TestCertificates.Localhost);
        foreach (var (name, line) in await AcceptedSuitesAsync(server.Port))
            Assert.False(name.EndsWith("-SHA", StringComparison.Ordinal), $"SHA-1 suite accepted: {line}");
    }

    [ToolFact("sslscan")]
    public async Task Sslscan_AeadOnly_FindsOnlyTls12And13_WithAeadSuites()
    {
        await using var server = await TestServer.StartAsync(ctx => Task.CompletedTask, c =>
        {
            c.ServerCertificate = TestCertificates.Localhost;
            c.TlsCipherPolicy = TlsCipherPolicy.AeadOnly;
        });
        foreach (var (name, line) in await AcceptedSuitesAsync(server.Port))
            Assert.True(name.Contains("GCM", StringComparison.Ordinal) || name.Contains("CHACHA20", StringComparison.Ordinal), $"non-AEAD suite accepted: {line}");
    }

    [Fact]
    public async Task SslStreamClient_AeadOnly_SeesOnlyTls12Or13_AndAeadSuites()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"), c =>
        {
            c.ServerCertificate = TestCertificates.Localhost;
            c.TlsCipherPolicy = TlsCipherPolicy.AeadOnly;
        });
        foreach (var protocol in new[] { SslProtocols.Tls12, SslProtocols.Tls13 })
        {
            await using var ssl = await ConnectAsync(server.Port, protocol, SslApplicationProtocol.Http11);
            Assert.Equal(protocol, ssl.SslProtocol);
            var suite = ssl.NegotiatedCipherSuite.ToString();
            Assert.True(suite.Contains("GCM", StringComparison.Ordinal) || suite.Contains("CHACHA20", StringComparison.Ordinal), suite);
            Assert.DoesNotContain("CBC", suite);
        }
    }

    [Fact]
    public async Task AeadOnly_RefusesAClientOfferingOnlyCbcSuites()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"), c =>
        {
            c.ServerCertificate = TestCertificates.Localhost;
            c.TlsCipherPolicy = TlsCipherPolicy.AeadOnly;
        });
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var ssl = await ConnectAsync(server.Port, SslProtocols.Tls12, SslApplicationProtocol.Http11, CbcOnly());
        });
    }

    [ToolFact("openssl")]
    public async Task Default_ResumesTls13Sessions_AsKestrel()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"), c => c.ServerCertificate = TestCertificates.Localhost);
        var session = Path.Combine(Path.GetTempPath(), $"pounce-tls-session-{Guid.NewGuid():N}.pem");
        try
        {
            // The first connection saves the session ticket the server sent (-ign_eof: read on until the server closes, so
            // the ticket, sent after the handshake, is in); the second offers it back.
            var (_, first) = await ExternalTool.RunAsync("openssl",
                $"s_client -connect 127.0.0.1:{server.Port} -tls1_3 -ign_eof -servername localhost -sess_out {session}", TimeSpan.FromSeconds(20),
                stdin: "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            Assert.Contains("New, TLSv1.3", first);
            Assert.True(File.Exists(session), "openssl saved no session:\n" + first);
            var (_, second) = await ExternalTool.RunAsync("openssl",
                $"s_client -connect 127.0.0.1:{server.Port} -tls1_3 -ign_eof -servername localhost -sess_in {session}", TimeSpan.FromSeconds(20),
                stdin: "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            Assert.True(second.Contains("Reused, TLSv1.3", StringComparison.Ordinal), "the session was not resumed:\n" + second);
        }
        finally
        {
            File.Delete(session);
        }
    }

    [Fact]
    public async Task Http2_OnATls12CbcSuite_GetsGoAwayInadequateSecurity()
    {
        var (server, events) = await TlsTests.StartAsync(ctx => ctx.Response.WriteAsync("ok"));
        await using var _s = server;
        await using var ssl = await ConnectAsync(server.Port, SslProtocols.Tls12, SslApplicationProtocol.Http2, CbcOnly());
        Assert.Contains("CBC", ssl.NegotiatedCipherSuite.ToString());
        Assert.Equal(SslApplicationProtocol.Http2, ssl.NegotiatedApplicationProtocol);
        await ssl.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
        await ssl.WriteAsync(new byte[] { 0, 0, 0, 4, 0, 0, 0, 0, 0 }); // an empty SETTINGS
        // The server preface (SETTINGS) first, then GOAWAY(INADEQUATE_SECURITY) and the close.
        var types = new List<byte>();
        var header = new byte[9];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        uint? goAwayCode = null;
        while (goAwayCode is null)
        {
            await ssl.ReadExactlyAsync(header, timeout.Token);
            var length = (header[0] << 16) | (header[1] << 8) | header[2];
            var payload = new byte[length];
            await ssl.ReadExactlyAsync(payload, timeout.Token);
            types.Add(header[3]);
            if (header[3] == 0x7)
                goAwayCode = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4));
        }
        Assert.Equal(0x4, types[0]);
        Assert.Equal(0xcu, goAwayCode);
        var connection = await events.CompletedConnectionAsync();
        var completed = connection.Single(e => e.Name == "ConnectionCompleted");
        Assert.Equal("error", completed.Str("reason"));
        Assert.Equal("inadequate_security", completed.Str("detail"));
    }

    [Fact]
    public async Task Http2_OnATls12AeadSuite_IsServed()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("ok"), c => c.ServerCertificate = TestCertificates.Localhost);
        using var handler = TestCertificates.TrustingHandler(TestCertificates.Localhost);
        handler.SslOptions.EnabledSslProtocols = SslProtocols.Tls12;
        using var client = new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await client.GetAsync($"https://localhost:{server.Port}/");
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public void ProhibitedSuites_AreThoseWithoutEphemeralKeysOrAead()
    {
        Assert.False(Pounce.Tls.Http2CipherRules.IsProhibited(SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256));
        Assert.False(Pounce.Tls.Http2CipherRules.IsProhibited(SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256));
        Assert.False(Pounce.Tls.Http2CipherRules.IsProhibited(SslProtocols.Tls12, TlsCipherSuite.TLS_DHE_RSA_WITH_AES_256_GCM_SHA384));
        Assert.False(Pounce.Tls.Http2CipherRules.IsProhibited(SslProtocols.Tls13, TlsCipherSuite.TLS_AES_128_GCM_SHA256));
        Assert.True(Pounce.Tls.Http2CipherRules.IsProhibited(SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256));
        Assert.True(Pounce.Tls.Http2CipherRules.IsProhibited(SslProtocols.Tls12, TlsCipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256));
        Assert.True(Pounce.Tls.Http2CipherRules.IsProhibited(SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA));
        Assert.True(Pounce.Tls.Http2CipherRules.IsProhibited(SslProtocols.Tls12, null));
    }

    private static CipherSuitesPolicy CbcOnly() => new(
    [
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
    ]);

    private static async Task<SslStream> ConnectAsync(int port, SslProtocols protocol, SslApplicationProtocol alpn, CipherSuitesPolicy? ciphers = null)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var ssl = new SslStream(tcp.GetStream(), false,
            (_, presented, _, _) => presented?.GetCertHashString() == TestCertificates.Localhost.GetCertHashString());
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                EnabledSslProtocols = protocol,
                ApplicationProtocols = [alpn],
                CipherSuitesPolicy = ciphers,
            }).WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch
        {
            await ssl.DisposeAsync();
            tcp.Dispose();
            throw;
        }
        return ssl;
    }
}
