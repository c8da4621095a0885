using System.Globalization;
using System.Net;

namespace Pounce;

/// <summary>Output format of every line Pounce writes.</summary>
public enum LogFormat
{
    /// <summary>One human-readable line per event: time, level, event, then <c>key=value</c> pairs.</summary>
    Text,
    /// <summary>One flat JSON object per line.</summary>
    Json,
}

/// <summary>
/// Every setting of a Pounce server, with its default. Call <see cref="Validate"/> (the server does at
/// start-up) to get a clear error naming the first bad setting.
/// </summary>
public sealed class ServerConfig
{
    // ---- Binding and workers ----

    /// <summary>Address to bind when no URLs are configured. Default <c>127.0.0.1</c>.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>Port to bind when no URLs are configured; 0 binds a free port. Default 8000.</summary>
    public int Port { get; set; } = 8000;

    /// <summary>Number of accept loops, each with its own listening socket (SO_REUSEPORT on Linux). Default: processor count.</summary>
    public int Workers { get; set; } = Environment.ProcessorCount;

    /// <summary>Listen backlog of each listening socket. Default 2048.</summary>
    public int Backlog { get; set; } = 2048;

    /// <summary>
    /// Linux: connections do their own socket calls. A connection receives only once one of Pounce's epoll threads
    /// reports its socket readable (one <c>recv</c> per request, where .NET's socket tries first and fails with EAGAIN
    /// on every keep-alive request), and sends with one direct non-blocking <c>send</c> (.NET's socket waits when the peer's
    /// window is full). False uses .NET's socket calls, as on other systems. Default true.
    /// </summary>
    public bool EpollSockets { get; set; } = true;

    /// <summary>
    /// With <see cref="EpollSockets"/>: a connection's receive, and what it completes (parsing, the application's code
    /// up to its first wait, the response's send), runs on the epoll thread that saw the socket readable (one per
    /// processor, at most 16) instead of being queued to the thread pool. That saves a thread hand-off and its wake-up
    /// per request. A handler that blocks cannot hold the rest up: a watchdog looks every 20 ms, moves the events
    /// waiting behind a handler that has not returned since its last look to the thread pool, and adds an epoll thread
    /// when every one is blocked so. False queues every readable connection to the thread pool (as Kestrel does).
    /// Default true.
    /// </summary>
    public bool InlineScheduling { get; set; } = true;

    /// <summary>
    /// Protocols served on endpoints that do not choose their own (Kestrel's <c>ListenOptions.Protocols</c>):
    /// <c>Http1AndHttp2</c> (the first bytes, or ALPN on TLS, decide), <c>Http1</c> or <c>Http2</c> (prior knowledge
    /// only: any other first bytes get GOAWAY PROTOCOL_ERROR). HTTP/3 is not served (a start-up error). Default
    /// <c>Http1AndHttp2</c>.
    /// </summary>
    public Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols Protocols { get; set; } = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2;

    /// <summary>
    /// Endpoints with their own URL, protocols, certificate and client-certificate mode (configuration section
    /// <c>Pounce:Endpoints:NAME</c>, else <c>Kestrel:Endpoints:NAME</c>). When any is set they are bound instead of the
    /// hosting URLs (as Kestrel does; a warning names the URLs left out). Default none.
    /// </summary>
    public IList<Hosting.PounceEndpoint> Endpoints { get; private set; } = new List<Hosting.PounceEndpoint>();

    // ---- Limits ----

    /// <summary>Concurrent connections over all workers; a connection over it gets 503 with Retry-After. Default 10000.</summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>
    /// Concurrent upgraded (WebSocket) connections over all workers: HTTP/1.1 connections after a 101 and HTTP/2
    /// extended CONNECT tunnels (RFC 8441) together. At the limit a new upgrade request is not upgradable
    /// (<c>IHttpUpgradeFeature.IsUpgradableRequest</c> or <c>IHttpExtendedConnectFeature.IsExtendedConnect</c> is
    /// false and <c>UpgradeAsync</c>/<c>AcceptAsync</c> throws), so the application answers it as an ordinary
    /// request. 0 refuses every upgrade. Default 10000.
    /// </summary>
    public int MaxConcurrentUpgradedConnections { get; set; } = 10_000;

