using System.Buffers;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Pounce.Cli.Hosting;
using Pounce.Cli.Settings;
using Pounce.Hosting;
using Pounce.Telemetry;

namespace Pounce.Cli.Demo;

/// <summary>
/// The app <c>pounce</c> serves when given none: a handful of endpoints that, between them, make the server emit every
/// lifecycle event (fast and slow responses, large and streaming bodies, request bodies, failures, health checks,
/// WebSocket upgrades, and clients that leave early).
/// </summary>
internal static class DemoApp
{
    /// <summary>The endpoints, for the index page and <c>--help</c>.</summary>
    public static readonly (string Path, string What)[] Endpoints =
    [
        ("GET /", "a small JSON document (this list)"),
        ("GET /plaintext", "\"Hello, World!\" as text/plain"),
        ("GET /slow?ms=N", "answers after N milliseconds (default 1000): a slow request"),
        ("GET /download?mb=N", "N MiB of bytes (default 10); hang up early for a ClientDisconnected"),
        ("GET /sse?count=N&ms=M", "N Server-Sent Events (default 5), M milliseconds apart (default 200)"),
        ("POST /echo", "echoes the request body back, with its content type"),
        ("GET /throw", "an endpoint that throws: a 500"),
        ("GET /health", "\"ok\": use with --health-check-path /health"),
        ("GET /ws", "WebSocket echo"),
        ("GET /metrics", "Prometheus metrics: the Pounce and ASP.NET Core meters"),
    ];

    public static WebApplication Build(EffectiveSettings settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = Directory.GetCurrentDirectory(),
        });

        builder.WebHost.UsePounce(settings.ApplyTo);
        // The command's addresses win over ASPNETCORE_URLS and the like (see EffectiveSettings.BindingUrls).
        if (settings.BindingUrls.Count > 0)
        {
            builder.WebHost.UseUrls([.. settings.BindingUrls]);
            builder.WebHost.PreferHostingUrls(true); // over Kestrel:Endpoints / Pounce:Endpoints too
        }

        // The demo's own lines and Pounce's at the chosen level; ASP.NET Core's chatter only when it matters.
        var level = settings.Config.LogLevel;
        builder.Logging.SetMinimumLevel(level);
        var framework = level > LogLevel.Warning ? level : LogLevel.Warning;
        builder.Logging.AddFilter("Microsoft", framework);
        builder.Logging.AddFilter("System", framework);

        PounceComposition.AddCommandServices(builder.Services, settings, "demo");

        // /metrics for Prometheus: OpenTelemetry's exporter over the Pounce meter and ASP.NET Core's own meters. (With
        // --otel-endpoint the same meter provider also pushes them with OTLP.)
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(settings.Config.OtelServiceName))
            .WithMetrics(metrics => metrics
                .AddMeter(PounceMetrics.MeterName)
                .AddAspNetCoreInstrumentation()
                .AddPrometheusExporter());

        var app = builder.Build();
        app.UseWebSockets();
        app.MapPrometheusScrapingEndpoint();
        Map(app);
        return app;
    }

    private static void Map(WebApplication app)
    {
        app.MapGet("/", () => Results.Json(new
        {
            server = "pounce",
            app = "demo",
            endpoints = Endpoints.Select(e => new { endpoint = e.Path, what = e.What }),
        }));

        app.MapGet("/plaintext", () => Results.Text("Hello, World!", "text/plain"));

        app.MapGet("/slow", async (HttpContext context, int? ms) =>
        {
            var delay = Math.Clamp(ms ?? 1000, 0, 600_000);
            await Task.Delay(delay, context.RequestAborted);
            return Results.Text($"slept {delay} ms\n");
        });

        app.MapGet("/download", async (HttpContext context, int? mb) =>
        {
            var megabytes = Math.Clamp(mb ?? 10, 0, 10_240);
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = megabytes * 1024L * 1024L;
            context.Response.Headers.ContentDisposition = $"attachment; filename=\"pounce-{megabytes}mb.bin\"";
            var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                chunk.AsSpan(0, 64 * 1024).Fill((byte)'p');
                for (var left = context.Response.ContentLength.Value; left > 0; left -= 64 * 1024)
                    await context.Response.Body.WriteAsync(chunk.AsMemory(0, (int)Math.Min(left, 64 * 1024)), context.RequestAborted);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        });

        app.MapGet("/sse", async (HttpContext context, int? count, int? ms) =>
        {
            var events = Math.Clamp(count ?? 5, 0, 100_000);
            var interval = Math.Clamp(ms ?? 200, 0, 60_000);
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            await context.Response.StartAsync(context.RequestAborted);
            for (var i = 1; i <= events; i++)
            {
                if (i > 1 && interval > 0)
                    await Task.Delay(interval, context.RequestAborted);
                var time = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
                await context.Response.WriteAsync($"id: {i}\nevent: tick\ndata: {{\"n\":{i},\"time\":\"{time}\"}}\n\n", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        });

        app.MapPost("/echo", async (HttpContext context) =>
        {
            context.Response.ContentType = context.Request.ContentType ?? "application/octet-stream";
            if (context.Request.ContentLength is { } length)
                context.Response.ContentLength = length;
            await context.Request.Body.CopyToAsync(context.Response.Body, context.RequestAborted);
        });

        app.MapGet("/throw", string () => throw new InvalidOperationException("the demo's /throw endpoint always throws"));

        app.MapGet("/health", () => Results.Text("ok"));

        app.Map("/ws", async (HttpContext context) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsync("expected a WebSocket upgrade request\n");
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            await EchoAsync(socket, context.RequestAborted);
        });
    }

    private static async Task EchoAsync(WebSocket socket, CancellationToken aborted)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, aborted);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                // Answer with the client's status code, as RFC 6455 5.5.1 suggests (1000 when it sent none).
                await socket.CloseAsync(received.CloseStatus ?? WebSocketCloseStatus.NormalClosure, received.CloseStatusDescription, aborted);
                return;
            }
            await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, aborted);
        }
    }

    /// <summary>A line for the help text: the endpoints, one per line.</summary>
    public static string Describe()
    {
        var sb = new StringBuilder();
        foreach (var (path, what) in Endpoints)
            sb.Append("  ").Append(path.PadRight(24)).Append(what).Append('\n');
        return sb.ToString();
    }
}
