using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Pounce.Features;
using Pounce.Connections;
using Pounce.Http1;

namespace Pounce.Http2;

/// <summary>The request side of a stream: its head (filled by the read loop's HPACK handler) and its body (fed by DATA, read by the application).</summary>
internal sealed partial class Http2Stream
{
    // =====================================================================================
    // Request head (filled on the read loop)
    // =====================================================================================

    public void SetMethod(ReadOnlySpan<byte> method)
    {
        Method = method switch
        {
            _ when method.SequenceEqual("GET"u8) => HttpMethods.Get,
            _ when method.SequenceEqual("POST"u8) => HttpMethods.Post,
            _ when method.SequenceEqual("PUT"u8) => HttpMethods.Put,
            _ when method.SequenceEqual("HEAD"u8) => HttpMethods.Head,
            _ when method.SequenceEqual("DELETE"u8) => HttpMethods.Delete,
            _ when method.SequenceEqual("PATCH"u8) => HttpMethods.Patch,
            _ when method.SequenceEqual("OPTIONS"u8) => HttpMethods.Options,
            _ when method.SequenceEqual("CONNECT"u8) => HttpMethods.Connect,
            _ => Encoding.ASCII.GetString(method),
        };
        _isHead = ReferenceEquals(Method, HttpMethods.Head);
    }

    public void SetTarget(ReadOnlySpan<byte> target)
    {
        RawTarget = RequestTarget.ToString(target);
        if (target[0] == (byte)'/')
        {
            var q = target.IndexOf((byte)'?');
            Path = RequestTarget.DecodePath(q < 0 ? target : target[..q]);
            QueryString = q < 0 ? "" : RequestTarget.ToString(target[q..]);
            _validTarget = true;
        }
        else if (target.Length == 1 && target[0] == (byte)'*')
        {
            // Valid for OPTIONS only; :method may come after :path, so HasValidTarget checks the method.
            Path = "";
            QueryString = "";
            _validTarget = true;
        }
    }

    /// <summary>The strings a <c>:path</c> became, kept by the connection to reuse for the same bytes.</summary>
    public struct TargetStrings
    {
        public string? Raw;
        public string Path;
        public string Query;
        public bool Valid;
    }

    /// <summary><see cref="SetTarget(ReadOnlySpan{byte})"/>, reusing the strings of the connection's previous <c>:path</c> when it is the same.</summary>
    public void SetTarget(ReadOnlySpan<byte> target, ref TargetStrings last)
    {
        if (last.Raw is not null && Latin1Equals(target, last.Raw))
        {
            RawTarget = last.Raw;
            Path = last.Path;
            QueryString = last.Query;
            _validTarget = last.Valid;
            return;
        }
        SetTarget(target);
        // Only ASCII targets are kept: others may have been read as UTF-8, which a Latin-1 comparison cannot match.
        if (System.Text.Ascii.IsValid(target))
            last = new TargetStrings { Raw = RawTarget, Path = Path, Query = QueryString, Valid = _validTarget };
    }

    /// <summary>Whether <paramref name="text"/> is <paramref name="bytes"/> read as Latin-1.</summary>
    public static bool Latin1Equals(ReadOnlySpan<byte> bytes, string text)
    {
        if (bytes.Length != text.Length)
            return false;
        for (var i = 0; i < bytes.Length; i++)
        {
            if (text[i] != bytes[i])
                return false;
        }
        return true;
    }

    public void SetConnectTarget(string authority)
    {
        RawTarget = authority;
        Path = "";
        QueryString = "";
        _validTarget = true;
    }

    /// <summary>Called by the connection once the request head is complete.</summary>
    public void OnHeadComplete(bool endStream)
    {
        // RFC 8441: an extended CONNECT carries a tunnel, not a request body (proxies such as YARP must not forward one).
        CanHaveBody = !endStream && ConnectProtocol is null;
        RequestInfo.Method = Method;
        RequestInfo.Path = Path;
        RequestInfo.Version = HttpVersionKind.Http2;
        RequestInfo.UserAgent = RequestHeaders.TryGetValue(HeaderNames.UserAgent, out var ua) ? ua.ToString() : null;
    }

