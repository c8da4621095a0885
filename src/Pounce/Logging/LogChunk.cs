using System.Buffers.Binary;

namespace Pounce.Logging;

/// <summary>
/// Queued lines back to back in one buffer, each as <c>[stamp: 8 bytes][length: 4 bytes][line]</c>: the stamp is a
/// monotonic time (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>) its producer took before queueing it (when
/// it queued it, or for an access line the request's end, taken just before), by which
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
