using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Pounce.Connections;
using Pounce.Http;

namespace Pounce.Http1;

/// <summary>Header fields (of the request head and of chunked trailers) and the message-level rules applied once
/// the head is in: Host, body framing, persistence.</summary>
internal sealed partial class Http1Connection
{
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

        if (known >= 0 && !trailer)
        {
            // The first field of a known name needs no lookup: whether this head had one is a bit.
            var bit = 1UL << known;
            if ((_knownSeen & bit) == 0)
            {
                _knownSeen |= bit;
                headers[nameText] = valueText;
                NoteRequestHeader(nameText);
                return ConnectionEnd.None;
            }
            _knownRepeated |= bit;
        }
        if (headers.TryGetValue(nameText, out var existing))
            headers[nameText] = Microsoft.Extensions.Primitives.StringValues.Concat(existing, valueText);
        else
            headers[nameText] = valueText;
        if (!trailer)
            NoteRequestHeader(nameText);
        return ConnectionEnd.None;
    }

    /// <summary>The request's User-Agent as one string (fields joined by commas), or null; without a lookup when it came once.</summary>
    private string? UserAgentText()
    {
        const ulong bit = 1UL << KnownHeaders.UserAgent;
        if ((_knownSeen & bit) == 0)
            return null;
        if ((_knownRepeated & bit) == 0)
            return _lastHeaderValues[KnownHeaders.UserAgent];
        return RequestHeaders.TryGetValue(HeaderNames.UserAgent, out var ua) ? ua.ToString() : null;
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
                // A value whose bytes repeat an earlier field's comes as the same string (see ParseHeaderLine): the
                // string that passed is valid text, whatever request it came with.
                if (!ReferenceEquals(valueText, _validHost))
                {
                    if (!HttpCharacters.IsValidHost(value))
                        return ConnectionEnd.BadHost;
                    _validHost = valueText;
                }
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
}
