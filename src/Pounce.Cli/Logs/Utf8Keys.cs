using System.Text;
using System.Text.Json;

namespace Pounce.Cli.Logs;

/// <summary>
/// Gives each distinct UTF-8 key (a path, a client address, a close reason) a small number, without allocating for a
/// key already seen: an open-addressing table over the bytes. It holds at most <see cref="Capacity"/> keys (so memory
/// stays bounded whatever the log holds); a key past that gets -1 and is counted under "(other)". Each key's display
/// text (JSON escapes undone) is made once, when it is first seen.
/// </summary>
internal sealed class Utf8Keys
{
    private const int MaxKeyBytes = 512;
    private readonly int[] _slots; // id + 1, 0 = empty
    private readonly List<byte[]> _keys = [];
    private readonly List<string> _names = [];
    private readonly List<int> _hashes = [];

    public Utf8Keys(int capacity)
    {
        Capacity = capacity;
        var size = 16;
        while (size < capacity * 2)
            size <<= 1;
        _slots = new int[size];
    }

    public int Capacity { get; }

    public int Count => _keys.Count;

    /// <summary>The display text of key <paramref name="id"/>.</summary>
    public string Name(int id) => id < 0 ? "(other)" : _names[id];

    /// <summary>The number of <paramref name="key"/> (added when new); -1 when the table is full and the key is new.</summary>
    public int GetOrAdd(ReadOnlySpan<byte> key)
    {
        if (key.Length > MaxKeyBytes)
            key = key[..MaxKeyBytes];
        var hash = Hash(key);
        var mask = _slots.Length - 1;
        var slot = hash & mask;
        while (true)
        {
            var entry = _slots[slot];
            if (entry == 0)
                break;
            var id = entry - 1;
            if (_hashes[id] == hash && _keys[id].AsSpan().SequenceEqual(key))
                return id;
            slot = (slot + 1) & mask;
        }
        if (_keys.Count >= Capacity)
            return -1;
        var newId = _keys.Count;
        _keys.Add(key.ToArray());
        _hashes.Add(hash);
        _names.Add(Display(key));
        _slots[slot] = newId + 1;
        return newId;
    }

    private static int Hash(ReadOnlySpan<byte> key)
    {
        var h = new HashCode();
        h.AddBytes(key);
        return h.ToHashCode() & int.MaxValue;
    }

    /// <summary>The key as text: JSON escapes (<c>\"</c>, <c>\u00e9</c>, ...) undone when they parse as such.</summary>
    public static string Display(ReadOnlySpan<byte> raw)
    {
        if (raw.IndexOf((byte)'\\') < 0)
            return Encoding.UTF8.GetString(raw);
        var quoted = new byte[raw.Length + 2];
        quoted[0] = quoted[^1] = (byte)'"';
        raw.CopyTo(quoted.AsSpan(1));
        try
        {
            var reader = new Utf8JsonReader(quoted);
            if (reader.Read() && reader.TokenType == JsonTokenType.String)
                return reader.GetString() ?? "";
        }
        catch (JsonException)
        {
        }
        catch (InvalidOperationException)
        {
        }
        return Encoding.UTF8.GetString(raw);
    }
}
