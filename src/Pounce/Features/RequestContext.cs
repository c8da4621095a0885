using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Pounce.Connections;
using ConnectionInfo = Pounce.Connections.ConnectionInfo;

namespace Pounce.Features;

/// <summary>
/// The ASP.NET Core features of one request, shared by the protocol layers: a protocol derives from it, parses
/// the request into it, and implements reading the body and writing the response. One instance serves every
/// request of an HTTP/1.1 connection, reset between requests, so a request allocates little.
/// </summary>
public abstract partial class RequestContext :
    IFeatureCollection,
    IHttpRequestFeature,
    IHttpResponseFeature,
    IHttpResponseBodyFeature,
    IHttpConnectionFeature,
    IHttpRequestIdentifierFeature,
    IHttpRequestLifetimeFeature,
    IHttpMaxRequestBodySizeFeature,
    IHttpRequestBodyDetectionFeature,
    IHttpBodyControlFeature,
    IHttpResponseTrailersFeature,
    IHttpRequestTrailersFeature,
    IRequestBodyPipeFeature,
    IEndpointFeature,
    IRouteValuesFeature
{
    private readonly HeaderDictionary _requestHeaders = new();
    private RequestHeaderView? _requestHeaderView;
    // The names the protocol added to the request headers since the reset, summarized as the view does, and how many names
    // the dictionary held when it noted the last one: the view takes this summary rather than building it each request.
    private ulong _notedHeaderNames;
    private int _notedHeaderCount;
    private readonly HeaderDictionary _responseHeaders = new();
    private readonly HeaderDictionary _responseTrailers = new();
    private HeaderDictionary? _requestTrailers;
    private string? _traceIdentifier;
    private string? _connectionIdText;
    private Stream? _requestBody;
    private RequestBodyStream? _requestBodyStream;
    private PipeReader? _requestBodyPipe;
    private Stream? _responseBody;
    private ResponseBodyStream? _responseBodyStream;
    private ResponseBodyPipeWriter? _responseBodyWriter;
    private CancellationTokenSource? _abortedCts; // made when the application first asks for RequestAborted, then reused
    private CancellationToken? _requestAbortedOverride;
    private readonly Lock _abortLock = new();
    private bool _aborted;
    private Stack<KeyValuePair<Func<object, Task>, object>>? _onStarting;
    private Stack<KeyValuePair<Func<object, Task>, object>>? _onCompleted;
    private long? _maxRequestBodySize;

    /// <summary>Creates the features for requests on <paramref name="connection"/>.</summary>
    protected RequestContext(ConnectionInfo connection)
    {
        Connection = connection;
        RequestInfo = new RequestInfo();
    }

    /// <summary>The connection carrying the request.</summary>
    public ConnectionInfo Connection { get; }

    /// <summary>The lifecycle facts of the current request.</summary>
    public RequestInfo RequestInfo { get; }

    /// <summary>The server-wide default body size limit (0 = unlimited).</summary>
    protected abstract long DefaultMaxRequestBodySize { get; }

    /// <summary>Prepares for a new request: clears every feature and header collection.</summary>
    protected void ResetFeatures(int sequence, int streamId)
    {
        Array.Clear(_slots);
        _extra?.Clear();
        ResetRouting();
        _revision++;
        _requestHeaders.Clear();
        _requestHeaderView?.Reset();
        _notedHeaderNames = 0;
        _notedHeaderCount = 0;
        _responseHeaders.IsReadOnly = false;
        _responseHeaders.Clear();
        _responseTrailers.IsReadOnly = false;
        _responseTrailers.Clear();
        _requestTrailers?.Clear();
        RequestTrailersAvailable = false;
        _traceIdentifier = null;
        _requestAbortedOverride = null;
        _remoteIp = _localIp = default;
        _remotePort = _localPort = null;
        _requestBody = null;
        _requestBodyPipe = null;
        _responseBody = null;
        _onStarting?.Clear();
        _onCompleted?.Clear();
        _maxRequestBodySize = DefaultMaxRequestBodySize > 0 ? DefaultMaxRequestBodySize : null;
        MaxRequestBodySizeLocked = false;

        Protocol = "HTTP/1.1";
        Scheme = Connection.Tls ? "https" : "http";
        Method = "GET";
        PathBase = "";
        Path = "";
        QueryString = "";
        RawTarget = "";
        AllowSynchronousIO = false;
        CanHaveBody = false;
        ResetResponseBody();

        // Most requests never ask for RequestAborted nor get aborted: nothing to reset, no lock taken. (An abort signalled
        // after this look belongs to the next request either way, as it would after a reset under the lock.)
        if (_abortedCts is not null || Volatile.Read(ref _aborted))
        {
            lock (_abortLock)
            {
                if (_abortedCts is { } cts && !cts.TryReset())
                {
                    cts.Dispose();
                    _abortedCts = null;
                }
                _aborted = false;
            }
        }
        RequestInfo.Reset(Connection.ConnectionId, sequence, streamId);
        ResetDataRates();
    }

    // ---------------- IHttpRequestFeature ----------------

    /// <inheritdoc />
    public string Protocol { get; set; } = "HTTP/1.1";

    /// <inheritdoc />
    public string Scheme { get; set; } = "http";

    /// <inheritdoc />
    public string Method { get; set; } = "GET";

    /// <inheritdoc />
    public string PathBase { get; set; } = "";

    /// <inheritdoc />
    public string Path { get; set; } = "";

    /// <inheritdoc />
    public string QueryString { get; set; } = "";

    /// <inheritdoc />
    public string RawTarget { get; set; } = "";

    IHeaderDictionary IHttpRequestFeature.Headers
    {
        get => _requestHeaderView ??= NewRequestHeaderView();
        set => throw new NotSupportedException("Pounce does not support replacing the request header collection.");
    }

    private RequestHeaderView NewRequestHeaderView()
    {
        var view = new RequestHeaderView(_requestHeaders);
        view.Seed(_notedHeaderNames, _notedHeaderCount);
        return view;
    }

    /// <summary>The request headers, filled by the protocol.</summary>
    protected HeaderDictionary RequestHeaders => _requestHeaders;

    /// <summary>
    /// The protocol added (or appended to) the request header <paramref name="name"/> while parsing the head: the
    /// application's view of the headers then knows the names present without a pass over them.
    /// </summary>
    protected void NoteRequestHeader(string name)
    {
        _notedHeaderNames |= RequestHeaderView.Bit(name);
        _notedHeaderCount = _requestHeaders.Count;
    }

    Stream IHttpRequestFeature.Body
    {
        get => _requestBody ??= (_requestBodyStream ??= new RequestBodyStream(this));
        set => _requestBody = value;
    }

    // ---------------- IHttpRequestBodyDetectionFeature / IRequestBodyPipeFeature ----------------

    /// <inheritdoc />
    public bool CanHaveBody { get; protected set; }

    PipeReader IRequestBodyPipeFeature.Reader
    {
        get
        {
            var body = ((IHttpRequestFeature)this).Body;
            return _requestBodyPipe ??= PipeReader.Create(body, new StreamPipeReaderOptions(leaveOpen: true));
        }
    }

    // ---------------- IHttpMaxRequestBodySizeFeature ----------------

    /// <summary>Set once the body has started to be read.</summary>
    protected bool MaxRequestBodySizeLocked { get; set; }

    bool IHttpMaxRequestBodySizeFeature.IsReadOnly => MaxRequestBodySizeLocked;

    /// <summary>The body size limit of the current request, null for unlimited.</summary>
    public long? MaxRequestBodySize
    {
        get => _maxRequestBodySize;
        set
        {
            if (MaxRequestBodySizeLocked)
                throw new InvalidOperationException("The maximum request body size cannot be changed after the request body has started to be read.");
            if (value < 0)
                throw new ArgumentOutOfRangeException(nameof(value), "The maximum request body size must not be negative.");
            _maxRequestBodySize = value;
        }
    }

    // ---------------- IHttpRequestTrailersFeature ----------------

    /// <summary>Whether the request trailers have been received.</summary>
    protected bool RequestTrailersAvailable { get; set; }

    bool IHttpRequestTrailersFeature.Available => RequestTrailersAvailable;

    IHeaderDictionary IHttpRequestTrailersFeature.Trailers
    {
        get
        {
            if (!RequestTrailersAvailable)
                throw new InvalidOperationException("The request trailers are not available yet: read the request body to its end first.");
            return RequestTrailerHeaders;
        }
    }

    /// <summary>The request trailer collection, filled by the protocol.</summary>
    protected HeaderDictionary RequestTrailerHeaders => _requestTrailers ??= new HeaderDictionary();

    // ---------------- IHttpBodyControlFeature ----------------

    /// <inheritdoc />
    public bool AllowSynchronousIO { get; set; }

    // ---------------- IHttpConnectionFeature ----------------

    string IHttpConnectionFeature.ConnectionId
    {
        get => _connectionIdText ??= Connection.ConnectionId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        set => _connectionIdText = value;
    }

    // Middleware (e.g. forwarded headers) may override the addresses for the current request.
    private (bool Set, IPAddress? Value) _remoteIp, _localIp;
    private int? _remotePort, _localPort;

    IPAddress? IHttpConnectionFeature.RemoteIpAddress
    {
        get => _remoteIp.Set ? _remoteIp.Value : Connection.RemoteEndPoint?.Address;
        set => _remoteIp = (true, value);
    }

    IPAddress? IHttpConnectionFeature.LocalIpAddress
    {
        get => _localIp.Set ? _localIp.Value : Connection.LocalEndPoint?.Address;
        set => _localIp = (true, value);
    }

    int IHttpConnectionFeature.RemotePort
    {
        get => _remotePort ?? Connection.RemoteEndPoint?.Port ?? 0;
        set => _remotePort = value;
    }

    int IHttpConnectionFeature.LocalPort
    {
        get => _localPort ?? Connection.LocalEndPoint?.Port ?? 0;
        set => _localPort = value;
    }

    // ---------------- IHttpRequestIdentifierFeature ----------------

    string IHttpRequestIdentifierFeature.TraceIdentifier
    {
        get => _traceIdentifier ??= RequestInfo.RequestId;
        set => _traceIdentifier = value;
    }

    // ---------------- IHttpRequestLifetimeFeature ----------------

    CancellationToken IHttpRequestLifetimeFeature.RequestAborted
    {
        get => _requestAbortedOverride ?? AbortedToken();
        // Middleware may substitute a linked token (e.g. request timeouts); the server still signals its own source.
        set => _requestAbortedOverride = value;
    }

    void IHttpRequestLifetimeFeature.Abort()
    {
        AbortByApplication();
    }

    private CancellationToken AbortedToken()
    {
        if (Volatile.Read(ref _abortedCts) is { } made)
            return made.Token;
        lock (_abortLock)
        {
            if (_abortedCts is null)
            {
                if (_aborted)
                    return new CancellationToken(canceled: true); // aborted before anyone asked
                _abortedCts = new CancellationTokenSource();
            }
            return _abortedCts.Token;
        }
    }

    /// <summary>Whether the current request was aborted (by the client going away, the app, or the server).</summary>
    protected bool RequestAborted => Volatile.Read(ref _aborted);

    /// <summary>Fires <c>RequestAborted</c> for the current request, once.</summary>
    protected void SignalRequestAborted()
    {
        CancellationTokenSource? cts;
        lock (_abortLock)
        {
            if (_aborted)
                return;
            _aborted = true;
            cts = _abortedCts;
        }
        if (cts is null)
            return; // nobody holds the token yet: whoever asks later gets a cancelled one
        try
        {
            cts.Cancel();
        }
        catch (Exception)
        {
            // A callback registered by the application threw; the abort still happened.
        }
    }

    /// <summary>The application called <c>HttpContext.Abort()</c>.</summary>
    protected abstract void AbortByApplication();

    // ---------------- IHttpResponseFeature ----------------

    /// <inheritdoc />
    public int StatusCode
    {
        get => _statusCode;
        set
        {
            if (HasStarted)
                throw new InvalidOperationException("StatusCode cannot be set because the response has already started.");
            if (value is < 100 or > 999)
                throw new ArgumentOutOfRangeException(nameof(value), value, "A status code must be three digits.");
            _statusCode = value;
        }
    }

    private int _statusCode = 200;

    /// <inheritdoc />
    public string? ReasonPhrase
    {
        get => _reasonPhrase;
        set
        {
            if (HasStarted)
                throw new InvalidOperationException("ReasonPhrase cannot be set because the response has already started.");
            _reasonPhrase = value;
        }
    }

    private string? _reasonPhrase;

    IHeaderDictionary IHttpResponseFeature.Headers
    {
        get => _responseHeaders;
        set => throw new NotSupportedException("Pounce does not support replacing the response header collection.");
    }

    /// <summary>The response headers, written by the protocol when the response starts.</summary>
    protected HeaderDictionary ResponseHeaders => _responseHeaders;

    [Obsolete("Use IHttpResponseBodyFeature.Stream")]
    Stream IHttpResponseFeature.Body
    {
        get => _responseBody ??= ResponseStream;
        set => _responseBody = value;
    }

    /// <inheritdoc />
    public bool HasStarted { get; private set; }

    void IHttpResponseFeature.OnStarting(Func<object, Task> callback, object state)
    {
        if (HasStarted)
            throw new InvalidOperationException("OnStarting cannot be registered because the response has already started.");
        (_onStarting ??= new()).Push(new(callback, state));
    }

    void IHttpResponseFeature.OnCompleted(Func<object, Task> callback, object state)
        => (_onCompleted ??= new()).Push(new(callback, state));

    /// <summary>Whether OnStarting callbacks are waiting to run.</summary>
    protected bool HasOnStartingCallbacks => _onStarting is { Count: > 0 };

    /// <summary>Per-connection state an application adapter may keep (e.g. hosting's reusable context).</summary>
    internal object? ApplicationState { get; set; }

    /// <summary>
    /// Creates the application's context for the current request (hosting starts the request's Activity here, W3C
    /// traceparent honoured), records the activity's trace ids for the lifecycle events and, when a tracer records
    /// the activity, tags it with the connection's and request's ids and network attributes. Returns what hosting
    /// threw, if anything, for the protocol to answer once it has reported the request as started.
    /// </summary>
    protected Exception? CreateApplicationContext(RequestApplication application, out object? context)
    {
        context = null;
        _requestHeaderView?.Seed(_notedHeaderNames, _notedHeaderCount);
        try
        {
            context = application.CreateContext(this);
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
        finally
        {
            var activity = System.Diagnostics.Activity.Current;
            RequestInfo.CaptureTrace(activity);
            Telemetry.RequestActivityTags.Enrich(activity, Connection, RequestInfo);
        }
    }

    /// <summary>Runs the OnStarting callbacks (last registered first), once.</summary>
    protected async ValueTask FireOnStartingAsync()
    {
        var callbacks = _onStarting;
        if (callbacks is null)
            return;
        while (callbacks.TryPop(out var entry))
            await entry.Key(entry.Value);
    }

    /// <summary>Runs the OnCompleted callbacks (last registered first); failures are reported, not thrown.</summary>
    protected async ValueTask FireOnCompletedAsync()
    {
        var callbacks = _onCompleted;
        if (callbacks is null)
            return;
        while (callbacks.TryPop(out var entry))
        {
            try
            {
                await entry.Key(entry.Value);
            }
            catch (Exception ex)
            {
                ReportApplicationError(ex, "An OnCompleted callback threw");
            }
        }
    }

    /// <summary>Logs an application failure.</summary>
    protected abstract void ReportApplicationError(Exception exception, string what);

    // ---------------- IHttpResponseTrailersFeature ----------------

    IHeaderDictionary IHttpResponseTrailersFeature.Trailers
    {
        get => _responseTrailers;
        set => throw new NotSupportedException("Pounce does not support replacing the response trailer collection.");
    }

    /// <summary>The response trailers.</summary>
    protected HeaderDictionary ResponseTrailers => _responseTrailers;

    // ---------------- IHttpResponseBodyFeature ----------------

    /// <summary>The response body as a stream.</summary>
    public Stream ResponseStream => _responseBodyStream ??= new ResponseBodyStream(this);

    Stream IHttpResponseBodyFeature.Stream => ResponseStream;

    PipeWriter IHttpResponseBodyFeature.Writer => _responseBodyWriter ??= new ResponseBodyPipeWriter(this);

    void IHttpResponseBodyFeature.DisableBuffering()
    {
        // Every flush is sent at once; nothing to turn off.
    }

    Task IHttpResponseBodyFeature.StartAsync(CancellationToken cancellationToken) => StartResponseAsync(cancellationToken).AsTask();

    Task IHttpResponseBodyFeature.SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken)
        => SendFileFallback.SendFileAsync(ResponseStream, path, offset, count, cancellationToken);

    async Task IHttpResponseBodyFeature.CompleteAsync()
    {
        await CompleteResponseByApplicationAsync();
        // Later writes must fail rather than land on the wire after the end of this response.
        MarkBodyCompletedByApplication();
    }

    /// <summary>Marks the current response started (OnStarting done, headers frozen).</summary>
    protected void MarkStarted(int status)
    {
        HasStarted = true;
        _responseHeaders.IsReadOnly = true;
        RequestInfo.Status = status;
        RequestInfo.ResponseStarted = true;
    }

    /// <summary>Clears the response so an error answer can replace it (only before it started).</summary>
    protected void ResetResponseForError(int status)
    {
        _responseHeaders.IsReadOnly = false;
        _responseHeaders.Clear();
        _responseTrailers.Clear();
        _statusCode = status;
        _reasonPhrase = null;
        _headersScanned = false;
        DiscardBufferedBody();
    }

    private void ResetResponseBody()
    {
        HasStarted = false;
        _statusCode = 200;
        _reasonPhrase = null;
        DiscardBufferedBody();
        ResponseCompletedByApplication = false;
        BodyBytesWritten = 0;
        _headersScanned = false;
    }
}
