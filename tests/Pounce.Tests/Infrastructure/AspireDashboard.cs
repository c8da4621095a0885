using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace Pounce.Tests.Infrastructure;

/// <summary>
/// The .NET Aspire Dashboard as a real OTLP receiver: the native binary of the NuGet package
/// <c>Aspire.Dashboard.Sdk.linux-x64</c>, which the test project restores (a <c>PackageDownload</c>). It accepts
/// OTLP/HTTP on one free loopback port and answers what it received as OTLP JSON from <c>/api/telemetry/traces</c> on
/// another. Started per test; killed when disposed.
/// </summary>
internal sealed class AspireDashboard : IAsyncDisposable
{
    public const string PackageId = "Aspire.Dashboard.Sdk.linux-x64";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly StringBuilder _output;
    private readonly HttpClient _http;

    private AspireDashboard(Process process, StringBuilder output, Uri otlpEndpoint, Uri apiBase)
    {
        _process = process;
        _output = output;
        OtlpEndpoint = otlpEndpoint;
        _http = new HttpClient { BaseAddress = apiBase, Timeout = TimeSpan.FromSeconds(15) };
    }

    /// <summary>Where to send OTLP/HTTP (the base URL: <c>/v1/traces</c> and <c>/v1/metrics</c> live under it).</summary>
    public Uri OtlpEndpoint { get; }

    /// <summary>What the dashboard printed so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>The dashboard's executable, in the NuGet packages folder the test project was restored with.</summary>
    public static string ExecutablePath
    {
        get
        {
            var metadata = typeof(AspireDashboard).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().ToDictionary(a => a.Key, a => a.Value);
            var root = metadata.GetValueOrDefault("NuGetPackageRoot");
            var version = metadata.GetValueOrDefault("AspireDashboardVersion");
            if (string.IsNullOrEmpty(root) || string.IsNullOrEmpty(version))
                throw new InvalidOperationException("The test assembly does not say where NuGet restored packages (AssemblyMetadata NuGetPackageRoot/AspireDashboardVersion).");
            return Path.Combine(root, PackageId.ToLowerInvariant(), version, "tools", "Aspire.Dashboard");
        }
    }

    public static async Task<AspireDashboard> StartAsync()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
            throw new PlatformNotSupportedException($"The OpenTelemetry end-to-end test runs the {PackageId} binary: it needs Linux on x64.");
        var path = ExecutablePath;
        if (!File.Exists(path))
            throw new FileNotFoundException($"The Aspire Dashboard is not at {path}. The test project downloads it when restored "
                + $"(PackageDownload {PackageId}); run 'dotnet restore tests/Pounce.Tests' with NuGet reachable.", path);
        var mode = File.GetUnixFileMode(path);
        if ((mode & UnixFileMode.UserExecute) == 0)
            File.SetUnixFileMode(path, mode | UnixFileMode.UserExecute);

        var apiPort = FreePort();
        var otlpPort = FreePort();
        var info = new ProcessStartInfo(path)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(path)!,
        };
        foreach (var name in new[] { "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS" })
            info.Environment.Remove(name);
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{apiPort}";
        info.Environment["ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL"] = $"http://127.0.0.1:{otlpPort}";
        // No browser token, no API key: a loopback-only test instance.
        info.Environment["ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS"] = "true";
        info.Environment["Dashboard__Api__Enabled"] = "true";
        info.Environment["DOTNET_gcServer"] = "0";

        var output = new StringBuilder();
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var dashboard = new AspireDashboard(process, output, new Uri($"http://127.0.0.1:{otlpPort}"), new Uri($"http://127.0.0.1:{apiPort}"));
        try
        {
            await dashboard.WaitUntilReadyAsync();
            return dashboard;
        }
        catch
        {
            await dashboard.DisposeAsync();
            throw;
        }
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
            return;
        lock (output)
            output.Append(line).Append('\n');
    }

    private async Task WaitUntilReadyAsync()
    {
        var deadline = Stopwatch.StartNew();
        Exception? last = null;
        while (deadline.Elapsed < StartTimeout)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"The Aspire Dashboard exited with code {_process.ExitCode} before it was ready:\n{Output}");
            try
            {
                using var response = await _http.GetAsync("api/telemetry/traces");
                if (response.StatusCode == HttpStatusCode.OK)
                    return;
                last = new HttpRequestException($"GET /api/telemetry/traces answered {(int)response.StatusCode}");
            }
            catch (HttpRequestException ex)
            {
                last = ex;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"The Aspire Dashboard was not ready within {StartTimeout.TotalSeconds:0} s ({last?.Message}):\n{Output}");
    }

    /// <summary>Every span the dashboard holds, as OTLP JSON (<c>resourceSpans</c>).</summary>
    public async Task<JsonElement> GetTracesAsync()
    {
        using var response = await _http.GetAsync("api/telemetry/traces");
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
            throw new HttpRequestException($"GET /api/telemetry/traces answered {(int)response.StatusCode}: {body}");
        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    /// <summary>Every log record the dashboard holds, as OTLP JSON (<c>resourceLogs</c>).</summary>
    public async Task<JsonElement> GetLogsAsync()
    {
        using var response = await _http.GetAsync("api/telemetry/logs");
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
            throw new HttpRequestException($"GET /api/telemetry/logs answered {(int)response.StatusCode}: {body}");
        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
        {
            // Already gone, or will be: nothing else to release.
        }
        _process.Dispose();
    }
}
