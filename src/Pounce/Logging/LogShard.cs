using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Pounce.Logging;

/// <summary>
/// Queued lines back to back in one buffer, each as <c>[stamp: 8 bytes][length: 4 bytes][line]</c>: the stamp is the
/// monotonic time (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>) at which its producer queued it, by which
/// the writer thread merges the chunks of all shards back into one order.
/// </summary>
internal sealed class LogChunk(byte[] buffer)
{
    /// <summary>Bytes before each line: its stamp and its length.</summary>
    public const int HeaderSize = 12;

    public readonly byte[] Buffer = buffer;

    /// <summary>Bytes appended (producers, under their shard's lock).</summary>
    public int Used;

    /// <summary>Lines appended (producers, under their shard's lock).</summary>
    public int Lines;

    /// <summary>Bytes the writer thread has consumed (writer thread only, once the chunk was taken).</summary>
    public int Read;

    /// <summary>Appends one line with its stamp; the caller made sure it fits.</summary>
    public void Append(long stamp, ReadOnlySpan<byte> line)
    {
        var span = Buffer.AsSpan(Used);
        BinaryPrimitives.WriteInt64LittleEndian(span, stamp);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], line.Length);
        line.CopyTo(span[HeaderSize..]);
        Used += HeaderSize + line.Length;
        Lines++;
    }

    /// <summary>Whether a line not consumed yet is left.</summary>
    public bool HasUnread => Read < Used;

    /// <summary>Stamp of the next line not consumed yet (see <see cref="HasUnread"/>).</summary>
    public long NextStamp => BinaryPrimitives.ReadInt64LittleEndian(Buffer.AsSpan(Read));

    /// <summary>The next line not consumed yet, which it consumes.</summary>
    public ReadOnlySpan<byte> TakeNext()
    {
        var length = BinaryPrimitives.ReadInt32LittleEndian(Buffer.AsSpan(Read + 8));
        var line = Buffer.AsSpan(Read + HeaderSize, length);
        Read += HeaderSize + length;
        return line;
    }

    /// <summary>Empties the chunk for reuse.</summary>
    public void Clear()
    {
        Used = 0;
        Lines = 0;
        Read = 0;
    }
}

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