    // =====================================================================================
    // Request body (written by the read loop, read by the application)
    // =====================================================================================

    /// <summary>Read loop: DATA payload for the application.</summary>
    public void AppendBody(in System.Buffers.ReadOnlySequence<byte> data)
    {
        if (data.IsEmpty || IsReset)
            return;
        var writer = _body.Writer;
        foreach (var segment in data)
            writer.Write(segment.Span);
        var flush = writer.FlushAsync();
        if (!flush.IsCompleted)
            _ = flush.AsTask();
    }

    /// <summary>
    /// Read loop: END_STREAM arrived (after DATA or trailers, or on the HEADERS). A request that ended with its HEADERS
    /// (and is no tunnel) has no body to read (<see cref="ReadBodyCoreAsync"/> returns 0 without the pipe), so its body
    /// pipe is left untouched: no completing and resetting it (each takes the pipe's lock) for the many GETs.
    /// </summary>
    public void CompleteBody()
    {
        if (RequestTrailerHeaders.Count > 0)
            RequestTrailersAvailable = true;
        _bodyWriterDone = true;
        if (!CanHaveBody && ConnectProtocol is null && _tunnel is null)
        {
            _pipeUnused = true;
            return;
        }
        _body.Writer.Complete();
    }

    protected override async ValueTask<int> ReadBodyCoreAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!CanHaveBody && _tunnel is null)
            return 0;
        if (IsReset)
            throw new IOException("The HTTP/2 stream was reset.");
        if (_requestBodyRead == 0 && DeclaredRequestLength is { } declared && MaxRequestBodySize is { } max && declared > max)
            throw RecordBadRequest(new BadHttpRequestException("Request body too large.", StatusCodes.Status413PayloadTooLarge));
        if (buffer.IsEmpty)
            return 0;
        var reader = _body.Reader;
        ReadResult result;
        try
        {
            if (!reader.TryRead(out result))
            {
                await SendHeldOutputAsync();
                // Waiting for the client: the heartbeat enforces the data rate and BodyReadTimeout (see CheckBodyDeadline).
                Volatile.Write(ref _bodyWaitDeadline, _tunnel is null ? BeginBodyWait(Environment.TickCount64, out _bodyWaitExpiry) : 0);
                try
                {
                    result = await reader.ReadAsync(cancellationToken);
                }
                finally
                {
                    Volatile.Write(ref _bodyWaitDeadline, 0);
                    EndBodyWait(Environment.TickCount64);
                }
            }
        }
        catch (InvalidOperationException)
        {
            // The reader was completed when the stream ended.
            return 0;
        }
        var data = result.Buffer;
        if (_bodyTimedOut)
        {
            reader.AdvanceTo(data.Start);
            throw BodyTooSlow(_bodyWaitExpiry);
        }
        if (result.IsCanceled || IsReset)
        {
            reader.AdvanceTo(data.Start);
            throw new IOException("The HTTP/2 stream was reset.");
        }
        if (data.IsEmpty)
        {
            reader.AdvanceTo(data.End);
            if (result.IsCompleted)
            {
                RequestTrailersAvailable = true;
                return 0;
            }
            return 0;
        }
        var n = (int)Math.Min(data.Length, buffer.Length);
        System.Buffers.BuffersExtensions.CopyTo(data.Slice(0, n), buffer.Span);
        reader.AdvanceTo(data.GetPosition(n));
        _requestBodyRead += n;
        CountBodyBytes(n);
        if (MaxRequestBodySize is { } limit && _requestBodyRead > limit)
            throw RecordBadRequest(new BadHttpRequestException("Request body too large.", StatusCodes.Status413PayloadTooLarge));
        await _connection.OnBodyConsumedAsync(this, n);
        return n;
    }

    /// <summary>Heartbeat: fails a body read past its deadline (the minimum data rate or <c>BodyReadTimeout</c>; 408 when possible).</summary>
    public void CheckBodyDeadline(long now)
    {
        var deadline = Volatile.Read(ref _bodyWaitDeadline);
        if (deadline == 0 || now < deadline || _bodyTimedOut || _tunnel is not null)
            return;
        _bodyTimedOut = true;
        _body.Reader.CancelPendingRead();
    }
}
