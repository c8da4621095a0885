using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Pounce.Tests.Infrastructure;

namespace Pounce.Cli.Tests;

/// <summary>
/// Configuration as a Kestrel app carries it, under the <c>pounce</c> command: both environment spellings, what
/// <c>config show</c> says will be bound, certificate errors as one line with exit 2, the development certificate,
/// Kestrel:Endpoints in appsettings.json, and a port another process already listens on.
/// </summary>
public sealed class ConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pounce-config-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>An empty home folder: no development certificate in its store.</summary>
    private Dictionary<string, string> EmptyHome()
    {
        var home = Directory.CreateDirectory(Path.Combine(_dir, "home")).FullName;
        return new() { ["HOME"] = home, ["DOTNET_CLI_HOME"] = home };
    }

    [Theory]
    [InlineData("Pounce__ServerHeader")]
    [InlineData("POUNCE_SERVER_HEADER")]
    public async Task BothEnvironmentSpellings_SetTheServerHeader(string variable)
    {
        var show = await PounceProcess.RunAsync(["config", "show"], _dir, new Dictionary<string, string> { [variable] = "spelled" });
        Assert.Equal(0, show.ExitCode);
        var row = show.Stdout.Single(l => l.StartsWith("--server-header ", StringComparison.Ordinal));
        Assert.Contains("spelled", row);
        Assert.EndsWith("env " + variable, row);

        await using var pounce = PounceProcess.Start(["--port", "0", "--workers", "1"], _dir, new Dictionary<string, string> { [variable] = "spelled" });
        var address = await pounce.WaitForAddressAsync();
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        using var response = await client.GetAsync(new Uri(address, "/plaintext"));
        Assert.Equal("spelled", response.Headers.Server.ToString());
    }

    [Theory]
    [InlineData("ASPNETCORE_URLS", "http://127.0.0.1:5123", "# binds: http://127.0.0.1:5123  <- env ASPNETCORE_URLS")]
    [InlineData("ASPNETCORE_HTTP_PORTS", "8080", "# binds: http://*:8080 (dual-stack [::]:8080)  <- env ASPNETCORE_HTTP_PORTS")]
    [InlineData("Kestrel__Endpoints__Api__Url", "http://127.0.0.1:5200", "# binds: http://127.0.0.1:5200  <- Kestrel:Endpoints:Api (env Kestrel__Endpoints__Api__Url)")]
    [InlineData("POUNCE_URLS", "http://127.0.0.1:5300", "# binds: http://127.0.0.1:5300  <- env POUNCE_URLS")]
    public async Task ConfigShow_SaysWhatWillBeBound_AndWhy(string variable, string value, string expected)
    {
        var show = await PounceProcess.RunAsync(["config", "show"], _dir, new Dictionary<string, string> { [variable] = value });
        Assert.Equal(0, show.ExitCode);
        Assert.Contains(expected, show.Stdout);
    }

    [Fact]
    public async Task ConfigShow_Default_And_AppSettingsEndpoints()
    {
        var show = await PounceProcess.RunAsync(["config", "show"], _dir);
        Assert.Contains("# binds: http://127.0.0.1:8000  <- default (--host/--port)", show.Stdout);
        await File.WriteAllTextAsync(Path.Combine(_dir, "appsettings.json"),
            """{ "Kestrel": { "Endpoints": { "Web": { "Url": "http://127.0.0.1:5400", "Protocols": "Http2" } } } }""");
        show = await PounceProcess.RunAsync(["config", "show"], _dir);
        Assert.Equal(0, show.ExitCode);
        Assert.Contains("# binds: http://127.0.0.1:5400  <- Kestrel:Endpoints:Web protocols=Http2 (appsettings.json)", show.Stdout);
        Assert.DoesNotContain(show.Stderr, l => l.Contains("unknown setting", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MissingCertificateFile_ExitsTwo_WithOneLine()
    {
        var run = await PounceProcess.RunAsync(["--ssl-certfile", "/missing.pem"], _dir);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal(["pounce: invalid value '/missing.pem' for --ssl-certfile: the file does not exist"], run.Stderr);
    }

    [Fact]
    public async Task HttpsUrlWithoutCertificate_ExitsTwo_WithOneLine_NoStackTrace()
    {
        var run = await PounceProcess.RunAsync(["--urls", "https://127.0.0.1:0"], _dir, EmptyHome());
        Assert.Equal(2, run.ExitCode);
        var errorLines = run.Stderr.Concat(run.Stdout).Where(l => l.Contains("certificate", StringComparison.OrdinalIgnoreCase) || l.Contains("   at ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["pounce: HTTPS endpoint https://127.0.0.1:0 has no certificate: set SslCertFile (--ssl-certfile) and SslKeyFile, Kestrel:Certificates:Default:Path, the endpoint's Certificate, or create the development certificate with 'dotnet dev-certs https'."], errorLines);
    }

    [Fact]
    public async Task DevelopmentCertificate_CreatedInTheTestsHome_ServesHttps()
    {
        var home = EmptyHome();
        var psi = new ProcessStartInfo(Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal) ? Environment.ProcessPath : "dotnet", ["dev-certs", "https"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in home)
            psi.Environment[key] = value;
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using (var devCerts = Process.Start(psi)!)
        {
            var output = devCerts.StandardOutput.ReadToEndAsync();
            var errors = devCerts.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await devCerts.WaitForExitAsync(cts.Token);
            Assert.True(devCerts.ExitCode == 0, "dotnet dev-certs https failed: " + await output + await errors);
        }

        await using var pounce = PounceProcess.Start(["--urls", "https://127.0.0.1:0", "--workers", "1"], _dir, home);
        var address = await pounce.WaitForAddressAsync();
        Assert.Equal("https", address.Scheme);
        X509Certificate2? served = null;
        using var client = new HttpClient(new SocketsHttpHandler
        {
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    served = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    return served is not null && served.Extensions.Any(e => e.Oid?.Value == "1.3.6.1.4.1.311.84.1.1");
                },
            },
        }) { Timeout = TimeSpan.FromSeconds(15) };
        Assert.Equal("Hello, World!", await client.GetStringAsync(new Uri(address, "/plaintext")));
        Assert.NotNull(served);
        Assert.Equal("CN=localhost", served!.Subject);
    }

    [Fact]
    public async Task SecondPounce_OnAPortAnotherPounceListensOn_FailsWithAddressAlreadyInUse()
    {
        await using var first = PounceProcess.Start(["--host", "127.0.0.1", "--port", "0", "--workers", "2"], _dir);
        var address = await first.WaitForAddressAsync();
        var second = await PounceProcess.RunAsync(["--host", "127.0.0.1", "--port", address.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--workers", "2"], _dir);
        Assert.Equal(1, second.ExitCode);
        Assert.Contains($"pounce: Failed to bind to address http://127.0.0.1:{address.Port}: address already in use.", second.Stderr);
        // The first one still serves.
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        Assert.Equal("Hello, World!", await client.GetStringAsync(new Uri(address, "/plaintext")));
    }

    [Fact]
    public async Task UnchangedApp_ItsKestrelEndpoints_AreBound_WithTheirProtocols()
    {
        Assert.True(File.Exists(PounceProcess.HelloAppDll), $"the HelloApp sample is not built at {PounceProcess.HelloAppDll}");
        await using var pounce = PounceProcess.Start([PounceProcess.HelloAppDll, "--workers", "1"], _dir, new Dictionary<string, string>
        {
            ["Kestrel__Endpoints__Web__Url"] = "http://127.0.0.1:0",
            ["Kestrel__Endpoints__Web__Protocols"] = "Http2",
        });
        var address = await pounce.WaitForAddressAsync();
        using var client = new HttpClient
        {
            DefaultRequestVersion = new Version(2, 0),
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(15),
        };
        using var response = await client.GetAsync(new Uri(address, "/"));
        Assert.Equal(new Version(2, 0), response.Version);
        Assert.Equal("Hello from HelloApp!", await response.Content.ReadAsStringAsync());
        // HTTP/2 only: an HTTP/1.1 request is refused (GOAWAY), not served.
        using var h1 = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        await Assert.ThrowsAsync<HttpRequestException>(() => h1.GetStringAsync(new Uri(address, "/")));
    }

    [ToolFact("curl")]
    public async Task UnixSocketUrl_ServedToCurl()
    {
        var path = Path.Combine(_dir, "pounce.sock");
        await using var pounce = PounceProcess.Start(["--urls", "http://unix:" + path, "--workers", "1"], _dir);
        await pounce.WaitForAsync(p => p.StdoutLines.FirstOrDefault(l => l.Contains("listening on http://unix:", StringComparison.Ordinal)), PounceProcess.StartTimeout, "the start-up line");
        var (exit, output) = await ExternalTool.RunAsync("curl", $"-s --unix-socket {path} http://localhost/plaintext");
        Assert.True(exit == 0, output);
        Assert.Equal("Hello, World!", output);
    }
}