    /// <summary>Longest request line (method, target, version) in bytes; over it: 414 (or 400 for a long method). Default 8192.</summary>
    public int MaxRequestLineSize { get; set; } = 8 * 1024;

    /// <summary>Largest request head (all header lines together) in bytes; over it: 431. Default 32768.</summary>
    public int MaxHeaderSize { get; set; } = 32 * 1024;

    /// <summary>Most header fields in one request head (and in a chunked body's trailers); over it: 431. Default 100.</summary>
    public int MaxHeaders { get; set; } = 100;

    /// <summary>Largest request body in bytes; over it: 413. 0 means unlimited. An app may change it per request
    /// through <c>IHttpMaxRequestBodySizeFeature</c> before reading. Default 30,000,000.</summary>
    public long MaxRequestBodySize { get; set; } = 30_000_000;

    /// <summary>Requests served on one connection before it is closed; 0 means unlimited. Default 0.</summary>
    public int MaxRequestsPerConnection { get; set; }

    /// <summary>Longest chunk extension accepted in a chunked request body, in bytes. Default 1024.</summary>
    public int MaxChunkExtensionSize { get; set; } = 1024;

    // ---- HTTP/2 ----

    /// <summary>
    /// Serve HTTP/2 over cleartext with prior knowledge: a connection that starts with the HTTP/2 client preface
    /// (<c>PRI * HTTP/2.0</c>...) is served as HTTP/2 on the same port as HTTP/1.1 (the <c>Upgrade: h2c</c> mechanism
    /// is separate: <see cref="Http2CleartextUpgrade"/>). When false the preface is handled as an HTTP/1.x request
    /// (and rejected), and no upgrade to HTTP/2 happens either. Default true.
    /// </summary>
    public bool Http2Enabled { get; set; } = true;

    /// <summary>
    /// Accept the HTTP/1.1 <c>Upgrade: h2c</c> mechanism (RFC 7540 3.2): a request with <c>Upgrade: h2c</c>,
    /// <c>Connection: Upgrade, HTTP2-Settings</c> and one valid <c>HTTP2-Settings</c> header, without a body, gets
    /// <c>101 Switching Protocols</c> and is answered on HTTP/2 stream 1. Off by default: behind a reverse proxy that
    /// forwards <c>Upgrade</c> headers, it lets a client turn its connection into an HTTP/2 tunnel past the proxy's
    /// per-request rules (h2c smuggling), and RFC 9113 (3.1) deprecates it. When false, <c>Upgrade: h2c</c> is
    /// ignored and the request is served as HTTP/1.1 (and <c>IHttpUpgradeFeature.IsUpgradableRequest</c> is false
    /// for it). Requires <see cref="Http2Enabled"/>. Default false.
    /// </summary>
    public bool Http2CleartextUpgrade { get; set; }

    /// <summary>
    /// Extended CONNECT (RFC 8441): advertise SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 and accept a CONNECT request with a
    /// <c>:protocol</c> pseudo-header, which the application takes over through <c>IHttpExtendedConnectFeature</c>:
    /// this is how <c>UseWebSockets()</c> serves WebSockets over HTTP/2. Such a tunnel counts against
    /// <see cref="MaxConcurrentUpgradedConnections"/>. When false the setting is not sent and a request with
    /// <c>:protocol</c> is malformed (RST_STREAM PROTOCOL_ERROR). Default true.
    /// </summary>
    public bool Http2ExtendedConnect { get; set; } = true;

    /// <summary>SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open at once on one HTTP/2 connection; a
    /// stream over it is refused (RST_STREAM REFUSED_STREAM). 1 or more. Default 100.</summary>
    public int Http2MaxConcurrentStreams { get; set; } = 100;

    /// <summary>SETTINGS_INITIAL_WINDOW_SIZE: request body bytes a client may send on one stream before the
    /// application reads them (the flow-control window we grant). 1 to 2147483647. Default 786432 (768 KiB).</summary>
    public int Http2InitialWindowSize { get; set; } = 768 * 1024;

