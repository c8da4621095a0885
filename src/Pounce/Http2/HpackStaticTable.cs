namespace Pounce.Http2;

/// <summary>A name/value pair of the HPACK static table.</summary>
internal readonly struct HpackStaticEntry
{
    /// <summary>Creates an entry.</summary>
    public HpackStaticEntry(byte[] name, byte[] value)
    {
        Name = name;
        Value = value;
    }

    /// <summary>The field name (lowercase ASCII).</summary>
    public byte[] Name { get; }

    /// <summary>The field value; empty for name-only entries.</summary>
    public byte[] Value { get; }
}

/// <summary>The HPACK static table (RFC 7541 Appendix A): 61 entries, indices 1..61.</summary>
internal static class HpackStaticTable
{
    /// <summary>Number of entries; dynamic table indices start at <c>Count + 1</c>.</summary>
    public const int Count = 61;

    /// <summary>Index of <c>:status: 200</c>.</summary>
    public const int Status200 = 8;

    /// <summary>Index of the <c>:status</c> name.</summary>
    public const int StatusName = 8;

    // Entry i (1-based) is s_entries[i - 1].
    private static readonly HpackStaticEntry[] s_entries =
    [
        new(":authority"u8.ToArray(), ""u8.ToArray()), // 1
        new(":method"u8.ToArray(), "GET"u8.ToArray()), // 2
        new(":method"u8.ToArray(), "POST"u8.ToArray()), // 3
        new(":path"u8.ToArray(), "/"u8.ToArray()), // 4
        new(":path"u8.ToArray(), "/index.html"u8.ToArray()), // 5
        new(":scheme"u8.ToArray(), "http"u8.ToArray()), // 6
        new(":scheme"u8.ToArray(), "https"u8.ToArray()), // 7
        new(":status"u8.ToArray(), "200"u8.ToArray()), // 8
        new(":status"u8.ToArray(), "204"u8.ToArray()), // 9
        new(":status"u8.ToArray(), "206"u8.ToArray()), // 10
        new(":status"u8.ToArray(), "304"u8.ToArray()), // 11
        new(":status"u8.ToArray(), "400"u8.ToArray()), // 12
        new(":status"u8.ToArray(), "404"u8.ToArray()), // 13
        new(":status"u8.ToArray(), "500"u8.ToArray()), // 14
        new("accept-charset"u8.ToArray(), ""u8.ToArray()), // 15
        new("accept-encoding"u8.ToArray(), "gzip, deflate"u8.ToArray()), // 16
        new("accept-language"u8.ToArray(), ""u8.ToArray()), // 17
        new("accept-ranges"u8.ToArray(), ""u8.ToArray()), // 18
        new("accept"u8.ToArray(), ""u8.ToArray()), // 19
        new("access-control-allow-origin"u8.ToArray(), ""u8.ToArray()), // 20
        new("age"u8.ToArray(), ""u8.ToArray()), // 21
        new("allow"u8.ToArray(), ""u8.ToArray()), // 22
        new("authorization"u8.ToArray(), ""u8.ToArray()), // 23
        new("cache-control"u8.ToArray(), ""u8.ToArray()), // 24
        new("content-disposition"u8.ToArray(), ""u8.ToArray()), // 25
        new("content-encoding"u8.ToArray(), ""u8.ToArray()), // 26
        new("content-language"u8.ToArray(), ""u8.ToArray()), // 27
        new("content-length"u8.ToArray(), ""u8.ToArray()), // 28
        new("content-location"u8.ToArray(), ""u8.ToArray()), // 29
        new("content-range"u8.ToArray(), ""u8.ToArray()), // 30
        new("content-type"u8.ToArray(), ""u8.ToArray()), // 31
        new("cookie"u8.ToArray(), ""u8.ToArray()), // 32
        new("date"u8.ToArray(), ""u8.ToArray()), // 33
        new("etag"u8.ToArray(), ""u8.ToArray()), // 34
        new("expect"u8.ToArray(), ""u8.ToArray()), // 35
        new("expires"u8.ToArray(), ""u8.ToArray()), // 36
        new("from"u8.ToArray(), ""u8.ToArray()), // 37
        new("host"u8.ToArray(), ""u8.ToArray()), // 38
        new("if-match"u8.ToArray(), ""u8.ToArray()), // 39
        new("if-modified-since"u8.ToArray(), ""u8.ToArray()), // 40
        new("if-none-match"u8.ToArray(), ""u8.ToArray()), // 41
        new("if-range"u8.ToArray(), ""u8.ToArray()), // 42
        new("if-unmodified-since"u8.ToArray(), ""u8.ToArray()), // 43
        new("last-modified"u8.ToArray(), ""u8.ToArray()), // 44
        new("link"u8.ToArray(), ""u8.ToArray()), // 45
        new("location"u8.ToArray(), ""u8.ToArray()), // 46
        new("max-forwards"u8.ToArray(), ""u8.ToArray()), // 47
        new("proxy-authenticate"u8.ToArray(), ""u8.ToArray()), // 48
        new("proxy-authorization"u8.ToArray(), ""u8.ToArray()), // 49
        new("range"u8.ToArray(), ""u8.ToArray()), // 50
        new("referer"u8.ToArray(), ""u8.ToArray()), // 51
        new("refresh"u8.ToArray(), ""u8.ToArray()), // 52
        new("retry-after"u8.ToArray(), ""u8.ToArray()), // 53
        new("server"u8.ToArray(), ""u8.ToArray()), // 54
        new("set-cookie"u8.ToArray(), ""u8.ToArray()), // 55
        new("strict-transport-security"u8.ToArray(), ""u8.ToArray()), // 56
        new("transfer-encoding"u8.ToArray(), ""u8.ToArray()), // 57
        new("user-agent"u8.ToArray(), ""u8.ToArray()), // 58
        new("vary"u8.ToArray(), ""u8.ToArray()), // 59
        new("via"u8.ToArray(), ""u8.ToArray()), // 60
        new("www-authenticate"u8.ToArray(), ""u8.ToArray()), // 61
    ];

