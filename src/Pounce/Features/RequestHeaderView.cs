using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Pounce.Features;

/// <summary>
/// The request headers as the application sees them (<see cref="Microsoft.AspNetCore.Http.Features.IHttpRequestFeature.Headers"/>): the protocol's
/// <see cref="HeaderDictionary"/>, with a 64-bit summary of the names present, so that asking for a header the request
/// does not have costs a few instructions instead of hashing the name. Hosting asks for <c>traceparent</c>,
/// <c>tracestate</c>, <c>baggage</c> and more on every request, and most requests have none of them.
/// </summary>
/// <remarks>
/// A name's bit comes from its length and its first and last characters (ASCII letters folded to lower case, as the
/// dictionary compares names ignoring case); a name whose first or last character is not ASCII sets every bit. The
/// summary is the one the protocol noted while it filled the dictionary (<see cref="Seed"/>: HTTP/1.1 notes each name it
/// parses), or else built from the dictionary at the first lookup after a change of its count (the protocol fills the
/// dictionary directly, before the application runs, and only adds to it); changes made through this view keep it up to
/// date. A clear bit means absent; a set bit means "look": the answer always comes from the dictionary.
/// </remarks>
internal sealed class RequestHeaderView(HeaderDictionary inner) : IHeaderDictionary
{
    private readonly HeaderDictionary _inner = inner;
    private ulong _names;
    private int _summarizedCount = -1;
    // Changed through this view since the reset: a summary of the protocol's names no longer describes the dictionary.
    private bool _changed;

    /// <summary>Forgets the summary (a new request: the protocol refills the dictionary).</summary>
    public void Reset()
    {
        _summarizedCount = -1;
        _changed = false;
    }

    /// <summary>
    /// Takes the summary of the names the protocol added (<paramref name="names"/>, built with <see cref="Bit"/>) instead
    /// of building it at the next lookup, when the dictionary still holds the <paramref name="count"/> names it held when
    /// the protocol noted its last one and nothing was changed through this view since the reset (otherwise the summary is
    /// built as before).
    /// </summary>
    public void Seed(ulong names, int count)
    {
        if (_changed || count != _inner.Count)
            return;
        _names = names;
        _summarizedCount = count;
    }

    /// <summary>The summary bit of <paramref name="name"/>.</summary>
    internal static ulong Bit(string name)
    {
        if (name.Length == 0)
            return 1;
        var first = name[0];
        var last = name[^1];
        if (first > 0x7f || last > 0x7f)
            return ulong.MaxValue;
        return 1UL << (int)((uint)(name.Length * 31 + (first | 0x20) * 7 + (last | 0x20)) & 63);
    }

    private bool MayContain(string key)
    {
        var count = _inner.Count;
        if (count != _summarizedCount)
        {
            ulong names = 0;
            foreach (var header in _inner)
                names |= Bit(header.Key);
            _names = names;
            _summarizedCount = count;
        }
        return (_names & Bit(key)) != 0;
    }

    // A name added through this view (the dictionary held `before` names): its bit joins the summary if that was current;
    // one that was not (the protocol added names since) is dropped and rebuilt at the next lookup.
    private void Added(string key, int before)
    {
        _changed = true;
        if (_summarizedCount == before)
        {
            _names |= Bit(key);
            _summarizedCount = _inner.Count;
        }
        else
        {
            _summarizedCount = -1; // stale: never let a later count happen to match it
        }
    }

    /// <inheritdoc />
    public StringValues this[string key]
    {
        get => MayContain(key) ? _inner[key] : StringValues.Empty;
        set
        {
            var before = _inner.Count;
            _inner[key] = value;
            Added(key, before);
        }
    }

    // Rare (the dictionary's own interface indexer): answered by the dictionary, absent names included.
    StringValues IDictionary<string, StringValues>.this[string key]
    {
        get => ((IDictionary<string, StringValues>)_inner)[key];
        set => this[key] = value;
    }

    /// <inheritdoc />
    public long? ContentLength
    {
        get => MayContain(Microsoft.Net.Http.Headers.HeaderNames.ContentLength) ? _inner.ContentLength : null;
        set
        {
            var before = _inner.Count;
            _inner.ContentLength = value;
            Added(Microsoft.Net.Http.Headers.HeaderNames.ContentLength, before);
        }
    }

    /// <inheritdoc />
    public ICollection<string> Keys => _inner.Keys;

    /// <inheritdoc />
    public ICollection<StringValues> Values => _inner.Values;

    /// <inheritdoc />
    public int Count => _inner.Count;

    /// <inheritdoc />
    public bool IsReadOnly => _inner.IsReadOnly;

    /// <inheritdoc />
    public void Add(string key, StringValues value)
    {
        var before = _inner.Count;
        _inner.Add(key, value);
        Added(key, before);
    }

    /// <inheritdoc />
    public void Add(KeyValuePair<string, StringValues> item)
    {
        var before = _inner.Count;
        _inner.Add(item);
        Added(item.Key, before);
    }

    /// <inheritdoc />
    public void Clear()
    {
        _inner.Clear();
        _names = 0;
        _summarizedCount = 0;
        _changed = true;
    }

    /// <inheritdoc />
    public bool Contains(KeyValuePair<string, StringValues> item) => MayContain(item.Key) && _inner.Contains(item);

    /// <inheritdoc />
    public bool ContainsKey(string key) => MayContain(key) && _inner.ContainsKey(key);

    /// <inheritdoc />
    public void CopyTo(KeyValuePair<string, StringValues>[] array, int arrayIndex) => _inner.CopyTo(array, arrayIndex);

    /// <inheritdoc />
    public bool Remove(string key) => Removed(_inner.Count, _inner.Remove(key));

    /// <inheritdoc />
    public bool Remove(KeyValuePair<string, StringValues> item) => Removed(_inner.Count, _inner.Remove(item));

    // A removed name's bit stays set (a set bit only means "look"); a current summary takes the new count, so that a
    // name the protocol adds afterwards changes the count away from it again.
    private bool Removed(int before, bool removed)
    {
        _changed |= removed;
        if (removed)
            _summarizedCount = _summarizedCount == before ? _inner.Count : -1;
        return removed;
    }

    /// <inheritdoc />
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out StringValues value)
    {
        if (MayContain(key))
            return _inner.TryGetValue(key, out value);
        value = default;
        return false;
    }

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, StringValues>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, StringValues>>)_inner).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