    /// <summary>SETTINGS_MAX_FRAME_SIZE: the largest frame payload we accept. 16384 to 16777215. Default 16384.</summary>
    public int Http2MaxFrameSize { get; set; } = 16 * 1024;

    /// <summary>SETTINGS_MAX_HEADER_LIST_SIZE: largest decoded request header list (name + value + 32 per field),
    /// enforced while decoding; a block over it is an HPACK bomb and ends the connection (GOAWAY COMPRESSION_ERROR).
    /// At least 256. Default 32768.</summary>
    public int Http2MaxHeaderListSize { get; set; } = 32 * 1024;

    // ---- TLS ----

    /// <summary>
    /// The server certificate for HTTPS endpoints: a PEM file (the certificate, optionally followed by its chain and,
    /// when <see cref="SslKeyFile"/> is not set, its private key) or a PKCS#12 file (<c>.pfx</c>/<c>.p12</c>, with
    /// <see cref="SslKeyPassword"/> as its password). When set and no URLs are configured, the default endpoint
    /// (<see cref="Host"/>:<see cref="Port"/>) is HTTPS. Default unset.
    /// </summary>
    public string? SslCertFile { get; set; }

    /// <summary>The PEM private key of <see cref="SslCertFile"/> (PKCS#8, RSA or EC; encrypted with <see cref="SslKeyPassword"/>
    /// if it is). Default unset.</summary>
    public string? SslKeyFile { get; set; }

    /// <summary>Password of an encrypted PEM key or of a PKCS#12 certificate file. Default unset.</summary>
    public string? SslKeyPassword { get; set; }

    /// <summary>
    /// A certificate (with its private key) given in code, used for HTTPS endpoints instead of
    /// <see cref="SslCertFile"/>. Not a command-line setting. Default null.
    /// </summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ServerCertificate { get; set; }

    /// <summary>
    /// Whether HTTPS endpoints ask the client for a certificate (<c>NoCertificate</c>, <c>AllowCertificate</c>,
    /// <c>RequireCertificate</c>; <c>DelayCertificate</c> is not supported). The certificate is on
    /// <c>ITlsConnectionFeature.ClientCertificate</c>. Default <c>NoCertificate</c>.
    /// </summary>
    public Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode ClientCertificateMode { get; set; }

    /// <summary>
    /// Code only: decides whether a client certificate is accepted. Null: the certificate's chain must build and be
    /// valid (as with Kestrel's default). Default null.
    /// </summary>
    public Hosting.ClientCertificateValidator? ClientCertificateValidation { get; set; }

    /// <summary>
    /// Which cipher suites HTTPS endpoints accept: <see cref="Pounce.TlsCipherPolicy.Platform"/> (.NET's defaults, as
    /// Kestrel; TLS session resumption) or <see cref="Pounce.TlsCipherPolicy.AeadOnly"/> (no CBC suites on TLS 1.2, no
    /// session resumption). Default <c>Platform</c>.
    /// </summary>
    public TlsCipherPolicy TlsCipherPolicy { get; set; }

    /// <summary>Warnings found while reading configuration (settings Pounce cannot honour), logged at start-up.</summary>
    internal List<string> ConfigurationWarnings { get; private set; } = [];

    /// <summary>
    /// Time a client has to complete the TLS handshake after connecting; over it the connection is closed and logged
    /// with <c>reason: timeout</c>, <c>detail: tls_handshake_timeout</c>. Default 10 s.
    /// </summary>
    public TimeSpan TlsHandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    // ---- Timeouts ----

