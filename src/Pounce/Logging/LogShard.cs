using System.Runtime.InteropServices;

namespace Pounce.Logging;

/// <summary>
/// One of the <see cref="LogLineWriter"/>'s queues, one per processor: a producer queues its line in the shard of the
/// processor it runs on, so producers on different cores neither wait for each other nor pass the queue's cache lines
/// back and forth. Everything here is guarded by <see cref="Gate"/>, except <see cref="Pending"/> (the writer thread's).
/// </summary>
internal sealed class LogShard
{
    public readonly Lock Gate = new();

    /// <summary>The chunk being filled, or null.</summary>
    public LogChunk? Current;

    /// <summary>Filled chunks, oldest first.</summary>
    public readonly Queue<LogChunk> Full = new();

    /// <summary>Lines in <see cref="Current"/> and <see cref="Full"/>.</summary>
    public int QueuedLines;

    /// <summary>Chunks the writer thread took from this shard and has not finished writing, oldest first (writer thread only).</summary>
    public readonly Queue<LogChunk> Pending = new();

    // Keeps the fields producers on another core write away from this shard's (allocated next to each other).
#pragma warning disable CS0169, IDE0051 // never read: it is only there to take room
    private CacheLinePadding _padding;
#pragma warning restore CS0169, IDE0051

    [StructLayout(LayoutKind.Sequential, Size = 128)]
    private struct CacheLinePadding
    {
    }

    /// <summary>Moves every queued chunk to <see cref="Pending"/> (under <see cref="Gate"/>).</summary>
    public void TakeAll()
    {
        while (Full.Count > 0)
            Pending.Enqueue(Full.Dequeue());
        if (Current is { Lines: > 0 } current)
        {
            Pending.Enqueue(current);
            Current = null;
        }
        QueuedLines = 0;
    }
}
