using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Pounce.Http;
using Pounce.Http1;

namespace Pounce.Http2;

/// <summary>
/// The connection's one HPACK handler: copies the fields of a request (or trailer) block into the stream being
/// opened and checks them against RFC 9113 8.2 and 8.3. It never throws for a malformed request (that is a stream
/// error and the block must still be decoded to keep HPACK in step); it records the problem in
/// <see cref="Malformed"/> instead.
/// </summary>
internal sealed class Http2RequestHeaders : IHpackHeaderHandler
{
    private Http2Stream? _target;
    private bool _trailers;
    private bool _regularSeen;
    private bool _hasMethod;
    private bool _hasScheme;
    private bool _hasPath;
    private bool _hasAuthority;
    private bool _hasProtocol;
    private string? _protocol;
    private string? _authority;
    private string? _cookie;
    private bool _hostSeen;

    /// <summary>
    /// Extended CONNECT (RFC 8441) is offered (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 was sent): <c>:protocol</c> is
    /// accepted on CONNECT. Otherwise it is an unknown pseudo-header (malformed).
    /// </summary>
    public bool ExtendedConnect { get; set; }

    // Strings of this connection's earlier requests, reused when the same bytes come again: header values, :path
    // and :authority mostly repeat from one request to the next, so most fields cost no new string.
    private readonly string?[] _lastValues = new string?[KnownHeaders.Names.Length];
    private string? _lastAuthority;
    private Http2Stream.TargetStrings _lastTarget;

    /// <summary>Why the block is malformed, or null.</summary>
    public string? Malformed { get; private set; }

    /// <summary>Starts collecting a block for <paramref name="target"/> (null: decode and discard).</summary>
    public void Begin(Http2Stream? target, bool trailers)
    {
        _target = target;
        _trailers = trailers;
        _regularSeen = false;
        _hasMethod = _hasScheme = _hasPath = _hasAuthority = _hasProtocol = false;
        _protocol = null;
        _authority = null;
        _cookie = null;
        _hostSeen = false;
        Malformed = null;
    }

