using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Pounce.BenchApp;

/// <summary>Which server hosts the benchmark application.</summary>
internal enum ServerKind
{
    Kestrel,
    Pounce,
}

/// <summary>Which application the server hosts.</summary>
internal enum BenchAppKind
{
    /// <summary>A minimal-API app as people write it: routing, JSON results, model binding, the web template's logging.</summary>
    Realistic,

    /// <summary>One terminal <c>app.Run</c>, no routing, logging providers cleared: the server core only.</summary>
    Core,
}

/// <summary>HTTP versions Kestrel offers on its cleartext endpoint (Pounce detects the protocol itself).</summary>
internal enum BenchProtocols
{
    Http1,
    Http2,
    Http1AndHttp2,
}

/// <summary>The bench app's command line. Anything not given keeps the bench defaults listed in <see cref="Usage"/>.</summary>
internal sealed class BenchOptions
{
    public const string Usage = """
        Pounce.BenchApp: the same ASP.NET Core app on Kestrel or on Pounce, for load comparisons.

        Apps (--app):
          realistic (default)          minimal APIs with routing, as `dotnet new web` starts them: CreateBuilder, the
                                       template's appsettings.json (Logging:LogLevel Default Information,
                                       Microsoft.AspNetCore Warning), the console logger as the template has it
                                       (Pounce replaces it with its own writer), each server at its own defaults
                                       (Pounce: access log on). GET /plaintext, /json, /users/{id:int},
                                       POST /users (JSON body, model-bound, answered 201 with it), GET /bytes/4k,
                                       /bytes/1m, /ws (WebSocket echo).
          core                         the server core only: one terminal app.Run (no routing), slim builder,
                                       logging providers cleared on both servers, Pounce's access log off unless
                                       --access-log true. GET /plaintext, /json, /bytes/4k, /bytes/1m, /ws.

        Options:
          --server kestrel|pounce      server to host the app (required)
          --app realistic|core         the application (default realistic)
          --port N                     port on 127.0.0.1; 0 binds a free port (default 0)
          --keep-alive-timeout SEC     idle keep-alive timeout, both servers (default: each server's own in the
                                       realistic app; 120 in the core app)
          --max-connections N          connection limit, both servers (default 100000)
          --protocols http1|http2|http1and2
                                       Kestrel only: HTTP versions on the cleartext endpoint (default: Kestrel's
                                       own in the realistic app, http1 in the core app);
                                       use http2 for h2load with prior knowledge. Pounce detects the protocol.
          --tls-cert FILE --tls-key FILE
                                       both servers: serve HTTPS with this PEM certificate and key (ALPN h2 and
                                       http/1.1 on both; Kestrel's endpoint becomes Http1AndHttp2)
          Pounce only (passed through to ServerConfig; ignored with a warning for Kestrel):
          --workers N                  accept loops (default: ServerConfig default)
          --lifecycle-logging [true|false]
                                       connection lifecycle events (default: ServerConfig's, false)
          --log-level trace|debug|info|warning|error|critical|none (default: ServerConfig's, info)
          --log-format text|json       (default: ServerConfig's, text)
          --log-file PATH              write log lines to PATH instead of stdout
          --access-log true|false      per-request access log line (default: ServerConfig's, true, in the
                                       realistic app; false in the core app, which pays for no logging at all)
          --otel-endpoint URL          OpenTelemetry: traces and metrics exported with OTLP HTTP/protobuf to
                                       URL (e.g. http://127.0.0.1:4318); default none (no OpenTelemetry)

        Prints one line "Listening on http(s)://127.0.0.1:PORT" to stdout once the server accepts connections,
        then runs until SIGINT/SIGTERM. SIGUSR1 prints "allocated_bytes=N" (GC.GetTotalAllocatedBytes) to stderr.
        """;

    public ServerKind Server { get; private set; }
    public BenchAppKind App { get; private set; } = BenchAppKind.Realistic;
    public int Port { get; private set; }
    public TimeSpan? KeepAliveTimeout { get; private set; }
    public int MaxConnections { get; private set; } = 100_000;
    public BenchProtocols? Protocols { get; private set; }
    public int? Workers { get; private set; }
    public bool? LifecycleLogging { get; private set; }
    public LogLevel? LogLevel { get; private set; }
    public LogFormat? LogFormat { get; private set; }
    public string? LogFile { get; private set; }
    public bool? AccessLog { get; private set; }
    public string? OtelEndpoint { get; private set; }
    public bool ShowHelp { get; private set; }
    public string? TlsCert { get; private set; }
    public string? TlsKey { get; private set; }

    /// <summary>Flags given that only Pounce understands (reported when the server is Kestrel).</summary>
    public List<string> PounceOnlyFlags { get; } = [];

    /// <summary>Parses the command line; throws <see cref="ArgumentException"/> with a readable message.</summary>
    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        var serverGiven = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            string Value()
            {
                if (inline is not null)
                    return inline;
                if (i + 1 >= args.Length)
                    throw new ArgumentException($"{arg} needs a value");
                return args[++i];
            }

