using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Pounce;
using Pounce.BenchApp;
using Pounce.Hosting;

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync("Pounce.BenchApp: " + e.Message);
    await Console.Error.WriteLineAsync("Run with --help for the options.");
    return 2;
}

if (options.ShowHelp)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

if (options.Server == ServerKind.Kestrel && options.PounceOnlyFlags.Count > 0)
    await Console.Error.WriteLineAsync($"Pounce.BenchApp: ignored for Kestrel: {string.Join(", ", options.PounceOnlyFlags)}");

// No command-line configuration: the flags above are the whole interface, and the same
// (empty) configuration reaches both servers.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });

// Neither server pays for console logging. Cleared before UsePounce, so whatever logging Pounce registers
// itself (its line writer, its ILogger provider) stays: that is what --lifecycle-logging measures.
builder.Logging.ClearProviders();
builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
builder.Logging.AddFilter("System", LogLevel.Warning);
// ASP.NET Core hosting starts an Activity and a log scope for every request as soon as any logger provider is
// enabled for its category at any level. Pounce always has its own provider (that is how every line follows
// LogFormat); Kestrel here has none. Turning the category off for both keeps that per-request cost out of the
// comparison instead of charging it to one side only.
builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);

// Same binding for both: 127.0.0.1 and the given port (0 = a free one).
var tls = options.TlsCert is not null;
var url = $"{(tls ? "https" : "http")}://127.0.0.1:{options.Port}";
builder.WebHost.UseUrls(url);

if (options.Server == ServerKind.Kestrel)
{
    if (tls)
        builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves Kestrel's HTTPS out
    builder.WebHost.ConfigureKestrel(kestrel =>
    {
        kestrel.AddServerHeader = true; // "Server: Kestrel", as Pounce sends "Server: pounce"
        kestrel.Limits.KeepAliveTimeout = options.KeepAliveTimeout;
        kestrel.Limits.MaxConcurrentConnections = options.MaxConnections;
        kestrel.ConfigureEndpointDefaults(endpoint => endpoint.Protocols = tls ? HttpProtocols.Http1AndHttp2 : options.Protocols switch
        {
            BenchProtocols.Http2 => HttpProtocols.Http2,
            BenchProtocols.Http1AndHttp2 => HttpProtocols.Http1AndHttp2,
            _ => HttpProtocols.Http1,
        });
        if (tls)
        {
            var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(options.TlsCert!, options.TlsKey);
            kestrel.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate);
        }
    });
}
else
{
    builder.WebHost.UsePounce(config =>
    {
        config.Host = "127.0.0.1";
        config.Port = options.Port;
        config.KeepAliveTimeout = options.KeepAliveTimeout;
        config.MaxConnections = options.MaxConnections;
        if (options.Workers is { } workers)
            config.Workers = workers;
        config.LifecycleLogging = options.LifecycleLogging;
        config.LogLevel = options.LogLevel;
        config.LogFormat = options.LogFormat;
        config.LogFile = options.LogFile;
        config.AccessLog = options.AccessLog;
        config.SslCertFile = options.TlsCert;
        config.SslKeyFile = options.TlsKey;
        config.OtelEndpoint = options.OtelEndpoint;
    });
}

var app = builder.Build();

// One terminal middleware, the same on both servers: no routing, no static files, nothing else. The WebSocket
// middleware runs for /ws only (bench/autobahn), so the HTTP scenarios do not pay for it.
app.UseWhen(WebSocketEcho.IsEchoPath, ws => ws.UseWebSockets().Run(WebSocketEcho.HandleAsync));
app.Run(BenchEndpoints.HandleAsync);

try
{
    await app.StartAsync();
}
catch (Exception e)
{
    await Console.Error.WriteLineAsync($"Pounce.BenchApp: {options.Server} failed to start: {e.GetType().Name}: {e.Message}");
    return 1;
}

var bound = BoundAddress(app.Services.GetRequiredService<IServer>(), options.Port);
if (bound is null)
{
    await Console.Error.WriteLineAsync(
        $"Pounce.BenchApp: {options.Server} did not report its bound address (IServerAddressesFeature); pass --port N instead of 0.");
    await app.StopAsync();
    return 1;
}

Console.Out.WriteLine($"Listening on {bound}");
Console.Out.Flush();

await app.WaitForShutdownAsync();
return 0;

static string? BoundAddress(IServer server, int requestedPort)
{
    var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
    if (addresses is not null)
    {
        foreach (var a in addresses)
        {
            if (Uri.TryCreate(a, UriKind.Absolute, out var uri) && uri.Port > 0)
                return $"{uri.Scheme}://127.0.0.1:{uri.Port}";
        }
    }

    // A server that does not fill the feature in: the port is still known when it was given,
    // and on Linux a free port it bound can be read back from the process's own listening sockets.
    if (requestedPort != 0)
        return $"http://127.0.0.1:{requestedPort}";
    var listening = ListeningPortOfThisProcess();
    return listening > 0 ? $"http://127.0.0.1:{listening}" : null;
}

// The port of a TCP socket of this process listening on 127.0.0.1, from /proc (Linux only; 0 if none).
static int ListeningPortOfThisProcess()
{
    try
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            var target = new FileInfo(fd).LinkTarget;
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
                inodes.Add(target["socket:[".Length..^1]);
        }

        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > 9 && f[3] == "0A" && f[1].StartsWith("0100007F:", StringComparison.Ordinal) && inodes.Contains(f[9]))
                return Convert.ToInt32(f[1]["0100007F:".Length..], 16);
        }
    }
    catch (IOException)
    {
    }
    catch (UnauthorizedAccessException)
    {
    }
    return 0;
}

namespace Pounce.BenchApp
{
    /// <summary>The TechEmpower plaintext and JSON tests, plus two fixed-size bodies.</summary>
    internal static class BenchEndpoints
    {
        private static readonly byte[] PlaintextBody = Encoding.ASCII.GetBytes("Hello, World!");
        private static readonly byte[] Body4K = Fill(4 * 1024);
        private static readonly byte[] Body1M = Fill(1024 * 1024);

        public static Task HandleAsync(HttpContext context)
        {
            var path = context.Request.Path.Value;
            var response = context.Response;
            switch (path)
            {
                case "/plaintext":
                    return WriteAsync(response, "text/plain", PlaintextBody);
                case "/json":
                    // Serialized per request, as the TechEmpower rules require.
                    var json = JsonSerializer.SerializeToUtf8Bytes(new JsonMessage { Message = "Hello, World!" }, BenchJsonContext.Default.JsonMessage);
                    return WriteAsync(response, "application/json", json);
                case "/bytes/4k":
                    return WriteAsync(response, "application/octet-stream", Body4K);
                case "/bytes/1m":
                    return WriteAsync(response, "application/octet-stream", Body1M);
                default:
                    response.StatusCode = StatusCodes.Status404NotFound;
                    response.ContentLength = 0;
                    return Task.CompletedTask;
            }
        }

        private static Task WriteAsync(HttpResponse response, string contentType, byte[] body)
        {
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = contentType;
            response.ContentLength = body.Length;
            return response.Body.WriteAsync(body, 0, body.Length);
        }

        private static byte[] Fill(int length)
        {
            var bytes = new byte[length];
            for (var i = 0; i < bytes.Length; i++)
                bytes[i] = (byte)('a' + (i % 26));
            return bytes;
        }
    }

    internal sealed class JsonMessage
    {
        public string Message { get; set; } = "";
    }

    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
    [JsonSerializable(typeof(JsonMessage))]
    internal sealed partial class BenchJsonContext : JsonSerializerContext
    {
    }
}
