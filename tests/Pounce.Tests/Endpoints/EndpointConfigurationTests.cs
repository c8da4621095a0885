using System.Net.Security;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Pounce.Hosting;
using Pounce.Tests.Tls;

namespace Pounce.Tests.Endpoints;

/// <summary>What a Kestrel app carries in configuration, read by Pounce: endpoints, certificates, client certificates.</summary>
public sealed class EndpointConfigurationTests
{
    private static (string Cert, string Key) Pem() =>
        TestCertificates.WritePem(TestCertificates.Localhost, Path.Combine(Path.GetTempPath(), "pounce-ep-" + Guid.NewGuid().ToString("N")));

    private static HttpClient TrustingClient(Version version) => new(TestCertificates.TrustingHandler(TestCertificates.Localhost))
    {
        DefaultRequestVersion = version,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(15),
    };

    [Fact]
    public async Task KestrelEndpoints_HttpAndHttps_WithCertificateFiles_AreBound_AndOverrideTheUrls()
    {
        var (cert, key) = Pem();
        await using var host = await EndpointHost.StartAsync(
        [
            new("urls", "http://127.0.0.1:0"),
            new("Kestrel:Endpoints:Plain:Url", "http://127.0.0.1:0"),
            new("Kestrel:Endpoints:Secure:Url", "https://127.0.0.1:0"),
            new("Kestrel:Endpoints:Secure:Protocols", "Http2"),
            new("Kestrel:Endpoints:Secure:Certificate:Path", cert),
            new("Kestrel:Endpoints:Secure:Certificate:KeyPath", key),
        ], ctx => ctx.Response.WriteAsync(ctx.Request.Scheme + " " + ctx.Request.Protocol));
        Assert.Equal(2, host.Addresses.Count);
        Assert.StartsWith("http://127.0.0.1:", host.Addresses[0]);
        Assert.StartsWith("https://127.0.0.1:", host.Addresses[1]);
        Assert.Contains(host.Warnings, w => w.Contains("Overriding address(es) 'http://127.0.0.1:0'", StringComparison.Ordinal));
        using var client = TrustingClient(new Version(2, 0));
        Assert.Equal("https HTTP/2", await client.GetStringAsync(host.Addresses[1] + "/"));
        using var h1 = TrustingClient(new Version(1, 1));
        Assert.Equal("http HTTP/1.1", await h1.GetStringAsync(host.Addresses[0] + "/"));
    }

    [Fact]
    public async Task PounceEndpoints_WinOverKestrelEndpoints()
    {
        await using var host = await EndpointHost.StartAsync(
        [
            new("Kestrel:Endpoints:K:Url", "http://127.0.0.1:0"),
            new("Kestrel:Endpoints:K:Protocols", "Http1"),
            new("Pounce:Endpoints:P:Url", "http://127.0.0.1:0"),
            new("Pounce:Endpoints:P:Protocols", "Http2"),
        ]);
        Assert.Single(host.Addresses);
        await using var h2 = await Http2.Http2RawClient.ConnectAsync(host.Port);
        await h2.AssertServesAsync(1);
    }

