using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Http;
using Pounce.Connections;
using Pounce.Http;

namespace Pounce.Http1;

/// <summary>Reading the request head: the read loop with its idle and header deadlines, line framing and limits,
/// the request line (method, target forms, version).</summary>
internal sealed partial class Http1Connection
{
    /// <summary>Reads and parses the next request head; returns the fact that ends the connection instead, if any.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ConnectionEnd> ReadRequestHeadAsync()
    {
        _logSlot.Exit();
        ResetFeatures(_sequence + 1, 0);
        ResetHeadState();
        var first = true;
        // The connection is idle (keep-alive deadline, closed at once by a shutdown) only while it waits for a head's
        // first bytes; a pipelined head already received is parsed at once, and a head received whole needs no header
        // deadline. Entering and leaving the idle state costs two interlocked exchanges and two clock reads, which a
        // pipelined request (whose head is already in the buffer) no longer pays.
        var idle = false;
        var deadline = false;
        try
        {
            while (true)
            {
                if (!_input.TryRead(out var result))
                {
                    if (first && !idle)
                    {
                        idle = true;
                        if (!_connection.EnterIdle(_config.KeepAliveTimeout, ConnectionEnd.KeepAliveTimeout))
                            return Connection.End;
                    }
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
                var firstBytes = first && !buffer.IsEmpty;
                if (firstBytes)
                {
                    first = false;
                    if (idle)
                        _connection.LeaveIdle();
                }
                var status = ParseHead(buffer, out var consumed, out var error);
                // The request's start: its head parsed (the contract's duration_ms). When the first bytes were not the
                // whole head, their time stands until then, for the duration of an answer the server gives itself.
                if (firstBytes || status == HeadStatus.Done)
                    RequestInfo.StartTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
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
                if (!first && !deadline)
                {
                    // Part of a head came: the rest has HeaderTimeout, counted from now (the bytes were parsed at once).
                    deadline = true;
                    _connection.SetHeaderDeadline();
                }
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
            if (idle)
                _connection.LeaveIdle();
            // Whatever deadline is armed (this wait's, or the connection's wait for its first bytes) ends with the head.
            _connection.ClearIdleDeadline();
        }
    }

    private HeadStatus ParseHead(in ReadOnlySequence<byte> buffer, out SequencePosition consumed, out ConnectionEnd error)
    {
        if (buffer.IsSingleSegment)
        {
            // The usual case (a head, or a pipelined batch, in one receive): plain span searches, no sequence reader.
            var status = ParseHead(buffer.FirstSpan, out var used, out error);
            consumed = buffer.GetPosition(used);
            return status;
        }
        var reader = new SequenceReader<byte>(buffer);
        consumed = buffer.Start;
        while (true)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n', advancePastDelimiter: true))
            {
                var unread = reader.UnreadSequence;
                return Incomplete(reader.Remaining, !_requestLineDone && !CanStartRequestLine(unread), out error);
            }
            consumed = reader.Position;
            var status = HeadLine(line.IsSingleSegment ? line.FirstSpan : CopyLine(line), out error);
            if (status != HeadStatus.NeedMore)
                return status;
        }
    }

    /// <summary><see cref="ParseHead(in ReadOnlySequence{byte}, out SequencePosition, out ConnectionEnd)"/> over one
    /// span; <paramref name="consumed"/>: the bytes of the complete lines taken.</summary>
    private HeadStatus ParseHead(ReadOnlySpan<byte> bytes, out int consumed, out ConnectionEnd error)
    {
        consumed = 0;
        while (true)
        {
            var rest = bytes[consumed..];
            var lf = rest.IndexOf((byte)'\n');
            if (lf < 0)
                return Incomplete(rest.Length, !_requestLineDone && !HttpCharacters.CanStartRequestLine(rest), out error);
            consumed += lf + 1;
            var status = HeadLine(rest[..lf], out error);
            if (status != HeadStatus.NeedMore)
                return status;
        }
    }

    // The head's end is not in the buffer yet: an error when what is pending already breaks a limit or cannot start a
    // request line (cannotStart), else wait for more.
    private HeadStatus Incomplete(long pending, bool cannotStart, out ConnectionEnd error)
    {
        error = ConnectionEnd.None;
        if (!_requestLineDone && pending > _config.MaxRequestLineSize + 2L * _emptyLinesBeforeRequest)
            error = ConnectionEnd.RequestLineTooLong;
        else if (_requestLineDone && _headerBytes + pending > _config.MaxHeaderSize)
            error = ConnectionEnd.HeadersTooLarge;
        else if (cannotStart)
            error = ConnectionEnd.BadRequestLine;
        return error == ConnectionEnd.None ? HeadStatus.NeedMore : HeadStatus.Error;
    }

    // One line of the head without its LF: NeedMore to go on with the next line, Done at the empty line ending the
    // head, Error with the reason.
    private HeadStatus HeadLine(ReadOnlySpan<byte> span, out ConnectionEnd error)
    {
        error = ConnectionEnd.None;
        var length = span.Length + 1;
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
            _headerBytes += Math.Min(length, int.MaxValue / 2);
            if (_headerBytes > _config.MaxHeaderSize)
            {
                error = ConnectionEnd.HeadersTooLarge;
                return HeadStatus.Error;
            }
        }
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
                return HeadStatus.NeedMore;
            }
            error = ParseRequestLine(span);
            if (error != ConnectionEnd.None)
                return HeadStatus.Error;
            _requestLineDone = true;
            return HeadStatus.NeedMore;
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
        return error != ConnectionEnd.None ? HeadStatus.Error : HeadStatus.NeedMore;
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

        if (!RequestTarget.IsValid(target))
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
}
