using System.Buffers;

namespace Pounce.Benchmarks;

/// <summary>Builds <see cref="ReadOnlySequence{T}"/> values over one or more segments, as a pipe hands them out.</summary>
internal static class BufferSegments
{
    /// <summary>A sequence over <paramref name="bytes"/> split at the given offsets (strictly increasing, inside the buffer).</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, params int[] offsets)
    {
        if (offsets.Length == 0)
            return new ReadOnlySequence<byte>(bytes);
        var start = 0;
        Segment? first = null;
        Segment? last = null;
        foreach (var end in offsets.Append(bytes.Length))
        {
            // Each segment gets its own array, like separate pipe buffers.
            var memory = bytes.AsSpan(start, end - start).ToArray();
            if (first is null)
                first = last = new Segment(memory, 0);
            else
                last = last!.Append(memory);
            start = end;
        }
        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
