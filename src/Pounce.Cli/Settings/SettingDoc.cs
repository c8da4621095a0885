namespace Pounce.Cli.Settings;

/// <summary>How a setting is presented in <c>--help</c>: its group, value name and one-line description.</summary>
internal sealed record SettingDoc(string Group, string? ValueName, string Description)
{
    /// <summary>The flag's name without <c>--</c> when it is not the property's kebab-case name (uvicorn's <c>ssl-certfile</c>).</summary>
    public string? FlagName { get; init; }

    /// <summary>What a value must look like, when the type alone does not say it well.</summary>
    public string? Expected { get; init; }

    /// <summary>Smallest integer accepted when parsing (the rest of the rules are <see cref="ServerConfig.Validate"/>'s).</summary>
    public int? Min { get; init; }

    /// <summary>Largest integer accepted when parsing.</summary>
    public int? Max { get; init; }

    public const string Binding = "Binding and workers";
    public const string Limits = "Limits";
    public const string Timeouts = "Timeouts (seconds, decimals allowed)";
    public const string Headers = "Response headers";
    public const string Http2 = "HTTP/2";
    public const string Tls = "TLS (HTTPS)";
    public const string Logging = "Logging";
    public const string Telemetry = "OpenTelemetry";
    public const string Other = "Other settings";

    /// <summary>Groups in the order <c>--help</c> shows them.</summary>
    public static readonly string[] GroupOrder = [Binding, Tls, Limits, Http2, Timeouts, Headers, Logging, Telemetry, Other];

