using System.Runtime.InteropServices;
using System.Text;

namespace Pounce.Cli.Logs;

/// <summary>
/// What the ends of requests say, from one source: the lifecycle events (<c>ResponseCompleted</c>,
/// <c>ClientDisconnected</c>) or the access log (a <c>499</c> is a client that went away). Counts, status classes,
/// latency percentiles overall and per path, slow requests, disconnects by client and path, requests per worker.
/// Memory is bounded: at most <see cref="MaxPaths"/> paths (with a histogram for the first <see cref="MaxPathHistograms"/>)
/// and <see cref="MaxClients"/> client addresses are told apart; the rest are "(other)".
/// </summary>
internal sealed class RequestStats
{
    public const int MaxPaths = 10_000;
    public const int MaxPathHistograms = 256;
    public const int MaxClients = 10_000;
    public const int MaxWorkers = 4096;

    private readonly long _slowThresholdMicros; // -1: the line's own slow flag decides
    private readonly int _keepSlowest;
    private readonly PriorityQueue<SlowRequest, long> _slowest = new();

    public RequestStats(long slowThresholdMicros, int keepSlowest)
    {
        _slowThresholdMicros = slowThresholdMicros;
        _keepSlowest = keepSlowest;
    }

    /// <summary>The slow rule: a threshold in microseconds, or -1 for the <c>slow</c> flag.</summary>
    public long SlowThresholdMicros => _slowThresholdMicros;

    public long Requests { get; private set; }

    /// <summary>Requests by status class: index 1..5 for 1xx..5xx, 0 for anything else.</summary>
    public long[] StatusClasses { get; } = new long[6];

    public long Disconnects { get; private set; }

    public long DisconnectsDuringStreaming { get; private set; }

    public long Aborted { get; private set; }

    public long Slow { get; private set; }

    public long BytesSent { get; private set; }

    public LatencyHistogram Latency { get; } = new();

    public Utf8Keys Paths { get; } = new(MaxPaths);

    public PathCounters Other { get; } = new();

    public List<PathCounters> PerPath { get; } = [];

    public Utf8Keys Clients { get; } = new(MaxClients);

    public Dictionary<int, long> DisconnectsByClient { get; } = [];

    public Dictionary<long, long> RequestsByWorker { get; } = [];

    public Dictionary<long, long> BytesByWorker { get; } = [];

    public Dictionary<long, long> DisconnectsByWorker { get; } = [];

    public Utf8Keys Versions { get; } = new(16);

    public Dictionary<int, long> ByVersion { get; } = [];

    /// <summary>Counters of one path.</summary>
    internal sealed class PathCounters
    {
        public long Requests;
        public long ServerErrors;
        public long Disconnects;
        public long Slow;
        public LatencyHistogram? Latency;
    }

    /// <summary>Counts one line that ends a request (the caller decides it belongs to this source).</summary>
    public void Add(ref LogRecord r)
    {
        var disconnected = r.Kind == LineKind.ClientDisconnected || (r.Kind == LineKind.Access && r.Status == 499);
        Requests++;
        var status = disconnected && r.Status < 0 ? 499 : r.Status;
        StatusClasses[status is >= 100 and < 600 ? (int)(status / 100) : 0]++;
        if (r.BytesSent > 0)
            BytesSent += r.BytesSent;
        if (!r.Aborted.IsEmpty)
            Aborted++;
        var pathId = r.Path.IsEmpty ? -1 : Paths.GetOrAdd(r.Path);
        var path = pathId < 0 ? Other : PathAt(pathId);
        path.Requests++;
        if (status is >= 500 and < 600)
            path.ServerErrors++;
        if (r.WorkerId >= 0)
        {
            Bump(RequestsByWorker, r.WorkerId, 1);
            if (r.BytesSent > 0)
                Bump(BytesByWorker, r.WorkerId, r.BytesSent);
        }
        if (!r.HttpVersion.IsEmpty)
        {
            CollectionsMarshal.GetValueRefOrAddDefault(ByVersion, Versions.GetOrAdd(r.HttpVersion), out _)++;
        }
        if (disconnected)
        {
            Disconnects++;
            if (r.DuringStreaming)
                DisconnectsDuringStreaming++;
            path.Disconnects++;
            var client = r.ClientAddr.IsEmpty ? -1 : Clients.GetOrAdd(r.ClientAddr);
            CollectionsMarshal.GetValueRefOrAddDefault(DisconnectsByClient, client, out _)++;
            if (r.WorkerId >= 0)
                Bump(DisconnectsByWorker, r.WorkerId, 1);
        }
        if (r.DurationMicros >= 0 && r.Kind != LineKind.ClientDisconnected)
        {
            Latency.Add(r.DurationMicros);
            path.Latency?.Add(r.DurationMicros);
        }
        var slow = _slowThresholdMicros >= 0 ? r.DurationMicros >= _slowThresholdMicros : r.Slow;
        if (slow)
        {
            Slow++;
            path.Slow++;
            KeepIfSlowest(ref r, disconnected);
        }
    }

    private PathCounters PathAt(int id)
    {
        while (PerPath.Count <= id)
            PerPath.Add(new PathCounters { Latency = PerPath.Count < MaxPathHistograms ? new LatencyHistogram() : null });
        return PerPath[id];
    }

    private static void Bump(Dictionary<long, long> map, long key, long by)
    {
        if (map.Count >= MaxWorkers && !map.ContainsKey(key))
            key = -1;
        CollectionsMarshal.GetValueRefOrAddDefault(map, key, out _) += by;
    }

    private void KeepIfSlowest(ref LogRecord r, bool disconnected)
    {
        if (_keepSlowest <= 0)
            return;
        if (_slowest.Count >= _keepSlowest)
        {
            _slowest.TryPeek(out _, out var fastestKept);
            if (r.DurationMicros <= fastestKept)
                return;
            _slowest.Dequeue();
        }
        var entry = new SlowRequest(r.Timestamp, Text(r.RequestId), r.ConnectionId, r.WorkerId, Text(r.Method), Utf8Keys.Display(r.Path),
            r.Status, r.DurationMicros, disconnected);
        _slowest.Enqueue(entry, r.DurationMicros);
    }

    private static string Text(ReadOnlySpan<byte> s) => Encoding.UTF8.GetString(s);

    /// <summary>The slowest requests kept, slowest first.</summary>
    public List<SlowRequest> Slowest()
    {
        var list = _slowest.UnorderedItems.Select(x => x.Element).ToList();
        list.Sort((a, b) => b.DurationMicros.CompareTo(a.DurationMicros));
        return list;
    }
}
