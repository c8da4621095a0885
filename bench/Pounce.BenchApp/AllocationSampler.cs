using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Text;

namespace Pounce.BenchApp;

/// <summary>
/// Profiling aid (off unless BENCH_ALLOC_TYPES=1): listens to the runtime's GC AllocationTick events (one per ~100 KB
/// allocated, naming the type of the object that crossed the threshold) and counts them by type, so the types that
/// dominate the allocations of a run can be listed without an external profiler. A sample, not an exact count.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private readonly ConcurrentDictionary<string, long> _bytesByType = new(StringComparer.Ordinal);

    /// <summary>Starts sampling when BENCH_ALLOC_TYPES=1; null otherwise.</summary>
    public static AllocationSampler? StartIfRequested() =>
        Environment.GetEnvironmentVariable("BENCH_ALLOC_TYPES") == "1" ? new AllocationSampler() : null;

    /// <summary>Forgets what was counted so far (called at the start of a measured run).</summary>
    public void Reset() => _bytesByType.Clear();

    /// <summary>The sampled types, largest first, one per line as "bytes type".</summary>
    public string Report(int top)
    {
        var rows = _bytesByType.ToArray();
        Array.Sort(rows, (a, b) => b.Value.CompareTo(a.Value));
        var sb = new StringBuilder();
        for (var i = 0; i < rows.Length && i < top; i++)
            sb.Append("alloc_type ").Append(rows[i].Value).Append(' ').Append(rows[i].Key).Append('\n');
        return sb.ToString();
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: AllocationTick is verbose
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventName is null || !eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.Payload is null)
            return;
        var nameIndex = eventData.PayloadNames!.IndexOf("TypeName");
        var amountIndex = eventData.PayloadNames.IndexOf("AllocationAmount64");
        if (nameIndex < 0)
            return;
        var type = eventData.Payload[nameIndex] as string ?? "?";
        var amount = amountIndex >= 0 && eventData.Payload[amountIndex] is ulong a ? (long)a : 100_000;
        _bytesByType.AddOrUpdate(type, amount, (_, v) => v + amount);
    }
}
