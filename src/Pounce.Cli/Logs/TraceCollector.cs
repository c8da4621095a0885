using System.Text;

namespace Pounce.Cli.Logs;

/// <summary>One line of a trace: where it was, when, and the line itself.</summary>
internal sealed record TraceLine(string Source, long LineNumber, long Timestamp, string Line, bool IsText);

/// <summary>
/// Collects the story of one connection or one request, in order: for a connection id every line carrying it; for a
/// request id (<c>12-3</c>) every line carrying it (its events, its access line, the application's lines logged while
/// it ran) and the connection's own events; for a W3C trace id every line carrying it.
/// </summary>
internal sealed class TraceCollector
{
    private readonly long _connectionId = -1;
    private readonly byte[]? _requestId;
    private readonly byte[]? _traceId;

    public TraceCollector(string id)
    {
        Id = id;
        if (long.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var c))
        {
            _connectionId = c;
        }
        else if (id.Length == 32 && id.All(char.IsAsciiHexDigitLower))
        {
            _traceId = Encoding.ASCII.GetBytes(id);
        }
        else
        {
            _requestId = Encoding.UTF8.GetBytes(id);
            var dash = id.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && long.TryParse(id.AsSpan(0, dash), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out c))
                _connectionId = c;
        }
    }

    public string Id { get; }

    /// <summary>What the id names: <c>connection</c>, <c>request</c> or <c>trace</c>.</summary>
    public string IdKind => _traceId is not null ? "trace" : _requestId is not null ? "request" : "connection";

    public List<TraceLine> Lines { get; } = [];

    public void Offer(ref LogRecord r, ReadOnlySpan<byte> line, string source, long lineNumber)
    {
        bool match;
        if (_traceId is not null)
            match = r.TraceId.SequenceEqual(_traceId);
        else if (_requestId is not null)
            match = r.RequestId.SequenceEqual(_requestId)
                || (r.ConnectionId == _connectionId && r.Kind is LineKind.ConnectionOpened or LineKind.ConnectionCompleted or LineKind.ConnectionUpgraded && r.RequestId.IsEmpty);
        else
            match = r.ConnectionId == _connectionId;
        if (match)
            Lines.Add(new TraceLine(source, lineNumber, r.Timestamp, Encoding.UTF8.GetString(line), r.IsText));
    }

    /// <summary>The lines in time order (lines without a time keep their place after the one before).</summary>
    public List<TraceLine> Ordered()
    {
        var indexed = Lines.Select((l, i) => (l, i)).ToList();
        long last = 0;
        var keyed = new List<(TraceLine Line, long Time, int Index)>();
        foreach (var (l, i) in indexed)
        {
            if (l.Timestamp > 0)
                last = l.Timestamp;
            keyed.Add((l, l.Timestamp > 0 ? l.Timestamp : last, i));
        }
        keyed.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.Index.CompareTo(b.Index));
        return keyed.ConvertAll(k => k.Line);
    }
}
