using System.Net;
using BenchmarkDotNet.Attributes;
using Pounce.Connections;

namespace Pounce.Benchmarks;

/// <summary>
/// Every connection ends with exactly one close reason, decided by <see cref="ConnectionEnds.Describe"/>
/// from the first reported fact; the ConnectionCompleted event reads it. It runs once per connection, so
/// with short connections (Connection: close, HTTP/1.0) it is on the hot path.
/// </summary>
public class CloseReasonBenchmarks
{
    private const int Facts = 64;
    private static readonly IPEndPoint Remote = new(IPAddress.Loopback, 50_000);
    private static readonly IPEndPoint Local = new(IPAddress.Loopback, 8000);

    // Every ConnectionEnd value, repeated to fill Facts slots, so no branch is always predicted.
    private readonly ConnectionEnd[] _ends = Enumerable.Range(0, Facts)
        .Select(i => Enum.GetValues<ConnectionEnd>()[i % Enum.GetValues<ConnectionEnd>().Length])
        .ToArray();

    private readonly CloseReason[] _reasons;

    public CloseReasonBenchmarks() => _reasons = _ends.Select(e => ConnectionEnds.Describe(e).Reason).ToArray();

    /// <summary>The contract's reason and detail for one fact (averaged over all facts).</summary>
    [Benchmark(OperationsPerInvoke = Facts)]
    public int Describe()
    {
        var sum = 0;
        foreach (var end in _ends)
        {
            var (reason, detail) = ConnectionEnds.Describe(end);
            sum += (int)reason + detail.Length;
        }
        return sum;
    }

    /// <summary>The reason's lower-case name, as written into the event (averaged over the reasons of all facts).</summary>
    [Benchmark(OperationsPerInvoke = Facts)]
    public int ReasonName()
    {
        var sum = 0;
        foreach (var reason in _reasons)
            sum += ConnectionEnds.Name(reason).Length;
        return sum;
    }

    /// <summary>
    /// The per-connection record as the transport creates it, with one end fact reported and the reason and
    /// detail read back: the allocation every accepted connection pays for its lifecycle bookkeeping.
    /// </summary>
    [Benchmark]
    public string ConnectionRecordLifetime()
    {
        var connection = new ConnectionInfo(42, 1, Remote, Local);
        connection.ReportEnd(ConnectionEnd.ClientClosedIdle);
        connection.ReportEnd(ConnectionEnd.PeerReset); // loses: the first fact wins
        return connection.Reason == CloseReason.Complete ? connection.Detail : "";
    }
}