    /// <summary>Returns the entry at the 1-based <paramref name="index"/> (1..61).</summary>
    public static ref readonly HpackStaticEntry Get(int index) => ref s_entries[index - 1];

    /// <summary>
    /// Looks up a field: returns the index of an entry matching both name and value, or 0. In
    /// <paramref name="nameIndex"/> returns the index of the first entry with the name, or 0.
    /// </summary>
    public static int Find(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, out int nameIndex)
    {
        nameIndex = 0;
        int[][] byLength = s_indicesByNameLength;
        if ((uint)name.Length >= (uint)byLength.Length)
        {
            return 0;
        }

        HpackStaticEntry[] entries = s_entries;
        int[] candidates = byLength[name.Length];
        for (int i = 0; i < candidates.Length; i++)
        {
            int index = candidates[i];
            ref readonly HpackStaticEntry entry = ref entries[index - 1];
            if (!name.SequenceEqual(entry.Name))
            {
                continue;
            }

            if (nameIndex == 0)
            {
                nameIndex = index;
            }

            if (value.SequenceEqual(entry.Value))
            {
                return index;
            }
        }

        return 0;
    }

    // For each name length, the indices of the entries with a name of that length, in index order.
    private static readonly int[][] s_indicesByNameLength = BuildLengthIndex();

    private static int[][] BuildLengthIndex()
    {
        int longest = 0;
        foreach (HpackStaticEntry entry in s_entries)
        {
            longest = Math.Max(longest, entry.Name.Length);
        }

        var lists = new List<int>[longest + 1];
        for (int index = 1; index <= s_entries.Length; index++)
        {
            int length = s_entries[index - 1].Name.Length;
            (lists[length] ??= []).Add(index);
        }

        var result = new int[longest + 1][];
        for (int length = 0; length <= longest; length++)
        {
            result[length] = lists[length]?.ToArray() ?? [];
        }

        return result;
    }
}
