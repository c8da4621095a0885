namespace Pounce.Cli.Logs;

/// <summary>
/// What the connection events say: connections opened and completed, TLS, the final protocol, why they ended
/// (<c>reason</c> and <c>detail</c>), requests per connection (keep-alive reuse), connections per worker.
/// </summary>
internal sealed class ConnectionStats
{
    public long Opened { get; private set; }

    public long Completed { get; private set; }

    public long Tls { get; private set; }

    public long Upgraded { get; private set; }

    public Utf8Keys Protocols { get; } = new(64);

    public Dictionary<int, long> ByProtocol { get; } = [];

    /// <summary>Close reasons: the key is <c>reason</c> then <c>/</c> then <c>detail</c>.</summary>
    public Utf8Keys Reasons { get; } = new(1024);

    public Dictionary<int, long> ByReason { get; } = [];

    public LatencyHistogram RequestsPerConnection { get; } = new();

    public LatencyHistogram Duration { get; } = new();

    public Dictionary<long, long> OpenedByWorker { get; } = [];

    public void Add(ref LogRecord r)
    {
        switch (r.Kind)
        {
            case LineKind.ConnectionOpened:
                Opened++;
                if (r.Tls)
                    Tls++;
                if (r.WorkerId >= 0 && (OpenedByWorker.Count < RequestStats.MaxWorkers || OpenedByWorker.ContainsKey(r.WorkerId)))
                    OpenedByWorker[r.WorkerId] = OpenedByWorker.GetValueOrDefault(r.WorkerId) + 1;
                break;
            case LineKind.ConnectionUpgraded:
                Upgraded++;
                break;
            case LineKind.ConnectionCompleted:
                Completed++;
                var protocol = Protocols.GetOrAdd(r.Protocol.IsEmpty ? "unknown"u8 : r.Protocol);
                ByProtocol[protocol] = ByProtocol.GetValueOrDefault(protocol) + 1;
                Span<byte> key = stackalloc byte[128];
                var reason = r.Reason.IsEmpty ? "unknown"u8 : r.Reason;
                var n = Math.Min(reason.Length, 63);
                reason[..n].CopyTo(key);
                key[n++] = (byte)'/';
                var detail = r.Detail[..Math.Min(r.Detail.Length, 64)];
                detail.CopyTo(key[n..]);
                n += detail.Length;
                var id = Reasons.GetOrAdd(key[..n]);
                ByReason[id] = ByReason.GetValueOrDefault(id) + 1;
                if (r.RequestsServed >= 0)
                    RequestsPerConnection.Add(r.RequestsServed);
                if (r.DurationMicros >= 0)
                    Duration.Add(r.DurationMicros);
                break;
        }
    }
}