    [Fact]
    public async Task UnsupportedKestrelKeys_AreNamedInWarnings()
    {
        await using var host = await EndpointHost.StartAsync(
        [
            new("urls", "http://127.0.0.1:0"),
            new("Kestrel:Limits:MaxRequestBodySize", "10"),
            new("Kestrel:Endpoints:A:Url", "http://127.0.0.1:0"),
            new("Kestrel:Endpoints:A:Sni:example.com:Protocols", "Http1"),
            new("Kestrel:EndpointDefaults:SslProtocols:0", "Tls12"),
        ]);
        Assert.Contains(host.Warnings, w => w.Contains("Kestrel:Limits:MaxRequestBodySize", StringComparison.Ordinal));
        Assert.Contains(host.Warnings, w => w.Contains("Kestrel:Endpoints:A:Sni", StringComparison.Ordinal));
        Assert.Contains(host.Warnings, w => w.Contains("Kestrel:EndpointDefaults:SslProtocols", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EndpointDefaults_Protocols_Apply()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new("Kestrel:EndpointDefaults:Protocols", "Http2")]).Build();
        var config = new ServerConfig();
        PounceWebHostBuilderExtensions.ReadConfiguration(config, configuration);
        Assert.Equal(HttpProtocols.Http2, config.Protocols);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task EndpointWithoutUrl_IsAnError()
    {
        var error = await Assert.ThrowsAsync<PounceConfigurationException>(() => EndpointHost.StartAsync([new("Kestrel:Endpoints:Broken:Protocols", "Http1")]));
        Assert.Contains("Kestrel:Endpoints:Broken", error.Message);
    }

    [Fact]
    public async Task EndpointCertificateFileMissing_IsAnErrorNamingTheKey()
    {
        var error = await Assert.ThrowsAsync<PounceConfigurationException>(() => EndpointHost.StartAsync(
        [
            new("Kestrel:Endpoints:S:Url", "https://127.0.0.1:0"),
            new("Kestrel:Endpoints:S:Certificate:Path", "/nonexistent/cert.pem"),
        ]));
        Assert.Contains("Endpoints:S:Certificate:Path", error.Message);
        Assert.Contains("does not exist", error.Message);
    }

    [Fact]
    public async Task CertificateFromStore_BySubject_IsNotFound_WithAClearError()
    {
        var error = await Assert.ThrowsAsync<PounceConfigurationException>(() => EndpointHost.StartAsync(
        [
            new("Kestrel:Endpoints:S:Url", "https://127.0.0.1:0"),
            new("Kestrel:Endpoints:S:Certificate:Subject", "pounce-no-such-subject-" + Guid.NewGuid().ToString("N")),
            new("Kestrel:Endpoints:S:Certificate:Store", "My"),
            new("Kestrel:Endpoints:S:Certificate:Location", "CurrentUser"),
        ]));
        Assert.Contains("no certificate with subject", error.Message);
    }

    [Fact]
    public void PounceEnvironment_UpperSnakeSpelling_IsReadInLibraryMode()
    {
        var variables = new Dictionary<string, string>
        {
            ["POUNCE_SERVER_HEADER"] = "from-env",
            ["POUNCE_KEEP_ALIVE_TIMEOUT"] = "2.5",
            ["POUNCE_SSL_CERTFILE"] = "/x.pem",
            ["POUNCE_PROTOCOLS"] = "Http1",
        };
        variables["POUNCE_SERVR_HEADER"] = "typo";
        var config = new ServerConfig();
        PounceEnvironment.Apply(config, name => variables.GetValueOrDefault(name), variables.Keys);
        Assert.Equal(["Environment variable POUNCE_SERVR_HEADER names no Pounce setting and is ignored."], config.ConfigurationWarnings);
        Assert.Equal("from-env", config.ServerHeader);
        Assert.Equal(TimeSpan.FromSeconds(2.5), config.KeepAliveTimeout);
        Assert.Equal("/x.pem", config.SslCertFile);
        Assert.Equal(HttpProtocols.Http1, config.Protocols);
        var error = Assert.Throws<PounceConfigurationException>(() => PounceEnvironment.Apply(new ServerConfig(), n => n == "POUNCE_MAX_CONNECTIONS" ? "lots" : null, ["POUNCE_MAX_CONNECTIONS"]));
        Assert.Contains("POUNCE_MAX_CONNECTIONS", error.Message);
    }

    [Fact]
    public async Task AspNetCoreSpelling_PounceDoubleUnderscore_IsReadToo()
    {
        await using var host = await EndpointHost.StartAsync(
        [
            new("urls", "http://127.0.0.1:0"),
            new("Pounce:ServerHeader", "from-config"),
        ]);
        using var client = new HttpClient();
        using var response = await client.GetAsync(host.Addresses[0] + "/");
        Assert.Equal("from-config", response.Headers.Server.ToString());
    }

    // ---------------- client certificates ----------------

    private static async Task<EndpointHost> StartClientCertificateHostAsync(string mode, Action<ServerConfig>? configure = null)
    {
        var (cert, key) = Pem();
        return await EndpointHost.StartAsync(
        [
            new("Kestrel:Endpoints:S:Url", "https://127.0.0.1:0"),
            new("Kestrel:Endpoints:S:ClientCertificateMode", mode),
            new("Kestrel:Endpoints:S:Certificate:Path", cert),
            new("Kestrel:Endpoints:S:Certificate:KeyPath", key),
        ], async ctx =>
        {
            var tls = ctx.Features.Get<ITlsConnectionFeature>()!;
            var fromProperty = tls.ClientCertificate;
            var fromMethod = await tls.GetClientCertificateAsync(ctx.RequestAborted);
            var fromConnection = ctx.Connection.ClientCertificate;
            Assert.Same(fromProperty, fromMethod);
            Assert.Same(fromProperty, fromConnection);
            await ctx.Response.WriteAsync(fromProperty?.Subject ?? "none");
        }, configure);
    }

    private static HttpClient ClientWith(System.Security.Cryptography.X509Certificates.X509Certificate2? clientCertificate)
    {
        var handler = TestCertificates.TrustingHandler(TestCertificates.Localhost);
        if (clientCertificate is not null)
            handler.SslOptions.ClientCertificates = [clientCertificate];
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(15) };
    }