            bool Switch()
            {
                if (inline is not null)
                    return ParseBool(arg, inline);
                if (i + 1 < args.Length && IsBool(args[i + 1]))
                    return ParseBool(arg, args[++i]);
                return true;
            }

            switch (arg)
            {
                case "-h" or "--help":
                    o.ShowHelp = true;
                    break;
                case "--server":
                    o.Server = Value().ToLowerInvariant() switch
                    {
                        "kestrel" => ServerKind.Kestrel,
                        "pounce" => ServerKind.Pounce,
                        var v => throw new ArgumentException($"--server must be kestrel or pounce, not '{v}'"),
                    };
                    serverGiven = true;
                    break;
                case "--app":
                    o.App = Value().ToLowerInvariant() switch
                    {
                        "realistic" => BenchAppKind.Realistic,
                        "core" => BenchAppKind.Core,
                        var v => throw new ArgumentException($"--app must be realistic or core, not '{v}'"),
                    };
                    break;
                case "--port":
                    o.Port = ParseInt(arg, Value(), 0, 65535);
                    break;
                case "--keep-alive-timeout":
                    o.KeepAliveTimeout = TimeSpan.FromSeconds(ParseInt(arg, Value(), 1, 86400));
                    break;
                case "--max-connections":
                    o.MaxConnections = ParseInt(arg, Value(), 1, int.MaxValue);
                    break;
                case "--protocols":
                    o.Protocols = Value().ToLowerInvariant() switch
                    {
                        "http1" or "h1" => BenchProtocols.Http1,
                        "http2" or "h2" or "h2c" => BenchProtocols.Http2,
                        "http1and2" or "http1andhttp2" => BenchProtocols.Http1AndHttp2,
                        var v => throw new ArgumentException($"--protocols must be http1, http2 or http1and2, not '{v}'"),
                    };
                    break;
                case "--tls-cert":
                    o.TlsCert = Value();
                    break;
                case "--tls-key":
                    o.TlsKey = Value();
                    break;
                case "--workers":
                    o.Workers = ParseInt(arg, Value(), 1, 1024);
                    o.PounceOnlyFlags.Add(arg);
                    break;
                case "--lifecycle-logging":
                    o.LifecycleLogging = Switch();
                    o.PounceOnlyFlags.Add(arg);
                    break;
                case "--log-level":
                    o.LogLevel = Value().ToLowerInvariant() switch
                    {
                        "trace" => Microsoft.Extensions.Logging.LogLevel.Trace,
                        "debug" => Microsoft.Extensions.Logging.LogLevel.Debug,
                        "info" or "information" => Microsoft.Extensions.Logging.LogLevel.Information,
                        "warn" or "warning" => Microsoft.Extensions.Logging.LogLevel.Warning,
                        "error" => Microsoft.Extensions.Logging.LogLevel.Error,
                        "critical" => Microsoft.Extensions.Logging.LogLevel.Critical,
                        "none" => Microsoft.Extensions.Logging.LogLevel.None,
                        var v => throw new ArgumentException($"--log-level must be trace, debug, info, warning, error, critical or none, not '{v}'"),
                    };
                    o.PounceOnlyFlags.Add(arg);
                    break;
                case "--log-format":
                    o.LogFormat = Value().ToLowerInvariant() switch
                    {
                        "text" => Pounce.LogFormat.Text,
                        "json" => Pounce.LogFormat.Json,
                        var v => throw new ArgumentException($"--log-format must be text or json, not '{v}'"),
                    };
                    o.PounceOnlyFlags.Add(arg);
                    break;
                case "--log-file":
                    o.LogFile = Value();
                    if (o.LogFile.Length == 0)
                        throw new ArgumentException("--log-file needs a path");
                    o.PounceOnlyFlags.Add(arg);
                    break;
                case "--access-log":
                    o.AccessLog = Switch();
                    o.PounceOnlyFlags.Add(arg);
                    break;
                case "--otel-endpoint":
                    o.OtelEndpoint = Value();
                    if (!Uri.TryCreate(o.OtelEndpoint, UriKind.Absolute, out _))
                        throw new ArgumentException($"--otel-endpoint needs an http:// URL, not '{o.OtelEndpoint}'");
                    o.PounceOnlyFlags.Add(arg);
                    break;
                default:
                    throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }

        if (!serverGiven && !o.ShowHelp)
            throw new ArgumentException("--server kestrel|pounce is required");
        if ((o.TlsCert is null) != (o.TlsKey is null))
            throw new ArgumentException("--tls-cert and --tls-key go together");
        return o;
    }

    private static bool IsBool(string s) => s.ToLowerInvariant() is "true" or "false" or "on" or "off" or "yes" or "no" or "1" or "0";

    private static bool ParseBool(string flag, string s) => s.ToLowerInvariant() switch
    {
        "true" or "on" or "yes" or "1" => true,
        "false" or "off" or "no" or "0" => false,
        _ => throw new ArgumentException($"{flag} must be true or false, not '{s}'"),
    };

    private static int ParseInt(string flag, string s, int min, int max)
    {
        if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            throw new ArgumentException($"{flag} must be a whole number from {min} to {max}, not '{s}'");
        return v;
    }
}
