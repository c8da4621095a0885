using System.Text.RegularExpressions;
using Pounce.Tests.Infrastructure;
using Xunit;

namespace Pounce.Tests.Tls;

/// <summary>A third-party TLS scanner (Debian's <c>sslscan</c>) against a Pounce HTTPS endpoint.</summary>
public sealed class TlsScanTests
{
    [ToolFact("sslscan")]
    public async Task Sslscan_FindsOnlyTls12And13_WithAeadSuites()
    {
        await using var server = await TestServer.StartAsync(ctx => Task.CompletedTask, c => c.ServerCertificate = TestCertificates.Localhost);
        var (exit, output) = await ExternalTool.RunAsync("sslscan", $"--no-colour 127.0.0.1:{server.Port}", TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, output);
        foreach (var old in new[] { "SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1" })
            Assert.Matches(new Regex($@"^{Regex.Escape(old)}\s+disabled", RegexOptions.Multiline), output);
        Assert.Matches(new Regex(@"^TLSv1\.2\s+enabled", RegexOptions.Multiline), output);
        Assert.Matches(new Regex(@"^TLSv1\.3\s+enabled", RegexOptions.Multiline), output);
        Assert.Contains("Session renegotiation not supported", output);
        var accepted = Regex.Matches(output, @"^(?:Preferred|Accepted)\s+(TLSv\S+)\s+\d+ bits\s+(\S+)", RegexOptions.Multiline);
        Assert.NotEmpty(accepted);
        foreach (Match suite in accepted)
        {
            var name = suite.Groups[2].Value;
            Assert.True(suite.Groups[1].Value is "TLSv1.2" or "TLSv1.3", suite.Value);
            Assert.True(name.Contains("GCM", StringComparison.Ordinal) || name.Contains("CHACHA20", StringComparison.Ordinal), $"non-AEAD suite accepted: {suite.Value}");
            Assert.True(name.StartsWith("TLS_", StringComparison.Ordinal) || name.StartsWith("ECDHE-", StringComparison.Ordinal), $"suite without forward secrecy: {suite.Value}");
        }
    }
}