    /// <summary>How long an idle keep-alive connection is kept open waiting for the next request. Default 5 s.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Time allowed to receive a complete request head once its first byte arrived (slow-loris guard). Default 10 s.</summary>
    public TimeSpan HeaderTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Longest single wait for more request body bytes while the application is reading the body (<c>reason: timeout</c>,
    /// <c>detail: body_read_timeout</c>); 0 turns it off. Kestrel has no such limit: the minimum request body data rate
    /// (<see cref="MinRequestBodyDataRate"/>) replaces it, so it is off by default. When set, it applies together with the
    /// rate, and like the rate it is off for a request whose <c>IHttpMinRequestBodyDataRateFeature.MinDataRate</c> is
    /// set to null (gRPC streaming calls). Default 0 (off).
    /// </summary>
    public TimeSpan BodyReadTimeout { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Minimum average rate, in bytes per second, at which a client must send a request body while the application
    /// reads it, measured after <see cref="MinRequestBodyDataRateGracePeriod"/> (Kestrel's
    /// <c>Limits.MinRequestBodyDataRate</c>). A slower body is answered with 408 and, on HTTP/1.1, the connection is
    /// closed with <c>reason: timeout</c>, <c>detail: min_request_body_data_rate</c>. A request may change or turn it off
    /// (null) through <c>IHttpMinRequestBodyDataRateFeature</c>, as Grpc.AspNetCore does for streaming calls. 0 turns the
    /// check off server-wide. Default 240.
    /// </summary>
    public double MinRequestBodyDataRate { get; set; } = 240;

    /// <summary>Time a request body is given before <see cref="MinRequestBodyDataRate"/> is enforced; more than 1 s (as Kestrel). Default 5 s.</summary>
    public TimeSpan MinRequestBodyDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Minimum rate, in bytes per second, at which a client must accept response bytes (Kestrel's
    /// <c>Limits.MinResponseDataRate</c>): a pending send of N bytes may take the longer of
    /// <see cref="MinResponseDataRateGracePeriod"/> and N divided by this rate; past that the connection is aborted with
    /// <c>reason: timeout</c>, <c>detail: min_response_data_rate</c>. An HTTP/1.1 request may change or turn it off
    /// (null) through <c>IHttpMinResponseDataRateFeature</c>; on HTTP/2 it is connection-wide (as in Kestrel, which does
    /// not offer the feature there). 0 turns it off; <see cref="ResponseWriteTimeout"/> still bounds any single send.
    /// Default 240.
    /// </summary>
    public double MinResponseDataRate { get; set; } = 240;

    /// <summary>Time a pending send is given before <see cref="MinResponseDataRate"/> is enforced; more than 1 s (as Kestrel). Default 5 s.</summary>
    public TimeSpan MinResponseDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest time a response write may wait for the client to accept data. Default 30 s.</summary>
    public TimeSpan ResponseWriteTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>On stop, how long in-flight requests may run before their connections are aborted. Default 10 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    // ---- Response headers ----

    /// <summary>Value of the <c>Server</c> response header; empty means no header. Default <c>pounce</c>.</summary>
    public string ServerHeader { get; set; } = "pounce";

    /// <summary>Whether responses carry a <c>Date</c> header. Default true.</summary>
    public bool DateHeader { get; set; } = true;

    // ---- Logging ----

    /// <summary>Turns the connection lifecycle events on. Default false.</summary>
    public bool LifecycleLogging { get; set; }

    /// <summary>Format of every line Pounce writes. Default <see cref="Pounce.LogFormat.Text"/>.</summary>
    public LogFormat LogFormat { get; set; } = LogFormat.Text;

    /// <summary>Lowest level written; events below it are never built. Default <see cref="Microsoft.Extensions.Logging.LogLevel.Information"/>.</summary>
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; set; } = Microsoft.Extensions.Logging.LogLevel.Information;

    /// <summary>A response taking at least this many seconds is flagged <c>slow</c> and logged at info. Must be &gt; 0. Default 5.</summary>
    public double LogSlowRequestsThreshold { get; set; } = 5.0;

    /// <summary>Requests to exactly this path emit no lifecycle events. Default none.</summary>
    public string? HealthCheckPath { get; set; }

    /// <summary>One access-log line per request at info (category <c>Pounce.Access</c>). Default true.</summary>
    public bool AccessLog { get; set; } = true;

    /// <summary>Write log lines to this file instead of standard output. Default none (stdout).</summary>
    public string? LogFile { get; set; }

    /// <summary>
    /// With <see cref="LogFile"/>: rotate the file once it would grow past this many bytes (<c>app.log</c> becomes
    /// <c>app.log.1</c>, the previous <c>.1</c> becomes <c>.2</c>, ...), always between two lines. 0 = never by size
    /// (rotate with logrotate and <c>SIGHUP</c>, which reopens the file). 0 or at least 4096. Default 0.
    /// </summary>
    public long LogFileMaxSize { get; set; }

    /// <summary>Rotated files kept by size rotation (<see cref="LogFileMaxSize"/>): <c>app.log.1</c> to <c>app.log.N</c>; older ones are deleted. 1 to 1000. Default 5.</summary>
    public int LogFileMaxFiles { get; set; } = 5;

    /// <summary>Lines the asynchronous log writer queues; when full, further lines are dropped, counted, and the count is reported in a <c>LogLinesDropped</c> line. Default 65536.</summary>
    public int LogBufferLines { get; set; } = 65_536;

    // ---- OpenTelemetry ----

    /// <summary>
    /// Base URL of an OpenTelemetry collector's OTLP/HTTP receiver, e.g. <c>http://localhost:4318</c>. When set, the
    /// OpenTelemetry .NET SDK is wired into the application: ASP.NET Core's request activity becomes the request span
    /// (W3C <c>traceparent</c> honoured), the <c>Pounce</c> and ASP.NET Core meters are exported, both with OTLP
    /// HTTP/protobuf to <c>/v1/traces</c> and <c>/v1/metrics</c> under this URL. When unset no OpenTelemetry code runs.
    /// Default unset.
    /// </summary>
    public string? OtelEndpoint { get; set; }

    /// <summary>The <c>service.name</c> resource attribute of exported telemetry (with <see cref="OtelEndpoint"/>). Default <c>pounce</c>.</summary>
    public string OtelServiceName { get; set; } = "pounce";

    /// <summary>
    /// Checks every setting and throws <see cref="InvalidOperationException"/> whose message names the first bad
    /// setting, its value and what is allowed.
    /// </summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host))
            throw Bad(nameof(Host), Host, "a host name or IP address");
        if (Port is < 0 or > 65535)
            throw Bad(nameof(Port), Port, "0 to 65535 (0 binds a free port)");
        if (Workers is < 1 or > 1024)
            throw Bad(nameof(Workers), Workers, "1 to 1024");
        if (Backlog < 1)
            throw Bad(nameof(Backlog), Backlog, "at least 1");
        if (MaxConnections < 1)
            throw Bad(nameof(MaxConnections), MaxConnections, "at least 1");
        if (MaxConcurrentUpgradedConnections < 0)
            throw Bad(nameof(MaxConcurrentUpgradedConnections), MaxConcurrentUpgradedConnections, "0 (no upgrades) or a positive count");
        if (MaxRequestLineSize < 64)
            throw Bad(nameof(MaxRequestLineSize), MaxRequestLineSize, "at least 64 bytes");
        if (MaxHeaderSize < 256)
            throw Bad(nameof(MaxHeaderSize), MaxHeaderSize, "at least 256 bytes");
        if (MaxHeaders < 1)
            throw Bad(nameof(MaxHeaders), MaxHeaders, "at least 1");
        if (MaxRequestBodySize < 0)
            throw Bad(nameof(MaxRequestBodySize), MaxRequestBodySize, "0 (unlimited) or a positive number of bytes");
        if (MaxRequestsPerConnection < 0)
            throw Bad(nameof(MaxRequestsPerConnection), MaxRequestsPerConnection, "0 (unlimited) or a positive count");
        if (MaxChunkExtensionSize < 0)
            throw Bad(nameof(MaxChunkExtensionSize), MaxChunkExtensionSize, "0 or more bytes");
        if (Http2MaxConcurrentStreams < 1)
            throw Bad(nameof(Http2MaxConcurrentStreams), Http2MaxConcurrentStreams, "at least 1");
        if (Http2InitialWindowSize < 1)
            throw Bad(nameof(Http2InitialWindowSize), Http2InitialWindowSize, "1 to 2147483647 bytes");
        if (Http2MaxFrameSize is < 16_384 or > 16_777_215)
            throw Bad(nameof(Http2MaxFrameSize), Http2MaxFrameSize, "16384 to 16777215 bytes");
        if (Http2MaxHeaderListSize < 256)
            throw Bad(nameof(Http2MaxHeaderListSize), Http2MaxHeaderListSize, "at least 256 bytes");
        CheckTimeout(nameof(KeepAliveTimeout), KeepAliveTimeout);
        CheckTimeout(nameof(HeaderTimeout), HeaderTimeout);
        if (BodyReadTimeout != TimeSpan.Zero)
            CheckTimeout(nameof(BodyReadTimeout), BodyReadTimeout);
        CheckRate(nameof(MinRequestBodyDataRate), MinRequestBodyDataRate, nameof(MinRequestBodyDataRateGracePeriod), MinRequestBodyDataRateGracePeriod);
        CheckRate(nameof(MinResponseDataRate), MinResponseDataRate, nameof(MinResponseDataRateGracePeriod), MinResponseDataRateGracePeriod);
        CheckTimeout(nameof(ResponseWriteTimeout), ResponseWriteTimeout);
        CheckTimeout(nameof(TlsHandshakeTimeout), TlsHandshakeTimeout);
        if (SslCertFile is not null && SslCertFile.Length == 0)
            throw Bad(nameof(SslCertFile), SslCertFile, "a PEM or PKCS#12 (.pfx/.p12) file path, or unset");
        if (SslKeyFile is not null && (SslKeyFile.Length == 0 || SslCertFile is null))
            throw Bad(nameof(SslKeyFile), SslKeyFile, "a PEM private key file path, given together with SslCertFile");
        if (Protocols is not (Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1 or Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2 or Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2))
            throw Bad(nameof(Protocols), Protocols, "Http1, Http2 or Http1AndHttp2 (Pounce does not serve HTTP/3)");
        if (ClientCertificateMode is not (Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.NoCertificate or Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.AllowCertificate or Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate))
            throw Bad(nameof(ClientCertificateMode), ClientCertificateMode, "NoCertificate, AllowCertificate or RequireCertificate (DelayCertificate is not supported)");
        if (ShutdownTimeout < TimeSpan.Zero)
            throw Bad(nameof(ShutdownTimeout), ShutdownTimeout.TotalSeconds, "0 seconds or more");
        if (ServerHeader is null || ContainsControl(ServerHeader))
            throw Bad(nameof(ServerHeader), ServerHeader, "printable ASCII text, or empty for no header");
        if (!Enum.IsDefined(TlsCipherPolicy))
            throw Bad(nameof(TlsCipherPolicy), TlsCipherPolicy, "Platform or AeadOnly");
        if (!Enum.IsDefined(LogFormat))
            throw Bad(nameof(LogFormat), LogFormat, "text or json");
        if (LogLevel is < Microsoft.Extensions.Logging.LogLevel.Trace or > Microsoft.Extensions.Logging.LogLevel.None)
            throw Bad(nameof(LogLevel), LogLevel, "debug, info, warning, error or critical");
        if (double.IsNaN(LogSlowRequestsThreshold) || double.IsInfinity(LogSlowRequestsThreshold) || LogSlowRequestsThreshold <= 0)
            throw Bad(nameof(LogSlowRequestsThreshold), LogSlowRequestsThreshold, "a number of seconds greater than 0");
        if (HealthCheckPath is not null && (HealthCheckPath.Length == 0 || HealthCheckPath[0] != '/' || ContainsControl(HealthCheckPath)))
            throw Bad(nameof(HealthCheckPath), HealthCheckPath, "a path starting with '/'");
        if (LogFile is not null && LogFile.Length == 0)
            throw Bad(nameof(LogFile), LogFile, "a file path, or unset for standard output");
        if (LogFileMaxSize != 0 && (LogFileMaxSize < 4096 || LogFile is null))
            throw Bad(nameof(LogFileMaxSize), LogFileMaxSize, "0 (no size rotation) or at least 4096 bytes, given together with LogFile");
        if (LogFileMaxFiles is < 1 or > 1000)
            throw Bad(nameof(LogFileMaxFiles), LogFileMaxFiles, "1 to 1000");
        if (LogBufferLines < 16)
            throw Bad(nameof(LogBufferLines), LogBufferLines, "at least 16");
        if (OtelEndpoint is not null && !TryParseOtelEndpoint(OtelEndpoint, out _))
            throw Bad(nameof(OtelEndpoint), OtelEndpoint, "an http:// or https:// URL of an OTLP/HTTP receiver (e.g. http://localhost:4318), or unset");
        if (string.IsNullOrWhiteSpace(OtelServiceName) || ContainsControl(OtelServiceName))
            throw Bad(nameof(OtelServiceName), OtelServiceName, "a non-empty printable name");
    }

    /// <summary>A shallow copy, so a running server's settings cannot be changed under it.</summary>
    public ServerConfig Clone()
    {
        var copy = (ServerConfig)MemberwiseClone();
        copy._requestBodyRate = null;
        copy._responseRate = null;
        copy.Endpoints = new List<Hosting.PounceEndpoint>(Endpoints);
        copy.ConfigurationWarnings = [.. ConfigurationWarnings];
        return copy;
    }

    internal static bool ContainsControl(string s)
    {
        foreach (var c in s)
        {
            if (c < 0x20 || c >= 0x7f)
                return true;
        }
        return false;
    }

    /// <summary>
    /// Parses an <see cref="OtelEndpoint"/> value: an absolute http or https URL without query or fragment. The result
    /// ends with a slash, so that the signal paths (<c>v1/traces</c>, <c>v1/metrics</c>) resolve under it.
    /// </summary>
    internal static bool TryParseOtelEndpoint(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Uri? baseUri)
    {
        baseUri = null;
        if (string.IsNullOrWhiteSpace(text) || !Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri))
            return false;
        if (uri.Scheme is not ("http" or "https") || uri.Query.Length > 0 || uri.Fragment.Length > 0 || string.IsNullOrEmpty(uri.Host))
            return false;
        baseUri = uri.AbsolutePath.EndsWith('/') ? uri : new Uri(uri.GetLeftPart(UriPartial.Path) + "/");
        return true;
    }

