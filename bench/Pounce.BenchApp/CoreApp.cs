using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pounce.BenchApp;

/// <summary>
/// The server core only: one terminal <c>app.Run</c> (no routing), the slim builder, logging providers cleared on both
/// servers and Pounce's access log off, so that neither server pays for anything but serving HTTP.
/// </summary>
internal static class CoreApp
{
    public static WebApplication Build(BenchOptions options)
    {
        // No command-line configuration: the flags are the whole interface, and the same (empty) configuration
        // reaches both servers.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });

        // Neither server pays for console logging. Cleared before UsePounce, so whatever logging Pounce registers
        // itself (its line writer, its ILogger provider) stays: that is what --lifecycle-logging measures.
        builder.Logging.ClearProviders();
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("System", LogLevel.Warning);
        // ASP.NET Core hosting starts an Activity and a log scope for every request as soon as any logger provider
        // is enabled for its category at any level. Turning the category off for both keeps that per-request cost
        // out of the comparison instead of charging it to one side only.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);

        ServerSetup.Configure(builder, options, CoreDefaults.Instance);
        var app = builder.Build();

        // The WebSocket middleware runs for /ws only (bench/autobahn), so the HTTP scenarios do not pay for it.
        app.UseWhen(WebSocketEcho.IsEchoPath, ws => ws.UseWebSockets().Run(WebSocketEcho.HandleAsync));
        app.Run(BenchEndpoints.HandleAsync);
        return app;
    }
}

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

    internal static byte[] Fill(int length)
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
