using System.Buffers;
using System.Text;
using Pounce.Http;

namespace Pounce.Http1;

/// <summary>Turns the path of a request target into the decoded path an application sees.</summary>
internal static class RequestTarget
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Percent-decodes <paramref name="raw"/> as UTF-8 (keeping <c>%2F</c> encoded, so it cannot become a path
    /// separator), then removes dot segments (RFC 3986 5.2.4). Falls back to the raw text (dot segments removed)
    /// when the decoded bytes are not UTF-8.
    /// </summary>
    public static string DecodePath(ReadOnlySpan<byte> raw)
    {
        if (raw.IndexOf((byte)'%') < 0 && raw.IndexOf("/."u8) < 0)
            return ToString(raw);

        byte[]? rented = null;
        var buffer = raw.Length <= 1024 ? stackalloc byte[raw.Length] : (rented = ArrayPool<byte>.Shared.Rent(raw.Length));
        try
        {
            var n = PercentDecode(raw, buffer);
            var decoded = buffer[..n];
            if (decoded.IndexOf("/."u8) >= 0)
                n = RemoveDotSegments(decoded);
            try
            {
                return StrictUtf8.GetString(buffer[..n]);
            }
            catch (DecoderFallbackException)
            {
                // Not UTF-8 once decoded: keep the raw (still encoded) text, but never with dot segments in it.
                raw.CopyTo(buffer);
                n = RemoveDotSegments(buffer[..raw.Length]);
                return Encoding.Latin1.GetString(buffer[..n]);
            }
        }
        finally
        {
            if (rented is not null)
                ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Whether <paramref name="target"/> (an origin-form target, <c>*</c>, or any request-target) may be served: visible
    /// ASCII only and no <c>#</c> (<see cref="HttpCharacters.IsRequestTargetByte"/>, RFC 9112 3.2), and no <c>%00</c> in
    /// its path (<see cref="ContainsEncodedNul"/>). The HTTP/1.1 request line and the HTTP/2 <c>:path</c> (RFC 9113
    /// 8.3.1) are held to the same rule.
    /// </summary>
    public static bool IsValid(ReadOnlySpan<byte> target)
    {
        if (target.IndexOfAnyExceptInRange((byte)0x21, (byte)0x7e) >= 0 || target.IndexOf((byte)'#') >= 0)
            return false;
        var pathEnd = target.IndexOf((byte)'?');
        return !ContainsEncodedNul(pathEnd < 0 ? target : target[..pathEnd]);
    }

    /// <summary>
    /// Whether <paramref name="path"/> holds <c>%00</c>, which would decode to a NUL in <c>Request.Path</c>: no
    /// resource name has one, and C libraries, file systems and log readers cut strings there. The request is refused.
    /// </summary>
    public static bool ContainsEncodedNul(ReadOnlySpan<byte> path) => path.IndexOf("%00"u8) >= 0;

    /// <summary>ASCII text as a string; other bytes are read as UTF-8 when valid, else Latin-1.</summary>
    public static string ToString(ReadOnlySpan<byte> raw)
    {
        if (System.Text.Ascii.IsValid(raw))
            return Encoding.ASCII.GetString(raw);
        try
        {
            return StrictUtf8.GetString(raw);
        }
        catch (DecoderFallbackException)
        {
            return Encoding.Latin1.GetString(raw);
        }
    }

    private static int PercentDecode(ReadOnlySpan<byte> raw, Span<byte> output)
    {
        var w = 0;
        for (var i = 0; i < raw.Length; i++)
        {
            var b = raw[i];
            if (b == (byte)'%' && i + 2 < raw.Length && TryHex(raw[i + 1], out var hi) && TryHex(raw[i + 2], out var lo))
            {
                var value = (byte)((hi << 4) | lo);
                if (value == (byte)'/')
                {
                    output[w++] = b;
                    continue;
                }
                output[w++] = value;
                i += 2;
                continue;
            }
            output[w++] = b;
        }
        return w;
    }

    private static bool TryHex(byte b, out int value)
    {
        value = b switch
        {
            >= (byte)'0' and <= (byte)'9' => b - '0',
            >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
            >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }

    /// <summary>RFC 3986 5.2.4 on a path that starts with '/'; works in place and returns the new length.</summary>
    internal static int RemoveDotSegments(Span<byte> path)
    {
        if (path.IsEmpty || path[0] != (byte)'/')
            return path.Length;
        var len = path.Length;
        var w = 0;
        var i = 0;
        while (i < len)
        {
            var segStart = i + 1;
            var rel = path[segStart..len].IndexOf((byte)'/');
            var segEnd = rel < 0 ? len : segStart + rel;
            var seg = path[segStart..segEnd];
            if (seg.Length == 1 && seg[0] == (byte)'.')
            {
                if (segEnd == len)
                    path[w++] = (byte)'/';
            }
            else if (seg.Length == 2 && seg[0] == (byte)'.' && seg[1] == (byte)'.')
            {
                var j = path[..w].LastIndexOf((byte)'/');
                w = j < 0 ? 0 : j;
                if (segEnd == len)
                    path[w++] = (byte)'/';
            }
            else
            {
                path[w++] = (byte)'/';
                seg.CopyTo(path[w..]);
                w += seg.Length;
            }
            i = segEnd;
        }
        if (w == 0)
            path[w++] = (byte)'/';
        return w;
    }
}
