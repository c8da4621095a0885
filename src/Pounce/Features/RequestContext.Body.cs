using System.Buffers;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Pounce.Http;

namespace Pounce.Features;

/// <summary>Request body reading and response body buffering, common to the protocols.</summary>
public abstract partial class RequestContext
{
    private const int CommitThreshold = 64 * 1024;
    private byte[]? _bodyBuffer;
    private int _bodyBuffered;

    /// <summary>Body bytes buffered by the application and not yet handed to the protocol.</summary>
    internal int BufferedBodyBytes => _bodyBuffered;

    /// <summary>Body bytes the application has written so far (also counted for HEAD, where they are discarded).</summary>
    protected long BodyBytesWritten { get; set; }

    /// <summary>The application completed the response body (<c>CompleteAsync</c>) before returning.</summary>
    protected bool ResponseCompletedByApplication { get; set; }

    /// <summary>The declared <c>Content-Length</c> of the response once started, if any.</summary>
    protected long? DeclaredResponseLength { get; set; }

    // ---------------- protocol hooks ----------------

    /// <summary>Reads request body bytes; 0 at the end of the body.</summary>
    protected abstract ValueTask<int> ReadBodyCoreAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>
    /// Writes the response head. <paramref name="autoContentLength"/> is the whole body's length when the
    /// application finished before the response started and set no framing itself.
    /// </summary>
    protected abstract void WriteResponseHead(long? autoContentLength);

    /// <summary>Writes body bytes with the protocol's framing (not called for HEAD or bodiless statuses).</summary>
    protected abstract void WriteResponseBodyData(ReadOnlySpan<byte> data);

    /// <summary>Whether body bytes are discarded (HEAD).</summary>
    protected abstract bool ResponseBodySuppressed { get; }

    /// <summary>Sends what was written so far.</summary>
    protected abstract ValueTask FlushOutputAsync(CancellationToken cancellationToken);

    /// <summary>The application called <c>CompleteAsync</c> on the response body.</summary>
    protected abstract ValueTask CompleteResponseByApplicationAsync();

    // ---------------- request body ----------------