    /// <inheritdoc />
    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        var target = _target;
        if (target is null || Malformed is not null)
            return;
        if (name.IsEmpty)
        {
            Malformed = "empty field name";
            return;
        }
        if (name[0] == (byte)':')
        {
            OnPseudoHeader(target, name, value);
            return;
        }
        _regularSeen = true;
        foreach (var b in name)
        {
            if (b is >= (byte)'A' and <= (byte)'Z' || !HttpCharacters.IsToken(b))
            {
                Malformed = "invalid or uppercase field name";
                return;
            }
        }
        foreach (var b in value)
        {
            if (b is 0 or (byte)'\r' or (byte)'\n')
            {
                Malformed = "invalid character in a field value";
                return;
            }
        }
        if (!value.IsEmpty && (value[0] is (byte)' ' or (byte)'\t' || value[^1] is (byte)' ' or (byte)'\t'))
        {
            Malformed = "field value with leading or trailing whitespace";
            return;
        }
        if (name.SequenceEqual("connection"u8) || name.SequenceEqual("keep-alive"u8) || name.SequenceEqual("proxy-connection"u8)
            || name.SequenceEqual("transfer-encoding"u8) || name.SequenceEqual("upgrade"u8))
        {
            Malformed = "connection-specific field";
            return;
        }
        if (name.SequenceEqual("te"u8) && !value.SequenceEqual("trailers"u8))
        {
            Malformed = "te other than trailers";
            return;
        }
        if (_trailers)
        {
            Add(target.TrailerHeaders, name, value);
            return;
        }
        if (name.SequenceEqual("content-length"u8))
        {
            if (!TryParseLength(value, out var length) || (target.DeclaredRequestLength is { } previous && previous != length))
            {
                Malformed = "invalid content-length";
                return;
            }
            target.DeclaredRequestLength = length;
        }
        else if (name.SequenceEqual("cookie"u8))
        {
            // RFC 9113 8.2.3: split cookie fields are joined with "; " for HTTP/1.1-minded applications.
            var text = Encoding.Latin1.GetString(value);
            _cookie = _cookie is null ? text : _cookie + "; " + text;
            return;
        }
        else if (name.SequenceEqual("host"u8))
        {
            _hostSeen = true;
        }
        Add(target.Headers, name, value);
    }

    private void OnPseudoHeader(Http2Stream target, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (_trailers || _regularSeen)
        {
            Malformed = _trailers ? "pseudo-header in trailers" : "pseudo-header after a regular field";
            return;
        }
        if (name.SequenceEqual(":method"u8))
        {
            if (_hasMethod || value.IsEmpty || !HttpCharacters.IsToken(value))
            {
                Malformed = "bad or repeated :method";
                return;
            }
            _hasMethod = true;
            target.SetMethod(value);
        }
        else if (name.SequenceEqual(":scheme"u8))
        {
            if (_hasScheme || value.IsEmpty)
            {
                Malformed = "bad or repeated :scheme";
                return;
            }
            _hasScheme = true;
            target.Scheme = value.SequenceEqual("https"u8) ? "https" : value.SequenceEqual("http"u8) ? "http" : Encoding.ASCII.GetString(value);
        }
        else if (name.SequenceEqual(":path"u8))
        {
            if (_hasPath || value.IsEmpty)
            {
                Malformed = "empty or repeated :path";
                return;
            }
            // As an HTTP/1.1 request-target (RFC 9113 8.3.1): visible ASCII, no fragment, no %00 in the path.
            if (!RequestTarget.IsValid(value))
            {
                Malformed = "invalid :path (not visible ASCII, a fragment, or %00)";
                return;
            }
            _hasPath = true;
            target.SetTarget(value, ref _lastTarget);
        }
        else if (name.SequenceEqual(":authority"u8))
        {
            if (_hasAuthority)
            {
                Malformed = "repeated :authority";
                return;
            }
            foreach (var b in value)
            {
                if (!HttpCharacters.IsHostByte(b))
                {
                    Malformed = "invalid :authority";
                    return;
                }
            }
            _hasAuthority = true;
            _authority = Reuse(ref _lastAuthority, value);
        }
        else if (name.SequenceEqual(":protocol"u8))
        {
            if (!ExtendedConnect)
            {
                // RFC 8441 3: a client may send :protocol only after SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
                Malformed = ":protocol without extended CONNECT";
                return;
            }
            if (_hasProtocol || value.IsEmpty || !HttpCharacters.IsToken(value))
            {
                Malformed = "bad or repeated :protocol";
                return;
            }
            _hasProtocol = true;
            _protocol = Encoding.ASCII.GetString(value);
        }
        else
        {
            Malformed = "unknown or response pseudo-header";
        }
    }

    /// <summary>Applies the message-level rules once the block is complete; false when it is malformed.</summary>
    public bool Complete()
    {
        var target = _target;
        if (Malformed is not null || target is null)
            return Malformed is null;
        if (_trailers)
            return true;
        if (!_hasMethod)
        {
            Malformed = "missing :method";
            return false;
        }
        if (_hasProtocol)
        {
            // RFC 8441 4: only on CONNECT, and with :scheme and :path like a request to a resource; :authority is then
            // as for any request (RFC 7540 8.1.2.3: SHOULD, not MUST).
            if (!ReferenceEquals(target.Method, HttpMethods.Connect))
            {
                Malformed = ":protocol on a request other than CONNECT";
                return false;
            }
            if (!_hasScheme || !_hasPath)
            {
                Malformed = "extended CONNECT needs :scheme and :path";
                return false;
            }
            if (!target.HasValidTarget)
            {
                Malformed = "bad :path";
                return false;
            }
            target.ConnectProtocol = _protocol;
        }
        else if (ReferenceEquals(target.Method, HttpMethods.Connect))
        {
            if (!_hasAuthority || _hasScheme || _hasPath)
            {
                Malformed = "CONNECT needs :authority and no :scheme or :path";
                return false;
            }
            target.SetConnectTarget(_authority!);
        }
        else
        {
            if (!_hasScheme || !_hasPath)
            {
                Malformed = "missing :scheme or :path";
                return false;
            }
            if (!target.HasValidTarget)
            {
                Malformed = "bad :path";
                return false;
            }
        }
        if (_cookie is not null)
            target.Headers["Cookie"] = _cookie;
        if (_authority is not null && !_hostSeen)
            target.Headers["Host"] = _authority;
        return true;
    }

    private void Add(HeaderDictionary headers, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        var known = KnownHeaders.Find(name);
        var nameText = known >= 0 ? KnownHeaders.Names[known] : Encoding.ASCII.GetString(name);
        var valueText = known >= 0 ? Reuse(ref _lastValues[known], value) : Encoding.Latin1.GetString(value);
        if (headers.TryGetValue(nameText, out var existing))
            headers[nameText] = StringValues.Concat(existing, valueText);
        else
            headers[nameText] = valueText;
    }

    /// <summary>The string of <paramref name="bytes"/> (Latin-1): <paramref name="last"/> when it is the same, else a new one kept there.</summary>
    private static string Reuse(ref string? last, ReadOnlySpan<byte> bytes)
    {
        if (last is not null && Http2Stream.Latin1Equals(bytes, last))
            return last;
        return last = Encoding.Latin1.GetString(bytes);
    }

    private static bool TryParseLength(ReadOnlySpan<byte> value, out long length)
    {
        length = 0;
        if (value.IsEmpty || value.Length > 18)
            return false;
        foreach (var b in value)
        {
            if (b is < (byte)'0' or > (byte)'9')
                return false;
            length = length * 10 + (b - '0');
        }
        return true;
    }
}
