using Pounce.Http;

namespace Pounce.Http1;

/// <summary>The grammar of chunk extensions (RFC 9112 7.1.1); the server reads none of them, but refuses malformed ones.</summary>
internal static class ChunkExtension
{
    /// <summary>
    /// Whether <paramref name="ext"/>, the rest of a chunk-size line after the size (without CRLF), is
    /// <c>*( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )</c>, where a name is a token and a value a
    /// token or a quoted-string. <c>5;</c> (no name) and <c>5;bad[=x</c> are refused; <c>5;a=b</c> and
    /// <c>5;a="b \"c\""</c> are accepted.
    /// </summary>
    public static bool IsValid(ReadOnlySpan<byte> ext)
    {
        var i = 0;
        while (true)
        {
            var next = SkipWhitespace(ext, i);
            if (next == ext.Length)
                return next == i; // the end of the line, but not after whitespace (BWS only comes before ";" or "=")
            i = next;
            if (ext[i] != (byte)';')
                return false;
            i = SkipWhitespace(ext, i + 1);
            var nameStart = i;
            while (i < ext.Length && HttpCharacters.IsToken(ext[i]))
                i++;
            if (i == nameStart)
                return false;
            var afterName = SkipWhitespace(ext, i);
            if (afterName == ext.Length || ext[afterName] != (byte)'=')
                continue; // no value: the next extension, or the end, follows
            i = SkipWhitespace(ext, afterName + 1);
            if (i == ext.Length)
                return false;
            if (ext[i] == (byte)'"')
            {
                i = SkipQuotedString(ext, i);
                if (i < 0)
                    return false;
            }
            else
            {
                var valueStart = i;
                while (i < ext.Length && HttpCharacters.IsToken(ext[i]))
                    i++;
                if (i == valueStart)
                    return false;
            }
        }
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> s, int i)
    {
        while (i < s.Length && s[i] is (byte)' ' or (byte)'\t')
            i++;
        return i;
    }

    /// <summary>quoted-string from its opening quote (RFC 9110 5.6.4); the index after the closing quote, or -1.</summary>
    private static int SkipQuotedString(ReadOnlySpan<byte> s, int i)
    {
        for (i++; i < s.Length; i++)
        {
            var b = s[i];
            if (b == (byte)'"')
                return i + 1;
            if (b == (byte)'\\')
            {
                if (++i == s.Length || !IsQuotedPairByte(s[i]))
                    return -1;
                continue;
            }
            if (!IsQdText(b))
                return -1;
        }
        return -1;
    }

    // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
    private static bool IsQdText(byte b) => b is (byte)'\t' or (byte)' ' or 0x21 or (>= 0x23 and <= 0x5B) or (>= 0x5D and <= 0x7E) or >= 0x80;

    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
    private static bool IsQuotedPairByte(byte b) => b is (byte)'\t' or (>= 0x20 and <= 0x7E) or >= 0x80;
}