    private static readonly Lazy<System.Security.Cryptography.X509Certificates.X509Certificate2> ClientCertificate = new(() => TestCertificates.Create("pounce-client"));

    [Fact]
    public async Task NoCertificate_DoesNotAsk_TheAppSeesNone()
    {
        await using var host = await StartClientCertificateHostAsync("NoCertificate");
        using var client = ClientWith(ClientCertificate.Value);
        Assert.Equal("none", await client.GetStringAsync(host.Addresses[0] + "/"));
    }

    [Fact]
    public async Task AllowCertificate_WithoutOne_IsServed()
    {
        await using var host = await StartClientCertificateHostAsync("AllowCertificate");
        using var client = ClientWith(null);
        Assert.Equal("none", await client.GetStringAsync(host.Addresses[0] + "/"));
    }

    [Fact]
    public async Task AllowCertificate_WithOne_AcceptedByTheValidationCallback_IsOnTheFeature()
    {
        SslPolicyErrors? seen = null;
        await using var host = await StartClientCertificateHostAsync("AllowCertificate", c => c.ClientCertificateValidation = (certificate, _, errors) =>
        {
            seen = errors;
            return certificate.Subject == "CN=pounce-client";
        });
        using var client = ClientWith(ClientCertificate.Value);
        Assert.Equal("CN=pounce-client", await client.GetStringAsync(host.Addresses[0] + "/"));
        Assert.NotNull(seen);
    }

    [Fact]
    public async Task RequireCertificate_WithoutOne_FailsTheHandshake()
    {
        await using var host = await StartClientCertificateHostAsync("RequireCertificate", c => c.ClientCertificateValidation = (_, _, _) => true);
        using var client = ClientWith(null);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(host.Addresses[0] + "/"));
    }

    [Fact]
    public async Task RequireCertificate_SelfSignedWithoutValidationCallback_IsRefused_AsKestrelDoes()
    {
        await using var host = await StartClientCertificateHostAsync("RequireCertificate");
        using var client = ClientWith(ClientCertificate.Value);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(host.Addresses[0] + "/"));
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task RequireCertificate_WithOne_IsServed_OnEitherProtocol(string version)
    {
        await using var host = await StartClientCertificateHostAsync("RequireCertificate", c => c.ClientCertificateValidation = (_, _, _) => true);
        using var client = ClientWith(ClientCertificate.Value);
        client.DefaultRequestVersion = Version.Parse(version);
        client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using var response = await client.GetAsync(host.Addresses[0] + "/");
        Assert.Equal(Version.Parse(version), response.Version);
        Assert.Equal("CN=pounce-client", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task DelayCertificate_IsAStartupError()
    {
        var error = await Assert.ThrowsAsync<PounceConfigurationException>(() => StartClientCertificateHostAsync("DelayCertificate"));
        Assert.Contains("DelayCertificate", error.Message);
    }
}