    internal ValueTask<int> ReadBodyAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        MaxRequestBodySizeLocked = true;
        return ReadBodyCoreAsync(buffer, cancellationToken);
    }

    // ---------------- response body ----------------

    internal Memory<byte> GetBodyMemory(int sizeHint)
    {
        if (ResponseCompletedByApplication)
            throw new InvalidOperationException("The response body was already completed.");
        if (sizeHint <= 0)
            sizeHint = 1;
        if (_bodyBuffer is null)
        {
            _bodyBuffer = ArrayPool<byte>.Shared.Rent(Math.Max(4096, sizeHint));
        }
        else if (_bodyBuffer.Length - _bodyBuffered < sizeHint)
        {
            if (HasStarted && _bodyBuffered >= CommitThreshold)
                CommitBufferedBody();
            if (_bodyBuffer.Length - _bodyBuffered < sizeHint)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_bodyBuffer.Length * 2, _bodyBuffered + sizeHint));
                _bodyBuffer.AsSpan(0, _bodyBuffered).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_bodyBuffer);
                _bodyBuffer = bigger;
            }
        }
        return _bodyBuffer.AsMemory(_bodyBuffered);
    }

    internal void AdvanceBody(int count)
    {
        if (count < 0 || _bodyBuffer is null || _bodyBuffered + count > _bodyBuffer.Length)
            throw new ArgumentOutOfRangeException(nameof(count), "Advanced past the memory that was handed out.");
        _bodyBuffered += count;
    }

    internal void WriteBody(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var memory = GetBodyMemory(Math.Min(data.Length, CommitThreshold)).Span;
            var n = Math.Min(memory.Length, data.Length);
            data[..n].CopyTo(memory);
            AdvanceBody(n);
            data = data[n..];
        }
    }

    /// <summary>
    /// Writes <paramref name="data"/> straight to the protocol (no copy into the body buffer) and sends it: the path
    /// of <c>Response.Body.WriteAsync</c>.
    /// </summary>
    internal async ValueTask WriteBodyAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (ResponseCompletedByApplication)
            throw new InvalidOperationException("The response body was already completed.");
        if (!HasStarted)
            await StartResponseAsync(cancellationToken);
        CommitBufferedBody();
        WriteDirect(data.Span);
        if (!TryDeferFlush())
            await FlushOutputAsync(cancellationToken);
    }

    /// <summary>
    /// When the whole declared body has been written, the protocol may hold the flush until the response ends (so
    /// the head, body and end go out in one send, and pipelined responses together); it must then send before the
    /// application or the connection waits for anything.
    /// </summary>
    private bool TryDeferFlush()
        => DeclaredResponseLength is { } declared && BodyBytesWritten >= declared && DeferFlushUntilResponseEnd();

    /// <summary>Protocol hook for <see cref="TryDeferFlush"/>: true when it takes over sending.</summary>
    protected virtual bool DeferFlushUntilResponseEnd() => false;

    internal void MarkBodyCompletedByApplication() => ResponseCompletedByApplication = true;

    /// <summary>Starts the response if needed, hands the buffered body to the protocol and sends it.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    internal async ValueTask FlushBodyAsync(CancellationToken cancellationToken)
    {
        if (!HasStarted)
            await StartResponseAsync(cancellationToken);
        CommitBufferedBody();
        if (!TryDeferFlush())
            await FlushOutputAsync(cancellationToken);
    }

    /// <summary>Runs OnStarting and writes the response head (without sending it yet).</summary>
    protected ValueTask StartResponseAsync(CancellationToken cancellationToken)
    {
        if (HasStarted)
            return default;
        if (!HasOnStartingCallbacks)
        {
            StartResponse(autoContentLength: null);
            return default;
        }
        return StartAfterCallbacksAsync();

        async ValueTask StartAfterCallbacksAsync()
        {
            await FireOnStartingAsync();
            if (!HasStarted)
                StartResponse(autoContentLength: null);
        }
    }

    /// <summary>
    /// After the application returned: starts the response if it never did (with a computed Content-Length when
    /// possible), hands over the rest of the body and checks the declared length.
    /// </summary>
    protected async ValueTask FinishResponseBodyAsync()
    {
        if (!HasStarted)
        {
            await FireOnStartingAsync();
            if (!HasStarted)
            {
                // One pass validates the headers and finds their Content-Length and Transfer-Encoding (StartResponse
                // takes the same pass: no lookup here nor there).
                ValidateResponseHeaders();
                // A declared length the buffered body cannot meet is still fixable: answer 500 instead.
                if (_headFacts.ContentLength is { } declaredLength && !ResponseBodySuppressed && BodyAllowed(StatusCode)
                    && declaredLength > _bodyBuffered)
                {
                    throw new InvalidOperationException(
                        $"Response Content-Length mismatch: too few bytes written ({_bodyBuffered} of {declaredLength}).");
                }
                long? auto = null;
                if (_headFacts.ContentLength is null
                    && ResponseTrailers.Count == 0
                    && !_headFacts.HasTransferEncoding)
                {
                    auto = _bodyBuffered;
                }
                StartResponse(auto);
            }
        }
        CommitBufferedBody();
        if (DeclaredResponseLength is { } declared && !ResponseBodySuppressed && BodyAllowed(StatusCode) && BodyBytesWritten < declared)
        {
            throw new InvalidOperationException(
                $"Response Content-Length mismatch: too few bytes written ({BodyBytesWritten} of {declared}).");
        }
    }

    private void StartResponse(long? autoContentLength)
    {
        if (!_headersScanned)
            ValidateResponseHeaders();
        MarkStarted(StatusCode);
        RequestInfo.IsStreaming = _headFacts.ContentType is { } contentType
            && contentType.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase);
        WriteResponseHead(autoContentLength);
        _headersScanned = false;
    }

    // What ValidateResponseHeaders found in its pass over the headers, for the head StartResponse writes right after it:
    // the protocol's head writer and the event-stream check need no pass or lookup (a hash of the name) of their own.
    private bool _headersScanned;
    private ResponseHeadFacts _headFacts;

    /// <summary>The response headers that shape a head, found in one pass over them.</summary>
    private protected struct ResponseHeadFacts
    {
        /// <summary>A Content-Length header is present, and its value as <see cref="Microsoft.AspNetCore.Http.HeaderDictionary.ContentLength"/>
        /// reads it (null when not one non-negative integer).</summary>
        public bool HasContentLength;
        /// <summary>See <see cref="HasContentLength"/>.</summary>
        public long? ContentLength;
        /// <summary>A Transfer-Encoding header is present, with these values.</summary>
        public bool HasTransferEncoding;
        /// <summary>See <see cref="HasTransferEncoding"/>.</summary>
        public StringValues TransferEncoding;
        /// <summary>A Connection header is present, with these values.</summary>
        public bool HasConnection;
        /// <summary>See <see cref="HasConnection"/>.</summary>
        public StringValues Connection;
        /// <summary>A Date header is present.</summary>
        public bool HasDate;
        /// <summary>A Server header is present.</summary>
        public bool HasServer;
        /// <summary>The first Content-Type value, or null.</summary>
        public string? ContentType;
    }

    /// <summary>
    /// The response headers that shape the head, for the protocol's <see cref="WriteResponseHead"/>: from the pass that
    /// validated them when the head follows it (the usual way), otherwise from a pass of their own.
    /// </summary>
    private protected ResponseHeadFacts ResponseHead => _headersScanned ? _headFacts : ScanResponseHeaders(validate: false);

    private ResponseHeadFacts ScanResponseHeaders(bool validate)
    {
        var facts = default(ResponseHeadFacts);
        var index = 0;
        foreach (var header in ResponseHeaders)
        {
            var name = header.Key;
            if (validate)
                ValidateHeaderOnce(index++, name, header.Value);
            switch (name.Length)
            {
                case 4:
                    facts.HasDate |= name.Equals(HeaderNames.Date, StringComparison.OrdinalIgnoreCase);
                    break;
                case 6:
                    facts.HasServer |= name.Equals(HeaderNames.Server, StringComparison.OrdinalIgnoreCase);
                    break;
                case 10 when name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase):
                    facts.HasConnection = true;
                    facts.Connection = header.Value;
                    break;
                case 12 when header.Value.Count > 0 && name.Equals(HeaderNames.ContentType, StringComparison.OrdinalIgnoreCase):
                    facts.ContentType = header.Value[0];
                    break;
                case 14 when name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase):
                    facts.HasContentLength = true;
                    break;
                case 17 when name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase):
                    facts.HasTransferEncoding = true;
                    facts.TransferEncoding = header.Value;
                    break;
            }
        }
        // The dictionary's own reading of the value (one lookup, only for a response that declares a length).
        if (facts.HasContentLength)
            facts.ContentLength = ResponseHeaders.ContentLength;
        return facts;
    }

    /// <summary>Whether a response with this status may carry a body.</summary>
    protected static bool BodyAllowed(int status) => status >= 200 && status != 204 && status != 205 && status != 304;

    private void CommitBufferedBody()
    {
        var n = _bodyBuffered;
        if (n == 0)
            return;
        _bodyBuffered = 0;
        WriteDirect(_bodyBuffer.AsSpan(0, n));
    }

    private void WriteDirect(ReadOnlySpan<byte> data)
    {
        var n = data.Length;
        if (n == 0)
            return;
        if (ResponseCompletedByApplication && !HasStarted)
            throw new InvalidOperationException("The response body was already completed.");
        if (!BodyAllowed(StatusCode))
        {
            throw new InvalidOperationException(
                $"Writing to the response body is invalid for responses with status code {StatusCode}.");
        }
        if (DeclaredResponseLength is { } declared && BodyBytesWritten + n > declared)
        {
            throw new InvalidOperationException(
                $"Response Content-Length mismatch: too many bytes written ({BodyBytesWritten + n} of {declared}).");
        }
        BodyBytesWritten += n;
        if (ResponseBodySuppressed)
            return;
        WriteResponseBodyData(data);
        RequestInfo.BytesSent += n;
    }

    /// <summary>Drops buffered body bytes (error answers) and returns the buffer to the pool.</summary>
    protected void DiscardBufferedBody()
    {
        _bodyBuffered = 0;
        if (_bodyBuffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_bodyBuffer);
            _bodyBuffer = null;
        }
    }

    private void ValidateResponseHeaders()
    {
        // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ) (RFC 9112 4): a CR or LF would split the response.
        if (ReasonPhrase is { } reason && HttpCharacters.IndexOfInvalidFieldValueChar(reason) is var bad and >= 0)
            throw new InvalidOperationException($"Invalid character 0x{(int)reason[bad]:x2} in the response reason phrase.");
        var facts = ScanResponseHeaders(validate: true);
        // A Content-Length that does not parse would be sent beside the framing the server picks (RFC 9110 8.6).
        if (facts.HasContentLength && facts.ContentLength is null)
            throw new InvalidOperationException("Invalid response Content-Length: it must be one non-negative integer.");
        _headFacts = facts;
        _headersScanned = true;
    }

    // The response headers that passed validation on this connection, by their place in the response: an application
    // sets the same name and value strings in the same order response after response, and a string that passed is
    // valid text whatever response it is in, so a header is checked again only when its name or value is another string.
    private const int RememberedHeaders = 8;
    private string?[]? _validNames;
    private string?[]? _validValues;

    private void ValidateHeaderOnce(int index, string name, StringValues values)
    {
        var value = values.Count == 1 ? values[0] : null;
        if (index < RememberedHeaders && value is not null && _validNames is { } names && _validValues is { } known
            && ReferenceEquals(names[index], name) && ReferenceEquals(known[index], value))
            return;
        ValidateHeader(name, values);
        if (index < RememberedHeaders && value is not null)
        {
            (_validNames ??= new string?[RememberedHeaders])[index] = name;
            (_validValues ??= new string?[RememberedHeaders])[index] = value;
        }
    }

    /// <summary>Rejects header names and values that would break the message (CR, LF, other controls).</summary>
    protected static void ValidateHeader(string name, Microsoft.Extensions.Primitives.StringValues values)
    {
        if (name.Length == 0)
            throw new InvalidOperationException("A response header name is empty.");
        if (HttpCharacters.IndexOfNonTokenChar(name) is var badName and >= 0)
            throw new InvalidOperationException($"Invalid character 0x{(int)name[badName]:x2} in response header name '{Sanitize(name)}'.");
        foreach (var value in values)
        {
            if (value is not null && HttpCharacters.IndexOfInvalidFieldValueChar(value) is var bad and >= 0)
                throw new InvalidOperationException($"Invalid character 0x{(int)value[bad]:x2} in the value of response header '{name}'.");
        }
    }

    private static string Sanitize(string s)
    {
        var chars = s.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (chars[i] < 0x20 || chars[i] > 0x7e)
                chars[i] = '?';
        }
        return new string(chars);
    }
}
