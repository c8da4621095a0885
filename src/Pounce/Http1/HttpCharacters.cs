namespace Pounce.Http1;

/// <summary>Character classes of RFC 9110 and RFC 3986, as lookup tables.</summary>
internal static class HttpCharacters
{
    private static readonly bool[] Token = Build("!#$%&'*+-.^_`|~", alnum: true);
    private static readonly bool[] HostChars = Build("-._~!$&'()*+,;=:[]%", alnum: true);

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

    /// <summary>A request-target byte: visible ASCII, or a byte of UTF-8 (tolerated, as browsers send it).</summary>
    public static bool IsTargetByte(byte b) => b > 0x20 && b != 0x7f;

    /// <summary>A byte of uri-host [":" port] (RFC 3986 reg-name, IP-literal).</summary>
    public static bool IsHostByte(byte b) => HostChars[b];
}
