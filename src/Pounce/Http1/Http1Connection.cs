using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
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

    // =====================================================================================
    // Request head
    // =====================================================================================

    private void ResetHeadState()
    {
        _bytesAfterHead = false;
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

    /// <summary>Reads and parses the next request head; returns the fact that ends the connection instead, if any.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ConnectionEnd> ReadRequestHeadAsync()
    {
        _logSlot.Exit();
        ResetFeatures(_sequence + 1, 0);
        ResetHeadState();
        var first = true;
        if (!_connection.EnterIdle(_config.KeepAliveTimeout, ConnectionEnd.KeepAliveTimeout))
            return Connection.End;
        try
        {
            while (true)
            {
                if (!_input.TryRead(out var result))
                {
                    await FlushPendingAsync();
                    result = await _input.ReadAsync();
                }
                var buffer = result.Buffer;
                if (result.IsCanceled)
                {
                    _input.AdvanceTo(buffer.Start);
                    if (Connection.End != ConnectionEnd.None)
                        return Connection.End;
                    if (_connection.Transport.PeerClose != Transport.PeerClose.None)
                        return ConnectionEnd.PeerReset;
                    continue;
                }
                if (first && !buffer.IsEmpty)
                {
                    first = false;
                    RequestInfo.StartTimestamp = System.Diagnostics.Stopwatch.GetTimestamp(); // a server answer's duration
                    _connection.LeaveIdle();
                    _connection.SetHeaderDeadline();
                }
                var status = ParseHead(buffer, out var consumed, out var error);
                if (status == HeadStatus.Done)
                {
                    // Bytes after the head (body, pipelined requests) are not examined yet; whether there are any is
                    // remembered, so a bodiless request's response can hold its flush without asking the pipe again.
                    _bytesAfterHead = !buffer.Slice(consumed).IsEmpty;
                    _input.AdvanceTo(consumed);
                    return ValidateHead();
                }
                _input.AdvanceTo(consumed, buffer.End);
                if (status == HeadStatus.Error)
                    return error;
                if (result.IsCompleted)
                {
                    if (first)
                        return _connection.Transport.PeerClose == Transport.PeerClose.Reset ? ConnectionEnd.PeerReset : ConnectionEnd.ClientClosedIdle;
                    return ConnectionEnd.ClientClosedMidRequest;
                }
            }
        }
        finally
        {
            _connection.LeaveIdle();
            _connection.ClearIdleDeadline();
        }
    }

    private HeadStatus ParseHead(in ReadOnlySequence<byte> buffer, out SequencePosition consumed, out ConnectionEnd error)
    {
        var reader = new SequenceReader<byte>(buffer);
        consumed = buffer.Start;
        error = ConnectionEnd.None;
        while (true)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n', advancePastDelimiter: true))
            {
                var pending = reader.Remaining;
                if (!_requestLineDone && pending > _config.MaxRequestLineSize + 2L * _emptyLinesBeforeRequest)
                    error = ConnectionEnd.RequestLineTooLong;
                else if (_requestLineDone && _headerBytes + pending > _config.MaxHeaderSize)
                    error = ConnectionEnd.HeadersTooLarge;
                else if (!_requestLineDone && !CanStartRequestLine(reader.UnreadSequence))
                    error = ConnectionEnd.BadRequestLine;
                return error == ConnectionEnd.None ? HeadStatus.NeedMore : HeadStatus.Error;
            }
            consumed = reader.Position;
            var length = line.Length + 1;
            if (!_requestLineDone)
            {
                if (length > _config.MaxRequestLineSize)
                {
                    error = ConnectionEnd.RequestLineTooLong;
                    return HeadStatus.Error;
                }
            }
            else
            {
                _headerBytes += (int)Math.Min(length, int.MaxValue / 2);
                if (_headerBytes > _config.MaxHeaderSize)
                {
                    error = ConnectionEnd.HeadersTooLarge;
                    return HeadStatus.Error;
                }
            }
            var span = line.IsSingleSegment ? line.FirstSpan : CopyLine(line);
            if (span.IsEmpty || span[^1] != (byte)'\r')
            {
                error = ConnectionEnd.BareLineFeed;
                return HeadStatus.Error;
            }
            span = span[..^1];
            if (span.IndexOf((byte)'\r') >= 0)
            {
                error = ConnectionEnd.BareLineFeed;
                return HeadStatus.Error;
            }
            if (!_requestLineDone)
            {
                if (span.IsEmpty)
                {
                    // RFC 9112 2.2: ignore an empty line or two before the request line.
                    if (++_emptyLinesBeforeRequest > 2)
                    {
                        error = ConnectionEnd.BadRequestLine;
                        return HeadStatus.Error;
                    }
                    continue;
                }
                error = ParseRequestLine(span);
                if (error != ConnectionEnd.None)
                    return HeadStatus.Error;
                _requestLineDone = true;
                continue;
            }
            if (span.IsEmpty)
                return HeadStatus.Done;
            if (span[0] is (byte)' ' or (byte)'\t')
            {
                error = ConnectionEnd.ObsFold;
                return HeadStatus.Error;
            }
            if (++_headerCount > _config.MaxHeaders)
            {
                error = ConnectionEnd.TooManyHeaders;
                return HeadStatus.Error;
            }
            error = ParseHeaderLine(span, RequestHeaders, trailer: false);
            if (error != ConnectionEnd.None)
                return HeadStatus.Error;
        }
    }

    /// <summary>Whether the start of a request line still waiting for its end can become a valid one.</summary>
    private static bool CanStartRequestLine(in ReadOnlySequence<byte> pending)
    {
        if (pending.FirstSpan.Length >= 32 || pending.IsSingleSegment)
            return HttpCharacters.CanStartRequestLine(pending.FirstSpan);
        Span<byte> prefix = stackalloc byte[32];
        var n = (int)Math.Min(pending.Length, 32);
        pending.Slice(0, n).CopyTo(prefix);
        return HttpCharacters.CanStartRequestLine(prefix[..n]);
    }

    private ReadOnlySpan<byte> CopyLine(in ReadOnlySequence<byte> line)
    {
        var length = (int)line.Length;
        if (_lineBuffer is null || _lineBuffer.Length < length)
        {
            if (_lineBuffer is not null)
                ArrayPool<byte>.Shared.Return(_lineBuffer);
            _lineBuffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1024));
        }
        line.CopyTo(_lineBuffer);
        return _lineBuffer.AsSpan(0, length);
    }

    private ConnectionEnd ParseRequestLine(ReadOnlySpan<byte> line)
    {
        var sp1 = line.IndexOf((byte)' ');
        if (sp1 <= 0)
            return ConnectionEnd.BadRequestLine;
        var method = line[..sp1];
        if (!HttpCharacters.IsToken(method))
            return ConnectionEnd.BadRequestLine;
        var rest = line[(sp1 + 1)..];
        var sp2 = rest.IndexOf((byte)' ');
        if (sp2 <= 0)
            return ConnectionEnd.BadRequestLine;
        var target = rest[..sp2];
        var version = rest[(sp2 + 1)..];

        if (version.SequenceEqual("HTTP/1.1"u8))
            _version = HttpVersionKind.Http11;
        else if (version.SequenceEqual("HTTP/1.0"u8))
            _version = HttpVersionKind.Http10;
        else if (version.Length == 8 && version.StartsWith("HTTP/"u8) && char.IsAsciiDigit((char)version[5]) && version[6] == (byte)'.' && char.IsAsciiDigit((char)version[7]))
            return ConnectionEnd.UnsupportedVersion;
        else
            return ConnectionEnd.BadRequestLine;

        foreach (var b in target)
        {
            if (!HttpCharacters.IsRequestTargetByte(b))
                return ConnectionEnd.BadRequestTarget;
        }
        var pathEnd = target.IndexOf((byte)'?');
        if (RequestTarget.ContainsEncodedNul(pathEnd < 0 ? target : target[..pathEnd]))
            return ConnectionEnd.BadRequestTarget;

        Method = MethodString(method);
        _isHead = ReferenceEquals(Method, HttpMethods.Head);
        Protocol = _version == HttpVersionKind.Http10 ? "HTTP/1.0" : "HTTP/1.1";

        if (target[0] == (byte)'/')
            return SetOriginForm(target);
        if (target.Length == 1 && target[0] == (byte)'*')
        {
            if (!ReferenceEquals(Method, HttpMethods.Options))
                return ConnectionEnd.BadRequestTarget;
            RawTarget = "*";
            Path = "";
            QueryString = "";
            return ConnectionEnd.None;
        }
        return SetAbsoluteForm(target);
    }

    private ConnectionEnd SetOriginForm(ReadOnlySpan<byte> target)
    {
        if (target.SequenceEqual(_lastTarget))
        {
            RawTarget = _lastRawTarget;
            Path = _lastPath;
            QueryString = _lastQuery;
            return ConnectionEnd.None;
        }
        var q = target.IndexOf((byte)'?');
        var pathBytes = q < 0 ? target : target[..q];
        var raw = RequestTarget.ToString(target);
        var path = q < 0 && pathBytes.IndexOf((byte)'%') < 0 && pathBytes.IndexOf("/."u8) < 0 ? raw : RequestTarget.DecodePath(pathBytes);
        var query = q < 0 ? "" : RequestTarget.ToString(target[q..]);
        RawTarget = raw;
        Path = path;
        QueryString = query;
        if (target.Length <= 256)
        {
            _lastTarget = target.ToArray();
            _lastRawTarget = raw;
            _lastPath = path;
            _lastQuery = query;
        }
        return ConnectionEnd.None;
    }

    private ConnectionEnd SetAbsoluteForm(ReadOnlySpan<byte> target)
    {
        int schemeLength;
        if (target.Length > 7 && Ascii.EqualsIgnoreCase(target[..7], "http://"u8))
            schemeLength = 7;
        else if (target.Length > 8 && Ascii.EqualsIgnoreCase(target[..8], "https://"u8))
            schemeLength = 8;
        else
            return ConnectionEnd.BadRequestTarget;
        var afterScheme = target[schemeLength..];
        var authorityEnd = afterScheme.IndexOfAny((byte)'/', (byte)'?');
        var authority = authorityEnd < 0 ? afterScheme : afterScheme[..authorityEnd];
        if (authority.IsEmpty || !HttpCharacters.IsValidHost(authority))
            return ConnectionEnd.BadRequestTarget;
        _absoluteHost = Encoding.ASCII.GetString(authority);
        var pathAndQuery = authorityEnd < 0 ? [] : afterScheme[authorityEnd..];
        RawTarget = RequestTarget.ToString(target);
        if (pathAndQuery.IsEmpty || pathAndQuery[0] == (byte)'?')
        {
            Path = "/";
            QueryString = pathAndQuery.IsEmpty ? "" : RequestTarget.ToString(pathAndQuery);
            return ConnectionEnd.None;
        }
        var q = pathAndQuery.IndexOf((byte)'?');
        Path = RequestTarget.DecodePath(q < 0 ? pathAndQuery : pathAndQuery[..q]);
        QueryString = q < 0 ? "" : RequestTarget.ToString(pathAndQuery[q..]);
        return ConnectionEnd.None;
    }

    private static string MethodString(ReadOnlySpan<byte> method)
    {
        switch (method.Length)
        {
            case 3:
                if (method.SequenceEqual("GET"u8)) return HttpMethods.Get;
                if (method.SequenceEqual("PUT"u8)) return HttpMethods.Put;
                break;
            case 4:
                if (method.SequenceEqual("POST"u8)) return HttpMethods.Post;
                if (method.SequenceEqual("HEAD"u8)) return HttpMethods.Head;
                break;
            case 5:
                if (method.SequenceEqual("PATCH"u8)) return HttpMethods.Patch;
                if (method.SequenceEqual("TRACE"u8)) return HttpMethods.Trace;
                break;
            case 6:
                if (method.SequenceEqual("DELETE"u8)) return HttpMethods.Delete;
                break;
            case 7:
                if (method.SequenceEqual("OPTIONS"u8)) return HttpMethods.Options;
                if (method.SequenceEqual("CONNECT"u8)) return HttpMethods.Connect;
                break;
        }
        return Encoding.ASCII.GetString(method);
    }

    private ConnectionEnd ParseHeaderLine(ReadOnlySpan<byte> line, HeaderDictionary headers, bool trailer)
    {
        var colon = line.IndexOf((byte)':');
        if (colon <= 0)
            return trailer ? ConnectionEnd.BadChunk : ConnectionEnd.BadHeader;
        var name = line[..colon];
        if (!HttpCharacters.IsToken(name))
            return trailer ? ConnectionEnd.BadChunk : ConnectionEnd.BadHeader;
        var value = line[(colon + 1)..].Trim(" \t"u8);
        if (HttpCharacters.IndexOfInvalidFieldValueByte(value) >= 0)
            return trailer ? ConnectionEnd.BadChunk : ConnectionEnd.BadHeader;

        var known = KnownHeaders.Find(name);
        string nameText;
        string valueText;
        if (known >= 0)
        {
            nameText = KnownHeaders.Names[known];
            var last = _lastHeaderValues[known];
            if (last is not null && last.Length == value.Length && Latin1Equals(value, last))
            {
                valueText = last;
            }
            else
            {
                valueText = Encoding.Latin1.GetString(value);
                _lastHeaderValues[known] = valueText;
            }
            if (!trailer)
            {
                var fact = NoteSpecialHeader(known, value, valueText);
                if (fact != ConnectionEnd.None)
                    return fact;
            }
        }
        else
        {
            nameText = Encoding.ASCII.GetString(name);
            valueText = Encoding.Latin1.GetString(value);
        }

        if (headers.TryGetValue(nameText, out var existing))
            headers[nameText] = Microsoft.Extensions.Primitives.StringValues.Concat(existing, valueText);
        else
            headers[nameText] = valueText;
        return ConnectionEnd.None;
    }

    private static bool Latin1Equals(ReadOnlySpan<byte> bytes, string text)
    {
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != text[i])
                return false;
        }
        return true;
    }

    private ConnectionEnd NoteSpecialHeader(int known, ReadOnlySpan<byte> value, string valueText)
    {
        switch (known)
        {
            case KnownHeaders.Host:
                _hostCount++;
                _hostEmpty = value.IsEmpty;
                if (!HttpCharacters.IsValidHost(value))
                    return ConnectionEnd.BadHost;
                break;
            case KnownHeaders.ContentLength:
                if (++_contentLengthCount > 1)
                    return ConnectionEnd.BadContentLength;
                if (value.IsEmpty || value.Length > 18)
                    return ConnectionEnd.BadContentLength;
                long length = 0;
                foreach (var b in value)
                {
                    if (b is < (byte)'0' or > (byte)'9')
                        return ConnectionEnd.BadContentLength;
                    length = length * 10 + (b - '0');
                }
                _contentLength = length;
                break;
            case KnownHeaders.TransferEncoding:
                _transferEncoding = _transferEncoding is null ? valueText : _transferEncoding + "," + valueText;
                break;
            case KnownHeaders.Connection:
                foreach (var range in value.Split((byte)','))
                {
                    var token = value[range].Trim(" \t"u8);
                    if (Ascii.EqualsIgnoreCase(token, "close"u8))
                        _connectionClose = true;
                    else if (Ascii.EqualsIgnoreCase(token, "keep-alive"u8))
                        _connectionKeepAlive = true;
                    else if (Ascii.EqualsIgnoreCase(token, "upgrade"u8))
                        _connectionUpgrade = true;
                }
                break;
            case KnownHeaders.Expect:
                if (Ascii.EqualsIgnoreCase(value, "100-continue"u8))
                    _expectContinue = true;
                break;
        }
        return ConnectionEnd.None;
    }

    /// <summary>Applies the message-level rules once the whole head is in (RFC 9112 3.2, 6.1, 6.3, 9.3).</summary>
    private ConnectionEnd ValidateHead()
    {
        if (_version == HttpVersionKind.Http11 ? _hostCount != 1 : _hostCount > 1)
            return ConnectionEnd.BadHost;
        // An origin-form target's URI takes its authority from Host: an empty one names no server (RFC 9112 3.2).
        if (_hostEmpty && _version == HttpVersionKind.Http11 && _absoluteHost is null && RawTarget != "*")
            return ConnectionEnd.BadHost;
        if (_absoluteHost is not null)
            RequestHeaders[HeaderNames.Host] = _absoluteHost;

        if (_transferEncoding is not null)
        {
            if (_contentLengthCount > 0)
                return ConnectionEnd.ConflictingFraming;
            if (_version == HttpVersionKind.Http10)
                return ConnectionEnd.BadTransferEncoding;
            var fact = CheckTransferEncoding(_transferEncoding);
            if (fact != ConnectionEnd.None)
                return fact;
            _bodyKind = BodyKind.Chunked;
        }
        else if (_contentLengthCount > 0)
        {
            _bodyKind = _contentLength > 0 ? BodyKind.ContentLength : BodyKind.None;
            _bodyRemaining = _contentLength;
        }
        CanHaveBody = _bodyKind != BodyKind.None;
        if (_bodyKind == BodyKind.None)
            _bodyComplete = true;

        _keepAlive = _version == HttpVersionKind.Http11 ? !_connectionClose : _connectionKeepAlive && !_connectionClose;
        if (!_keepAlive)
            _closeFact = ConnectionEnd.ClientRequestedClose;
        if (_version == HttpVersionKind.Http10)
            _expectContinue = false;
        return ConnectionEnd.None;
    }

    /// <summary>Only a final, single <c>chunked</c> is understood (RFC 9112 6.1); other codings get 501.</summary>
    private ConnectionEnd CheckTransferEncoding(string value)
    {
        var chunkedSeen = false;
        var otherSeen = false;
        var lastIsChunked = false;
        foreach (var range in value.AsSpan().Split(','))
        {
            var token = value.AsSpan()[range].Trim(" \t");
            if (token.IsEmpty)
                continue;
            if (token.Equals("chunked", StringComparison.OrdinalIgnoreCase))
            {
                if (chunkedSeen)
                    return ConnectionEnd.BadTransferEncoding;
                chunkedSeen = true;
                lastIsChunked = true;
            }
            else
            {
                otherSeen = true;
                lastIsChunked = false;
            }
        }
        if (!lastIsChunked)
            return ConnectionEnd.BadTransferEncoding;
        if (otherSeen)
        {
            _errorStatus = StatusCodes.Status501NotImplemented;
            return ConnectionEnd.BadTransferEncoding;
        }
        return ConnectionEnd.None;
    }

    /// <summary>Answers a request that could not be parsed (when an answer makes sense) and ends the loop.</summary>
    private async ValueTask RejectRequestAsync(ConnectionEnd end)
    {
        Connection.ReportEnd(end);
        var status = _errorStatus != 0 ? _errorStatus : StatusFor(end);
        if (status == 0)
            return;
        WriteErrorResponse(status);
        ReportServerAnswer(status);
        await _output.FlushAsync();
    }

    /// <summary>Tells the lifecycle that the server answered this request head itself (its access-log line), with
    /// what was parsed of it: method, path and version once the request line was read, the User-Agent once the head was.</summary>
    private void ReportServerAnswer(int status)
    {
        var info = RequestInfo;
        if (_requestLineDone)
        {
            info.Method = Method;
            info.Path = Path;
            info.Version = _version;
            info.UserAgent = RequestHeaders.TryGetValue(Microsoft.Net.Http.Headers.HeaderNames.UserAgent, out var ua) ? ua.ToString() : null;
        }
        if (info.StartTimestamp == 0)
            info.StartTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        info.EndTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        info.Status = status;
        _server.Emitter.ServerAnswered(Connection, info);
    }

    private static int StatusFor(ConnectionEnd end) => end switch
    {
        ConnectionEnd.RequestLineTooLong => StatusCodes.Status414UriTooLong,
        ConnectionEnd.HeadersTooLarge or ConnectionEnd.TooManyHeaders => StatusCodes.Status431RequestHeaderFieldsTooLarge,
        ConnectionEnd.UnsupportedVersion => StatusCodes.Status505HttpVersionNotsupported,
        ConnectionEnd.HeaderTimeout => StatusCodes.Status408RequestTimeout,
        ConnectionEnd.BodyTooLarge => StatusCodes.Status413PayloadTooLarge,
        ConnectionEnd.BadRequestLine or ConnectionEnd.BadRequestTarget or ConnectionEnd.BadHeader or ConnectionEnd.ObsFold
            or ConnectionEnd.BareLineFeed or ConnectionEnd.BadHost or ConnectionEnd.BadContentLength
            or ConnectionEnd.BadTransferEncoding or ConnectionEnd.ConflictingFraming or ConnectionEnd.BadChunk => StatusCodes.Status400BadRequest,
        _ => 0,
    };

    private void WriteErrorResponse(int status)
    {
        var w = new HeadWriter(_output);
        w.WriteStatusLine(status, null);
        if (_config.DateHeader)
            w.Write(_server.Heartbeat.DateHeaderLine);
        w.Write(_serverHeaderLine);
        w.Write("Content-Length: 0\r\nConnection: close\r\n\r\n"u8);
        w.Commit();
    }
}
