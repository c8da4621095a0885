using System.Buffers.Binary;

namespace Pounce.Logging;

/// <summary>
/// Queued lines back to back in one buffer, each as <c>[stamp: 8 bytes][length: 4 bytes][line]</c> (or, with the
/// length's top bit set, a text access line's record, which the writer thread formats: see <see cref="TextAccessLine"/>): the stamp is a
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

    /// <summary>The top bit of an entry's length: the entry is an access record rather than a line.</summary>
    private const int RecordBit = int.MinValue;

    /// <summary>Where the next entry's bytes go (then <see cref="Commit"/>); the caller made sure they fit.</summary>
    public Span<byte> Next => Buffer.AsSpan(Used + HeaderSize);

    /// <summary>Appends the entry of <paramref name="length"/> bytes written at <see cref="Next"/>, with its stamp.</summary>
    public void Commit(long stamp, int length, bool record)
    {
        var span = Buffer.AsSpan(Used);
        BinaryPrimitives.WriteInt64LittleEndian(span, stamp);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], record ? length | RecordBit : length);
        Used += HeaderSize + length;
        Lines++;
    }

    /// <summary>Whether a line not consumed yet is left.</summary>
    public bool HasUnread => Read < Used;

    /// <summary>Stamp of the next line not consumed yet (see <see cref="HasUnread"/>).</summary>
    public long NextStamp => BinaryPrimitives.ReadInt64LittleEndian(Buffer.AsSpan(Read));

    /// <summary>The next entry not consumed yet, which it consumes: a line, or an access record.</summary>
    public ReadOnlySpan<byte> TakeNext(out bool record)
    {
        var length = BinaryPrimitives.ReadInt32LittleEndian(Buffer.AsSpan(Read + 8));
        record = length < 0;
        length &= ~RecordBit;
        var entry = Buffer.AsSpan(Read + HeaderSize, length);
        Read += HeaderSize + length;
        return entry;
    }

    /// <summary>Empties the chunk for reuse.</summary>
    public void Clear()
    {
        Used = 0;
        Lines = 0;
        Read = 0;
    }
}
