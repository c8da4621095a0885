using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Pounce.Telemetry;

/// <summary>
/// Wires the OpenTelemetry .NET SDK for a Pounce application: what <see cref="ServerConfig.OtelEndpoint"/> turns on.
/// </summary>
/// <remarks>
/// Nothing else in Pounce refers to OpenTelemetry types, so an application that never calls this (no
/// <c>OtelEndpoint</c>) never loads the SDK: no tracer, meter provider or exporter exists, and requests are only
/// traced if something else listens.
/// </remarks>
public static class PounceOpenTelemetry
{
    /// <summary>
    /// Adds the OpenTelemetry SDK with OTLP HTTP/protobuf export to <paramref name="endpoint"/>:
    /// <list type="bullet">
    /// <item>resource: <c>service.name</c> = <paramref name="serviceName"/>, <c>service.version</c> (the entry
    /// assembly's informational version), <c>service.instance.id</c>, <c>host.name</c>;</item>
    /// <item>traces: ASP.NET Core's request activity as the request span (W3C <c>traceparent</c> honoured), which Pounce
    /// tags with its connection, worker and request ids and the network attributes; exported to <c>v1/traces</c>;</item>
    /// <item>metrics: the <c>Pounce</c> meter and ASP.NET Core's meters; exported to <c>v1/metrics</c>;</item>
    /// <item>logs: the OpenTelemetry logging provider, so every <c>ILogger</c> line (the application's, the framework's,
    /// Pounce's lifecycle events under <c>Pounce.Lifecycle</c> and access lines under <c>Pounce.Access</c>, with the
    /// contract's fields as attributes) is exported to <c>v1/logs</c> with its severity and the trace context of the
    /// request it was written in; lines written in a request also get <c>connection_id</c>/<c>request_id</c>.</item>
    /// </list>
    /// A second call (for example <c>UsePounce</c> and the <c>pounce</c> command on the same host) adds nothing.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="endpoint">Base URL of the OTLP/HTTP receiver, e.g. <c>http://localhost:4318</c>.</param>
    /// <param name="serviceName">The <c>service.name</c> resource attribute.</param>
    /// <exception cref="ArgumentException">The endpoint is not an http or https URL, or the service name is empty.</exception>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static IServiceCollection AddPounceOpenTelemetry(this IServiceCollection services, string endpoint, string serviceName = "pounce")
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!ServerConfig.TryParseOtelEndpoint(endpoint, out var baseUri))
            throw new ArgumentException($"'{endpoint}' is not an http:// or https:// URL of an OTLP/HTTP receiver (e.g. http://localhost:4318).", nameof(endpoint));
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(Registered))
                return services;
        }
        services.AddSingleton(new Registered(baseUri, serviceName));

        var version = ServiceVersion();
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource
                .AddService(serviceName, serviceVersion: version, autoGenerateServiceInstanceId: true)
                .AddAttributes([new KeyValuePair<string, object>("host.name", Environment.MachineName)]))
            .WithTracing(tracing => tracing
                .AddAspNetCoreInstrumentation()
                .AddOtlpExporter(options => Export(options, baseUri, "v1/traces")))
            .WithMetrics(metrics => metrics
                .AddMeter(PounceMetrics.MeterName)
                .AddAspNetCoreInstrumentation()
                .AddOtlpExporter(options => Export(options, baseUri, "v1/metrics")))
            .WithLogging(
                logging => logging
                    .AddProcessor(new LogCorrelationProcessor())
                    .AddOtlpExporter(options => Export(options, baseUri, "v1/logs")),
                options =>
                {
                    options.IncludeFormattedMessage = true;
                    options.IncludeScopes = true;
                });
        return services;
    }

    /// <summary>Adds the SDK when <paramref name="config"/> has an <see cref="ServerConfig.OtelEndpoint"/> that parses
    /// (a bad one is left for <see cref="ServerConfig.Validate"/> to report at start-up); otherwise touches nothing.</summary>
    internal static void AddIfConfigured(IServiceCollection services, ServerConfig config)
    {
        if (config.OtelEndpoint is null || !ServerConfig.TryParseOtelEndpoint(config.OtelEndpoint, out _)
            || string.IsNullOrWhiteSpace(config.OtelServiceName))
            return;
        services.AddPounceOpenTelemetry(config.OtelEndpoint, config.OtelServiceName);
    }

    private static void Export(OtlpExporterOptions options, Uri baseUri, string signalPath)
    {
        options.Protocol = OtlpExportProtocol.HttpProtobuf;
        options.Endpoint = new Uri(baseUri, signalPath);
    }

    private static string? ServiceVersion()
    {
        var assembly = Assembly.GetEntryAssembly();
        if (assembly is null)
            return null;
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        return string.IsNullOrEmpty(informational) ? assembly.GetName().Version?.ToString() : informational;
    }

    /// <summary>The OpenTelemetry registration made for this service collection (its presence means it was made).</summary>
    /// <param name="Endpoint">The OTLP/HTTP base URL.</param>
    /// <param name="ServiceName">The <c>service.name</c>.</param>
    public sealed record Registered(Uri Endpoint, string ServiceName);
}