    private static readonly Dictionary<string, SettingDoc> Docs = new(StringComparer.Ordinal)
    {
        ["Urls"] = new(Binding, "URLS", "URLs to bind, separated by ';' (e.g. http://0.0.0.0:8080); when set, --host and --port are not used")
        {
            Expected = "URLs like http://127.0.0.1:8000, separated by ';'",
        },
        ["Host"] = new(Binding, "HOST", "address to bind when no --urls are given (given with --port, it wins over the app's own urls setting)") { Expected = "a host name or IP address" },
        ["Port"] = new(Binding, "PORT", "port to bind when no --urls are given; 0 picks a free port") { Expected = "an integer 0-65535", Min = 0, Max = 65535 },
        ["Workers"] = new(Binding, "N", "accept loops, each with its own listening socket") { Expected = "an integer 1-1024", Min = 1, Max = 1024 },
        ["Backlog"] = new(Binding, "N", "listen backlog of each listening socket"),
        ["EpollSockets"] = new(Binding, null, "Linux: receive only when epoll reports a socket readable (one recv per request) and send with a direct non-blocking call; false uses .NET's socket calls"),
        ["InlineScheduling"] = new(Binding, null, "Linux, with --epoll-sockets: run a readable connection's receive, parsing and the application's synchronous part on the epoll thread (a watchdog moves work held up by a blocking handler to the thread pool); false queues every connection to the thread pool"),
        ["Protocols"] = new(Binding, "PROTOCOLS", "protocols served on each endpoint: http1, http2 (prior knowledge only) or http1andhttp2")
        {
            Expected = "Http1, Http2 or Http1AndHttp2",
        },

        ["SslCertFile"] = new(Tls, "FILE", "server certificate, PEM (chain and key may follow) or .pfx/.p12; with no --urls the default endpoint becomes https") { FlagName = "ssl-certfile" },
        ["SslKeyFile"] = new(Tls, "FILE", "PEM private key of --ssl-certfile") { FlagName = "ssl-keyfile" },
        ["SslKeyPassword"] = new(Tls, "PASSWORD", "password of an encrypted PEM key or of a .pfx/.p12 file"),
        ["ClientCertificateMode"] = new(Tls, "MODE", "ask HTTPS clients for a certificate: nocertificate, allowcertificate or requirecertificate (it must then be valid)")
        {
            Expected = "NoCertificate, AllowCertificate or RequireCertificate",
        },
        ["TlsCipherPolicy"] = new(Tls, "POLICY", "cipher suites of HTTPS endpoints: platform (.NET's defaults, as Kestrel; TLS session resumption) or aeadonly (no CBC suites on TLS 1.2; no session resumption, ~6 KB more per connection)")
        {
            Expected = "Platform or AeadOnly",
        },
        ["TlsHandshakeTimeout"] = new(Timeouts, "SECONDS", "time a client has to finish the TLS handshake"),

        ["MaxConnections"] = new(Limits, "N", "concurrent connections; over it a client gets 503 + Retry-After"),
        ["MaxConcurrentUpgradedConnections"] = new(Limits, "N", "concurrent WebSockets (upgraded HTTP/1.1 connections and HTTP/2 tunnels); over it an upgrade request is answered by the app as a plain request, 0 = no upgrades"),
        ["MaxRequestLineSize"] = new(Limits, "BYTES", "longest request line (over it: 414)"),
        ["MaxHeaderSize"] = new(Limits, "BYTES", "largest request head, all header lines together (over it: 431)"),
        ["MaxHeaders"] = new(Limits, "N", "most header fields in one request (over it: 431)"),
        ["MaxRequestBodySize"] = new(Limits, "BYTES", "largest request body, 0 = unlimited (over it: 413)"),
        ["MaxRequestsPerConnection"] = new(Limits, "N", "requests served on one connection before it closes, 0 = unlimited"),
        ["MaxChunkExtensionSize"] = new(Limits, "BYTES", "longest chunk extension in a chunked request body"),

        ["Http2Enabled"] = new(Http2, null, "serve HTTP/2 with prior knowledge (h2c) on the same port as HTTP/1.1"),
        ["Http2CleartextUpgrade"] = new(Http2, null, "accept Upgrade: h2c from HTTP/1.1 (off: behind a proxy that forwards Upgrade it allows h2c smuggling; deprecated by RFC 9113)"),
        ["Http2ExtendedConnect"] = new(Http2, null, "RFC 8441 extended CONNECT: WebSockets over HTTP/2 (SETTINGS_ENABLE_CONNECT_PROTOCOL)"),
        ["Http2MaxConcurrentStreams"] = new(Http2, "N", "streams a client may have open at once on one connection (over it: REFUSED_STREAM)"),
        ["Http2InitialWindowSize"] = new(Http2, "BYTES", "request body bytes a client may send on a stream before the app reads them"),
        ["Http2MaxFrameSize"] = new(Http2, "BYTES", "largest frame payload accepted (16384-16777215)"),
        ["Http2MaxHeaderListSize"] = new(Http2, "BYTES", "largest decoded request header list; over it the connection ends (HPACK bomb)"),

        ["KeepAliveTimeout"] = new(Timeouts, "SECONDS", "how long an idle keep-alive connection is kept open"),
        ["HeaderTimeout"] = new(Timeouts, "SECONDS", "time to receive a whole request head once it started (slow-loris guard)"),
        ["BodyReadTimeout"] = new(Timeouts, "SECONDS", "longest single wait for more request body bytes while the app reads; 0 = off (the data rate below replaces it)"),
        ["MinRequestBodyDataRate"] = new(Timeouts, "BYTES_PER_SECOND", "minimum request body rate once the grace period is over (Kestrel's); 0 = off"),
        ["MinRequestBodyDataRateGracePeriod"] = new(Timeouts, "SECONDS", "time before the request body rate is enforced (more than 1)"),
        ["MinResponseDataRate"] = new(Timeouts, "BYTES_PER_SECOND", "minimum rate at which the client must accept response bytes (Kestrel's); 0 = off"),
        ["MinResponseDataRateGracePeriod"] = new(Timeouts, "SECONDS", "time a pending send is given before the response rate is enforced (more than 1)"),
        ["ResponseWriteTimeout"] = new(Timeouts, "SECONDS", "longest wait for the client to accept response data"),
        ["ShutdownTimeout"] = new(Timeouts, "SECONDS", "on stop, how long in-flight requests may finish before being aborted"),

        ["ServerHeader"] = new(Headers, "TEXT", "value of the Server response header; \"\" for none"),
        ["DateHeader"] = new(Headers, null, "send a Date response header"),

        ["LifecycleLogging"] = new(Logging, null, "log one event per connection/request lifecycle step"),
        ["LogFormat"] = new(Logging, "text|json", "format of every line written: lifecycle, access log, start-up, errors, the app's logs"),
        ["LogLevel"] = new(Logging, "LEVEL", "lowest level written: debug, info, warning, error or critical"),
        ["LogSlowRequestsThreshold"] = new(Logging, "SECONDS", "a response taking at least this long is flagged slow and logged at info") { Expected = "a number of seconds greater than 0" },
        ["HealthCheckPath"] = new(Logging, "PATH", "requests to exactly this path emit no lifecycle events (e.g. /health)"),
        ["AccessLog"] = new(Logging, null, "write one access-log line per request"),
        ["LogFile"] = new(Logging, "FILE", "write log lines to FILE instead of standard output; reopened on SIGHUP (logrotate's postrotate)"),
        ["LogFileMaxSize"] = new(Logging, "BYTES", "rotate --log-file when it would grow past BYTES (FILE.1, FILE.2, ...), 0 = never by size") { Expected = "0 or a number of bytes of at least 4096" },
        ["LogFileMaxFiles"] = new(Logging, "N", "rotated files kept by --log-file-max-size") { Expected = "an integer 1-1000", Min = 1, Max = 1000 },
        ["LogBufferLines"] = new(Logging, "N", "lines the asynchronous log writer buffers before it applies backpressure"),

        ["OtelEndpoint"] = new(Telemetry, "URL", "export traces and metrics with OTLP HTTP/protobuf to this receiver (e.g. http://localhost:4318); unset = no OpenTelemetry")
        {
            Expected = "an http:// or https:// URL such as http://localhost:4318",
        },
        ["OtelServiceName"] = new(Telemetry, "NAME", "service.name of the exported traces and metrics"),
    };

    /// <summary>The documentation of a setting; one that was added to <see cref="ServerConfig"/> later still gets a flag, in "Other settings".</summary>
    public static SettingDoc For(string name)
        => Docs.TryGetValue(name, out var doc) ? doc : new SettingDoc(Other, "VALUE", $"ServerConfig.{name}");
}
