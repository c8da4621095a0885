using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Features;
using Pounce.Logging;

namespace Pounce.Http1;

/// <summary>
/// HTTP/1.x over one connection (RFC 9112): reads request heads, frames bodies, runs the application and writes
/// responses, request after request, until the connection should close. Reports facts, never log lines.
/// </summary>
internal sealed partial class Http1Connection : RequestContext
{
    private enum BodyKind : byte { None, ContentLength, Chunked }

    private enum HeadStatus : byte { NeedMore, Done, Error }

    private static readonly byte[] ContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray();

    private readonly Connection _connection;
    private readonly ServerContext _server;
    private readonly ServerConfig _config;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly byte[] _serverHeaderLine;
    private readonly string?[] _lastHeaderValues = new string?[KnownHeaders.Count];
    // Known header names (one bit per KnownHeaders index, which has fewer than 64) this head carried, and carried twice.
    private ulong _knownSeen;
    private ulong _knownRepeated;
    private byte[]? _lineBuffer;
    private byte[] _lastTarget = [];
    private string _lastRawTarget = "";
    private string _lastPath = "";
    private string _lastQuery = "";
    private string? _absoluteHost;

    // Head parsing state.
    private bool _requestLineDone;
    private int _headerCount;
    private int _headerBytes;
    private int _emptyLinesBeforeRequest;
    private int _hostCount;
    private bool _hostEmpty;
    private string? _validHost; // a Host value that passed IsValidHost (the same string comes back while the bytes repeat)
    private int _contentLengthCount;
    private long _contentLength;
    private string? _transferEncoding;
    private bool _connectionClose;
    private bool _connectionKeepAlive;
    private bool _connectionUpgrade;
    private bool _expectContinue;
    private int _errorStatus;

    // Request state.
    private int _sequence;
    private HttpVersionKind _version;
    private bool _isHead;
    private bool _keepAlive;
    private ConnectionEnd _closeFact;
    private bool _requestInFlight;
    private BodyKind _bodyKind;
    private bool _bytesAfterHead;
    private bool _bodyStarted;
    private bool _bodyComplete;
    private long _bodyRemaining;
    private long _bodyReceived;
    private ConnectionEnd _bodyError;
    private bool _sentContinue;
    private ChunkState _chunkState;
    private long _chunkRemaining;
    private int _trailerCount;
    private int _trailerBytes;

    // Response state.
    private bool _chunkedResponse;
    private bool _responseEnded;
    private bool _outputPending;
    private bool _applicationYielded;
    private bool _ownResponseDeferred;
    private bool _completeResponseSent;

    // The request in flight, for the log lines written on this connection's flow.
    private readonly RequestLogContext.Slot _logSlot = new();

    public Http1Connection(Connection connection) : base(connection.Info)
    {
        _connection = connection;
        _server = connection.Server;
        _config = connection.Config;
        _input = connection.Pipes.Input;
        _output = connection.Pipes.Output;
        _serverHeaderLine = _config.ServerHeader.Length == 0 ? [] : Encoding.ASCII.GetBytes("Server: " + _config.ServerHeader + "\r\n");
    }

    protected override long DefaultMaxRequestBodySize => _config.MaxRequestBodySize;

    protected override bool SupportsResponseTrailers => _version == HttpVersionKind.Http11;

    // Every HTTP/1.1 request offers IHttpRequestTrailersFeature (as Kestrel): empty and available once a body without chunked framing is read.
    protected override bool SupportsRequestTrailers => true;

    protected override bool ResponseBodySuppressed => _isHead;

    /// <summary>Serves requests until the connection should close; the close fact is on the connection.</summary>
    public async Task ProcessRequestsAsync()
    {
        // Log correlation: the lines written on this connection's flow carry its ids (one attach per connection).
        _logSlot.Connection = Connection;
        RequestLogContext.Attach(_logSlot);
        using var registration = _connection.Transport.ConnectionClosed.UnsafeRegister(
            static s => ((Http1Connection)s!).OnTransportClosed(), this);
        try
        {
            while (true)
            {
                var end = await ReadRequestHeadAsync();
                if (end != ConnectionEnd.None)
                {
                    await FlushPendingAsync();
                    await RejectRequestAsync(end);
                    return;
                }
                if (await TryUpgradeToH2cAsync())
                {
                    await FlushPendingAsync();
                    return;
                }
                if (!await RunRequestAsync())
                {
                    await FlushPendingAsync();
                    return;
                }
            }
        }
        finally
        {
            DiscardBufferedBody();
            if (_lineBuffer is not null)
                ArrayPool<byte>.Shared.Return(_lineBuffer);
        }
    }

    private void OnTransportClosed()
    {
        if (Volatile.Read(ref _requestInFlight))
            SignalRequestAborted();
    }

    protected override void AbortByApplication()
    {
        // An upgraded connection's WebSocket aborts the context when it fails because the peer vanished or the server
        // signalled RequestAborted (shutdown): a consequence, not the cause, of the end.
        if (_upgraded && (RequestAborted || PeerGone))
            _connection.Transport.Abort();
        else if (_upgraded && _upgradedStream!.PeerViolatedProtocol)
            _connection.Abort(ConnectionEnd.WebSocketProtocolError); // the WebSocket failed the client's bad frame
        else
            _connection.Abort(ConnectionEnd.AppAbort);
        SignalRequestAborted();
    }

    protected override void ReportApplicationError(Exception exception, string what)
    {
        _server.Logger.LogError(exception, "{what} (connection {connection_id}, request {request_id}, {method} {path})",
            what, Connection.ConnectionId, RequestInfo.RequestId, RequestInfo.Method, RequestInfo.Path);
    }

    private void ResetHeadState()
    {
        _bytesAfterHead = false;
        _knownSeen = 0;
        _knownRepeated = 0;
        _requestLineDone = false;
        _headerCount = 0;
        _headerBytes = 0;
        _emptyLinesBeforeRequest = 0;
        _hostCount = 0;
        _hostEmpty = false;
        _contentLengthCount = 0;
        _contentLength = 0;
        _transferEncoding = null;
        _connectionClose = false;
        _connectionKeepAlive = false;
        _connectionUpgrade = false;
        _expectContinue = false;
        _errorStatus = 0;
        _absoluteHost = null;
        _version = HttpVersionKind.Http11;
        _isHead = false;
        _bodyKind = BodyKind.None;
        _bodyStarted = false;
        _bodyComplete = false;
        _bodyRemaining = 0;
        _bodyReceived = 0;
        _bodyError = ConnectionEnd.None;
        _sentContinue = false;
        _chunkState = ChunkState.Size;
        _chunkRemaining = 0;
        _trailerCount = 0;
        _trailerBytes = 0;
        _chunkedResponse = false;
        _responseEnded = false;
        _completeResponseSent = false;
        DeclaredResponseLength = null;
        _closeFact = ConnectionEnd.None;
    }
}