    private static void CheckRate(string name, double bytesPerSecond, string graceName, TimeSpan grace)
    {
        if (double.IsNaN(bytesPerSecond) || double.IsInfinity(bytesPerSecond) || bytesPerSecond < 0)
            throw Bad(name, bytesPerSecond, "0 (off) or a positive number of bytes per second");
        if (grace <= TimeSpan.FromSeconds(1) || grace > TimeSpan.FromDays(1))
            throw Bad(graceName, grace.TotalSeconds, "more than 1 and at most 86400 seconds (Kestrel's MinDataRate needs more than 1 s)");
    }

    /// <summary>The server-wide <see cref="MinRequestBodyDataRate"/> as Kestrel's type, or null when off.</summary>
    internal Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate? RequestBodyRate
        => MinRequestBodyDataRate > 0 ? _requestBodyRate ??= new(MinRequestBodyDataRate, MinRequestBodyDataRateGracePeriod) : null;

    /// <summary>The server-wide <see cref="MinResponseDataRate"/> as Kestrel's type, or null when off.</summary>
    internal Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate? ResponseRate
        => MinResponseDataRate > 0 ? _responseRate ??= new(MinResponseDataRate, MinResponseDataRateGracePeriod) : null;

    private Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate? _requestBodyRate;
    private Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate? _responseRate;

    private static void CheckTimeout(string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
            throw Bad(name, value.TotalSeconds, "more than 0 and at most 86400 seconds");
    }

    private static InvalidOperationException Bad(string setting, object? value, string allowed)
    {
        var shown = value switch
        {
            null => "(null)",
            string s => "'" + s + "'",
            double d => d.ToString(CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString(),
        };
        return new InvalidOperationException($"Invalid Pounce setting {setting} = {shown}: expected {allowed}.");
    }

    internal IPAddress[] ResolveHost()
    {
        if (Host == "localhost")
            return [IPAddress.Loopback];
        if (Host is "*" or "0.0.0.0")
            return [IPAddress.Any];
        if (Host is "::" or "[::]")
            return [IPAddress.IPv6Any];
        if (IPAddress.TryParse(Host.Trim('[', ']'), out var ip))
            return [ip];
        return Dns.GetHostAddresses(Host);
    }
}
