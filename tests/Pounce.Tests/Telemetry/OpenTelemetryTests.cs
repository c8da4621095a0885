using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Pounce.Telemetry;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.LifecycleE2E;

namespace Pounce.Tests.Telemetry;

/// <summary>
/// Tests that start process-wide listeners (an OpenTelemetry tracer or meter provider, an <see cref="ActivityListener"/>)
/// run alone, so that they neither see nor change the requests of tests running beside them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideListenersCollection
{
    public const string Name = "Process-wide tracing listeners";
}

/// <summary>What <c>OtelEndpoint</c> wires, and what happens without it.</summary>
[Collection(ProcessWideListenersCollection.Name)]
public sealed class OpenTelemetryWiringTests
{
    [Fact]
    public async Task WithoutOtelEndpoint_NoTracerMeterProviderOrExporterIsRegistered()
    {
        await using var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("x"));
        Assert.Null(server.Services.GetService<TracerProvider>());
        Assert.Null(server.Services.GetService<MeterProvider>());
        Assert.Null(server.Services.GetService<PounceOpenTelemetry.Registered>());
        Assert.Null(server.Server.Config.OtelEndpoint);
        // The server's own meter exists all the same (it measures only for a listener).
        Assert.Equal(PounceMetrics.MeterName, server.Services.GetRequiredService<PounceMetrics>().Meter.Name);
    }

    [Fact]
    public async Task WithOtelEndpoint_TracesAndMetricsArePostedAsProtobufUnderIt_AndASecondRegistrationAddsNothing()
    {
        await using var sink = new OtlpSink();
        RequestDelegate handler = ctx => ctx.Response.WriteAsync("x");
        var server = await TestServer.StartAppAsync(
            app => app.Run(handler),
            c =>
            {
                c.OtelEndpoint = sink.Endpoint + "collector";
                c.OtelServiceName = "pounce-wiring-test";
            },
            services => services.AddPounceOpenTelemetry(sink.Endpoint + "elsewhere", "ignored"));
        await using (server)
        {
            Assert.NotNull(server.Services.GetService<TracerProvider>());
            Assert.NotNull(server.Services.GetService<MeterProvider>());
            var registered = Assert.Single(server.Services.GetServices<PounceOpenTelemetry.Registered>());
            Assert.Equal(new Uri(sink.Endpoint, "collector/"), registered.Endpoint);
            Assert.Equal("pounce-wiring-test", registered.ServiceName);

            using var client = server.CreateClient();
            Assert.Equal("x", await client.GetStringAsync("/"));
        }
        // Disposing the host flushed both providers.
        await sink.WaitForAsync("/collector/v1/traces");
        await sink.WaitForAsync("/collector/v1/metrics");
        Assert.All(sink.Posts, p =>
        {
            Assert.Equal("POST", p.Method);
            Assert.Equal("application/x-protobuf", p.ContentType);
            Assert.True(p.Length > 0);
        });
        Assert.DoesNotContain(sink.Posts, p => p.Path.StartsWith("/elsewhere", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("localhost:4318")]
    [InlineData("ftp://localhost:4318")]
    [InlineData("http://localhost:4318/?x=1")]
    [InlineData("")]
    public void ABadOtelEndpoint_IsAClearStartUpError(string endpoint)
    {
        var config = new ServerConfig { OtelEndpoint = endpoint };
        var error = Assert.Throws<InvalidOperationException>(config.Validate);
        Assert.Contains("OtelEndpoint", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddPounceOpenTelemetry(endpoint));
    }

    [Fact]
    public void AnEmptyOtelServiceName_IsAClearStartUpError()
    {
        var error = Assert.Throws<InvalidOperationException>(new ServerConfig { OtelEndpoint = "http://localhost:4318", OtelServiceName = " " }.Validate);
        Assert.Contains("OtelServiceName", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>The request span carries Pounce's ids and the network attributes, for any tracer (here a bare listener).</summary>
[Collection(ProcessWideListenersCollection.Name)]
public sealed class RequestSpanTagTests
{
    private static (ActivityListener Listener, ConcurrentQueue<Activity> Stopped) Listen(ActivitySamplingResult sampling)
    {
        var stopped = new ConcurrentQueue<Activity>();
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => sampling,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        return (listener, stopped);
    }

    [Fact]
    public async Task RecordedRequestActivity_IsTaggedWithTheLifecycleIds_AndNetworkAttributes()
    {
        var (listener, stopped) = Listen(ActivitySamplingResult.AllDataAndRecorded);
        using (listener)
        {
            var (server, events) = await LifecycleEventTests.StartAsync(ctx => ctx.Response.WriteAsync("tagged"));
            await using (server)
            {
                await using (var raw = await server.ConnectAsync())
                {
                    await raw.SendAsync("GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    await raw.ReadResponseAsync();
                }
                using (var client = new HttpClient { BaseAddress = server.BaseAddress })
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, "/two")
                    {
                        Version = System.Net.HttpVersion.Version20,
                        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                    };
                    using var response = await client.SendAsync(request);
                    Assert.Equal(System.Net.HttpVersion.Version20, response.Version);
                }
                await events.WaitUntilAsync(e => e.Count(x => x.Name == "ResponseCompleted") == 2, "both ResponseCompleted events");
            }
            foreach (var completed in events.Snapshot().Where(e => e.Name == "ResponseCompleted"))
            {
                var activity = Assert.Single(stopped, a => a.TraceId.ToString() == completed.Str("trace_id"));
                Assert.Equal(completed.Str("span_id"), activity.SpanId.ToString());
                Assert.Equal(completed.ConnectionId, activity.GetTagItem("pounce.connection_id"));
                Assert.Equal((int)completed.Num("worker_id"), activity.GetTagItem("pounce.worker_id"));
                Assert.Equal(completed.RequestId, activity.GetTagItem("pounce.request_id"));
                Assert.Equal("ipv4", activity.GetTagItem("network.type"));
                Assert.Equal("127.0.0.1", activity.GetTagItem("client.address"));
                Assert.Equal("127.0.0.1", activity.GetTagItem("network.peer.address"));
                Assert.InRange(Assert.IsType<int>(activity.GetTagItem("network.peer.port")), 1, 65535);
                Assert.Null(activity.GetTagItem("tls.protocol.version"));
                if (completed.Str("path") == "/two")
                    Assert.Equal((int)completed.Num("stream_id"), activity.GetTagItem("pounce.stream_id"));
                else
                    Assert.Null(activity.GetTagItem("pounce.stream_id"));
            }
        }
    }

    [Fact]
    public async Task AnActivityNobodyRecords_IsLeftAlone_ButItsTraceIdIsStillLogged()
    {
        // Hosting creates a bare activity (for log scopes) when a logger is on (here: an app's provider): no tracer
        // asked for its data.
        var tags = new ConcurrentQueue<KeyValuePair<string, string?>[]>();
        var server = await TestServer.StartAppAsync(app => app.Run(ctx =>
        {
            tags.Enqueue(Activity.Current?.Tags.ToArray() ?? []);
            return ctx.Response.WriteAsync("bare");
        }), c =>
        {
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
        }, services => services.AddLogging(b => b.AddProvider(new Pounce.Tests.Logging.PounceLoggingTests.CapturingProvider())));
        var events = new EventRecorder();
        server.Services.GetRequiredService<Pounce.Lifecycle.LifecycleEmitter>().AddObserver(events);
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nConnection: close\r\n\r\n");
            await raw.ReadResponseAsync();
            await events.WaitUntilAsync(e => e.Any(x => x.Name == "ResponseCompleted"), "the ResponseCompleted");
        }
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", events.Snapshot().Single(e => e.Name == "ResponseCompleted").Str("trace_id"));
        Assert.DoesNotContain(Assert.Single(tags), t => t.Key.StartsWith("pounce.", StringComparison.Ordinal));
    }
}

/// <summary>
/// End to end against a real OTLP receiver, the .NET Aspire Dashboard: spans sent through Pounce with <c>OtelEndpoint</c>
/// pointed at it arrive with the right attributes, and each span's ids are the <c>trace_id</c>/<c>span_id</c> of the
/// matching <c>ResponseCompleted</c> line of the lifecycle log.
/// </summary>
[Collection(ProcessWideListenersCollection.Name)]
public sealed class AspireDashboardTests
{
    private const string ParentTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string ParentSpanId = "00f067aa0ba902b7";

    [Fact]
    public async Task SpansArriveWithPounceAttributes_AndTheTraceIdsOfTheResponseCompletedLines()
    {
        await using var dashboard = await AspireDashboard.StartAsync();
        var serviceName = "pounce-e2e-" + Guid.NewGuid().ToString("N")[..8];
        var logFile = Path.Combine(Path.GetTempPath(), "pounce-otel-e2e-" + Guid.NewGuid().ToString("N") + ".log");
        var server = await TestServer.StartAsync(ctx => ctx.Response.WriteAsync("traced " + ctx.Request.Path), c =>
        {
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
            c.LogFormat = LogFormat.Json;
            c.LogFile = logFile;
            c.OtelEndpoint = dashboard.OtlpEndpoint.ToString();
            c.OtelServiceName = serviceName;
        });
        await using (server)
        {
            await using (var raw = await server.ConnectAsync())
            {
                await raw.SendAsync($"GET /first?secret=1 HTTP/1.1\r\nHost: x\r\ntraceparent: 00-{ParentTraceId}-{ParentSpanId}-01\r\n\r\n");
                Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
                await raw.SendAsync("GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
            }
            using var client = new HttpClient { BaseAddress = server.BaseAddress };
            using var request = new HttpRequestMessage(HttpMethod.Get, "/over-h2")
            {
                Version = System.Net.HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            using var response = await client.SendAsync(request);
            Assert.Equal(System.Net.HttpVersion.Version20, response.Version);
        }
        // The host is disposed: the tracer provider has flushed its spans, the log writer its lines.

        var completed = File.ReadAllLines(logFile)
            .Select(line => JsonDocument.Parse(line).RootElement.Clone())
            .Where(e => e.TryGetProperty("event", out var name) && name.GetString() == "ResponseCompleted")
            .ToArray();
        Assert.Equal(["/first", "/over-h2", "/second"], completed.Select(e => e.GetProperty("path").GetString()).Order(StringComparer.Ordinal));
        Assert.Equal(ParentTraceId, completed.Single(e => e.GetProperty("path").GetString() == "/first").GetProperty("trace_id").GetString());

        var spans = await WaitForSpansAsync(dashboard, serviceName, completed.Select(e => e.GetProperty("trace_id").GetString()!).ToArray());
        foreach (var line in completed)
        {
            var traceId = line.GetProperty("trace_id").GetString();
            var spanId = line.GetProperty("span_id").GetString();
            var path = line.GetProperty("path").GetString();
            var (resource, span) = Assert.Single(spans, s => Str(s.Span, "traceId") == traceId);
            Assert.Equal(spanId, Str(span, "spanId"));

            Assert.Equal(serviceName, Attribute(resource, "service.name"));
            Assert.False(string.IsNullOrEmpty(Attribute(resource, "service.version")), "service.version is missing");
            Assert.False(string.IsNullOrEmpty(Attribute(resource, "service.instance.id")), "service.instance.id is missing");
            Assert.Equal(Environment.MachineName, Attribute(resource, "host.name"));

            Assert.Equal(Num(line, "connection_id"), Attribute(span, "pounce.connection_id"));
            Assert.Equal(Num(line, "worker_id"), Attribute(span, "pounce.worker_id"));
            Assert.Equal(line.GetProperty("request_id").GetString(), Attribute(span, "pounce.request_id"));
            Assert.Equal("GET", Attribute(span, "http.request.method"));
            Assert.Equal(path, Attribute(span, "url.path"));
            Assert.Equal("200", Attribute(span, "http.response.status_code"));
            Assert.Equal(path == "/over-h2" ? "2" : "1.1", Attribute(span, "network.protocol.version"));
            Assert.Equal("ipv4", Attribute(span, "network.type"));
            Assert.Equal("127.0.0.1", Attribute(span, "client.address"));
            Assert.Equal("127.0.0.1", Attribute(span, "network.peer.address"));
            Assert.NotNull(Attribute(span, "network.peer.port"));
            if (path == "/over-h2")
                Assert.Equal(Num(line, "stream_id"), Attribute(span, "pounce.stream_id"));
            if (path == "/first")
                Assert.Equal(ParentSpanId, Str(span, "parentSpanId"));
        }
    }

    [Fact]
    public async Task LogRecords_OfLifecycleAccessAndApp_ArriveWithTheTraceIdOfTheirRequestSpan()
    {
        await using var dashboard = await AspireDashboard.StartAsync();
        var serviceName = "pounce-logs-" + Guid.NewGuid().ToString("N")[..8];
        var server = await TestServer.StartAsync(ctx =>
        {
            ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("App.Endpoint")
                .LogWarning("app line for {Path}", ctx.Request.Path.Value);
            return ctx.Response.WriteAsync("logged");
        }, c =>
        {
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
            c.AccessLog = true;
            c.OtelEndpoint = dashboard.OtlpEndpoint.ToString();
            c.OtelServiceName = serviceName;
        });
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync($"GET /logged HTTP/1.1\r\nHost: x\r\ntraceparent: 00-{ParentTraceId}-{ParentSpanId}-01\r\nConnection: close\r\n\r\n");
            Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
        }
        // The host is disposed: the logger and tracer providers have flushed.

        var spans = await WaitForSpansAsync(dashboard, serviceName, [ParentTraceId]);
        var (_, span) = Assert.Single(spans, s => Str(s.Span, "traceId") == ParentTraceId);
        var spanId = Str(span, "spanId");

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var records = new List<(string Scope, JsonElement Record)>();
            var logs = await dashboard.GetLogsAsync();
            foreach (var resourceLogs in logs.GetProperty("data").GetProperty("resourceLogs").EnumerateArray())
            {
                if (Attribute(resourceLogs.GetProperty("resource"), "service.name") != serviceName)
                    continue;
                foreach (var scope in resourceLogs.GetProperty("scopeLogs").EnumerateArray())
                {
                    var scopeName = scope.TryGetProperty("scope", out var s) ? Str(s, "name") ?? "" : "";
                    foreach (var record in scope.GetProperty("logRecords").EnumerateArray())
                        records.Add((scopeName, record));
                }
            }
            var access = records.Where(r => r.Scope == "Pounce.Access").ToList();
            var completed = records.Where(r => r.Scope == "Pounce.Lifecycle" && Attribute(r.Record, "event") == "ResponseCompleted").ToList();
            var app = records.Where(r => r.Scope == "App.Endpoint").ToList();
            if (access.Count == 1 && completed.Count == 1 && app.Count == 1)
            {
                var accessRecord = access[0].Record;
                Assert.Equal(ParentTraceId, Str(accessRecord, "traceId"));
                Assert.Equal(spanId, Str(accessRecord, "spanId"));
                Assert.Equal("200", Attribute(accessRecord, "status"));
                Assert.Equal("/logged", Attribute(accessRecord, "path"));
                Assert.NotNull(Attribute(accessRecord, "request_id"));
                Assert.NotNull(Attribute(accessRecord, "connection_id"));
                Assert.Equal(9, accessRecord.GetProperty("severityNumber").GetInt32()); // INFO

                var completedRecord = completed[0].Record;
                Assert.Equal(ParentTraceId, Str(completedRecord, "traceId"));
                Assert.Equal(spanId, Str(completedRecord, "spanId"));
                Assert.Equal(Attribute(accessRecord, "request_id"), Attribute(completedRecord, "request_id"));
                Assert.Equal(5, completedRecord.GetProperty("severityNumber").GetInt32()); // DEBUG

                var appRecord = app[0].Record;
                Assert.Equal(ParentTraceId, Str(appRecord, "traceId"));
                Assert.Equal(Attribute(accessRecord, "request_id"), Attribute(appRecord, "request_id"));
                Assert.Equal(Attribute(accessRecord, "connection_id"), Attribute(appRecord, "connection_id"));
                Assert.Equal(13, appRecord.GetProperty("severityNumber").GetInt32()); // WARN
                return;
            }
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"The dashboard did not get the access, ResponseCompleted and app records of {serviceName} within 30 s "
                    + $"(access {access.Count}, completed {completed.Count}, app {app.Count}). It has:\n{logs}\nIts output:\n{dashboard.Output}");
            }
            await Task.Delay(200);
        }
    }

    /// <summary>Polls the dashboard (at most 30 s) until a span of <paramref name="serviceName"/> exists for every trace id.</summary>
    private static async Task<List<(JsonElement Resource, JsonElement Span)>> WaitForSpansAsync(AspireDashboard dashboard, string serviceName, string[] traceIds)
    {
        var deadline = Stopwatch.StartNew();
        List<(JsonElement, JsonElement)> spans = [];
        while (true)
        {
            spans = [];
            var traces = await dashboard.GetTracesAsync();
            foreach (var resourceSpans in traces.GetProperty("data").GetProperty("resourceSpans").EnumerateArray())
            {
                var resource = resourceSpans.GetProperty("resource");
                if (Attribute(resource, "service.name") != serviceName)
                    continue;
                foreach (var scope in resourceSpans.GetProperty("scopeSpans").EnumerateArray())
                {
                    foreach (var span in scope.GetProperty("spans").EnumerateArray())
                        spans.Add((resource, span));
                }
            }
            if (traceIds.All(id => spans.Any(s => Str(s.Item2, "traceId") == id)))
                return spans;
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"The dashboard did not get spans of {serviceName} for every trace id ({string.Join(", ", traceIds)}) "
                    + $"within 30 s. It has:\n{traces}\nIts output:\n{dashboard.Output}");
            }
            await Task.Delay(200);
        }
    }

    private static string? Str(JsonElement e, string property) =>
        e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Num(JsonElement line, string property) => line.GetProperty(property).GetInt64().ToString(CultureInfo.InvariantCulture);

    /// <summary>An OTLP JSON attribute's value as text, whatever its type (an int64 may come as a string or a number).</summary>
    private static string? Attribute(JsonElement owner, string key)
    {
        if (!owner.TryGetProperty("attributes", out var attributes))
            return null;
        foreach (var attribute in attributes.EnumerateArray())
        {
            if (attribute.GetProperty("key").GetString() != key)
                continue;
            foreach (var value in attribute.GetProperty("value").EnumerateObject())
                return value.Value.ValueKind == JsonValueKind.String ? value.Value.GetString() : value.Value.GetRawText();
        }
        return null;
    }
}
