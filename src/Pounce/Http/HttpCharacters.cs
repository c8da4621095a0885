using System.Buffers;

namespace Pounce.Http;

/// <summary>Character classes of RFC 9110 and RFC 3986, as lookup tables.</summary>
internal static class HttpCharacters
{
    private const string TokenSymbols = "!#$%&'*+-.^_`|~";
    private const string Alphanumerics = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private static readonly bool[] Token = Build(TokenSymbols, alnum: true);

    // The same classes for text the application gives as strings (response header names and values), searched vectorised.
    private static readonly SearchValues<char> TokenChars = SearchValues.Create(TokenSymbols + Alphanumerics);
    private static readonly SearchValues<char> FieldValueControls = SearchValues.Create(
        "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\n\u000B\f\r\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\u007F");
    private static readonly bool[] HostChars = Build("-._~!$&'()*+,;=:[]%", alnum: true);
    private static readonly bool[] RegNameChars = Build("-._~%", alnum: true);
    private static readonly bool[] IpLiteralChars = Build("-._~%:", alnum: true);

    private static bool[] Build(string extra, bool alnum)
    {
        var table = new bool[256];
        if (alnum)
        {
            for (var c = '0'; c <= '9'; c++) table[c] = true;
            for (var c = 'a'; c <= 'z'; c++) table[c] = true;
            for (var c = 'A'; c <= 'Z'; c++) table[c] = true;
        }
        foreach (var c in extra)
            table[c] = true;
        return table;
    }

    /// <summary>tchar (RFC 9110 5.6.2).</summary>
    public static bool IsToken(byte b) => Token[b];

    /// <summary>Whether every byte is a tchar (and there is at least one).</summary>
    public static bool IsToken(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty)
            return false;
        foreach (var b in s)
        {
            if (!Token[b])
                return false;
        }
        return true;
    }

    /// <summary>field-vchar, SP or HTAB (RFC 9110 5.5): anything but controls and DEL.</summary>
    public static bool IsFieldValueByte(byte b) => b >= 0x20 ? b != 0x7f : b == (byte)'\t';

    /// <summary>Index of the first byte that may not appear in a field value, or -1.</summary>
    public static int IndexOfInvalidFieldValueByte(ReadOnlySpan<byte> s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (!IsFieldValueByte(s[i]))
                return i;
        }
        return -1;
    }

    /// <summary>Index of the first character that is not a tchar (RFC 9110 5.6.2), or -1.</summary>
    public static int IndexOfNonTokenChar(ReadOnlySpan<char> s) => s.IndexOfAnyExcept(TokenChars);

    /// <summary>
    /// Index of the first character a field value cannot carry (RFC 9110 5.5: a control other than HTAB, DEL; or above
    /// U+00FF, which has no octet), or -1.
    /// </summary>
    public static int IndexOfInvalidFieldValueChar(ReadOnlySpan<char> s)
    {
        var control = s.IndexOfAny(FieldValueControls);
        var wide = (control < 0 ? s : s[..control]).IndexOfAnyInRange((char)0x100, char.MaxValue);
        return wide >= 0 ? wide : control;
    }

    /// <summary>
    /// A byte of a request-target (RFC 9112 3.2; the HTTP/2 <c>:path</c> too, RFC 9113 8.3.1): visible ASCII only (0x21-0x7E), and never <c>#</c> (a
    /// fragment is not part of a request-target, RFC 9112 3.2 / RFC 9110 7.1). Raw non-ASCII octets must be
    /// percent-encoded.
    /// </summary>
    public static bool IsRequestTargetByte(byte b) => b is > 0x20 and < 0x7f and not (byte)'#';

    /// <summary>
    /// Whether <paramref name="prefix"/>, the first bytes of a request line whose end has not arrived yet, can still
    /// become a valid one: a method token, then a space and request-target bytes. Looks at 32 bytes at most, so a
    /// client that trickles bytes costs nothing; false means a 400 can be answered at once, without waiting for a
    /// line end until the header timeout.
    /// </summary>
    public static bool CanStartRequestLine(ReadOnlySpan<byte> prefix)
    {
        if (prefix.IsEmpty || prefix[0] is (byte)'\r' or (byte)'\n')
            return true; // an empty line before the request line (RFC 9112 2.2), judged once complete
        if (prefix.Length > 32)
            prefix = prefix[..32];
        var i = 0;
        while (i < prefix.Length && Token[prefix[i]])
            i++;
        if (i == prefix.Length)
            return true;
        if (i == 0 || prefix[i] != (byte)' ')
            return false;
        for (i++; i < prefix.Length; i++)
        {
            var b = prefix[i];
            if (b == (byte)' ')
                return i > 0 && prefix[i - 1] != (byte)' ';
            if (!IsRequestTargetByte(b))
                return false;
        }
        return true;
    }

    /// <summary>
    /// uri-host [ ":" port ] of a <c>Host</c> field or an absolute-form authority (RFC 9112 3.2, RFC 3986 3.2.2):
    /// an IP literal in brackets, or a host name of letters, digits, <c>-._~</c> and percent-encodings (the
    /// sub-delimiters RFC 3986 allows in a reg-name, such as <c>,</c>, are refused: no DNS name has them and they are
    /// a classic of header smuggling); no userinfo (<c>@</c>); the port, when present, 1 to 5 digits. Empty is valid
    /// here (HTTP/1.0, or a target without an authority); the caller decides when an empty host is not.
    /// </summary>
    public static bool IsValidHost(ReadOnlySpan<byte> host)
    {
        if (host.IsEmpty)
            return true;
        ReadOnlySpan<byte> port;
        if (host[0] == (byte)'[')
        {
            var close = host.IndexOf((byte)']');
            if (close < 2)
                return false;
            foreach (var b in host[1..close])
            {
                if (!IpLiteralChars[b])
                    return false;
            }
            var after = host[(close + 1)..];
            if (after.IsEmpty)
                return true;
            if (after[0] != (byte)':')
                return false;
            port = after[1..];
        }
        else
        {
            var colon = host.IndexOf((byte)':');
            var name = colon < 0 ? host : host[..colon];
            if (name.IsEmpty)
                return false;
            foreach (var b in name)
            {
                if (!RegNameChars[b])
                    return false;
            }
            if (colon < 0)
                return true;
            port = host[(colon + 1)..];
        }
        if (port.Length > 5)
            return false;
        foreach (var b in port)
        {
            if (b is < (byte)'0' or > (byte)'9')
                return false;
        }
        return true;
    }

    /// <summary>A byte of uri-host [":" port] (RFC 3986 reg-name, IP-literal).</summary>
    public static bool IsHostByte(byte b) => HostChars[b];
}
