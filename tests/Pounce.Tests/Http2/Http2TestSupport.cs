using System.Buffers;
using System.Text;
using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>Collects decoded fields as strings (tests only; the real handlers avoid allocating).</summary>
internal sealed class CollectingHeaderHandler : IHpackHeaderHandler
{
    public List<(string Name, string Value)> Headers { get; } = [];

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
        Headers.Add((Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
}

/// <summary>Counts fields and bytes without keeping them.</summary>
internal sealed class CountingHeaderHandler : IHpackHeaderHandler
{
    public int Count { get; private set; }

    public long Bytes { get; private set; }

    public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Count++;
        Bytes += name.Length + value.Length;
    }
}

internal sealed class TestSegment : ReadOnlySequenceSegment<byte>
{
    public TestSegment(ReadOnlyMemory<byte> memory) => Memory = memory;

    public TestSegment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new TestSegment(memory) { RunningIndex = RunningIndex + Memory.Length };
        Next = next;
        return next;
    }
}

internal static class Http2TestSupport
{
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    public static byte[] Ascii(string s) => Encoding.Latin1.GetBytes(s);

    /// <summary>Builds a sequence with one segment per chunk of <paramref name="chunkSize"/> bytes.</summary>
    public static ReadOnlySequence<byte> Chunked(byte[] data, int chunkSize)
    {
        if (data.Length <= chunkSize)
        {
            return new ReadOnlySequence<byte>(data);
        }

        var first = new TestSegment(data.AsMemory(0, chunkSize));
        TestSegment last = first;
        for (int offset = chunkSize; offset < data.Length; offset += chunkSize)
        {
            last = last.Append(data.AsMemory(offset, Math.Min(chunkSize, data.Length - offset)));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    public static List<(string Name, string Value)> Decode(HpackDecoder decoder, byte[] block)
    {
        var handler = new CollectingHeaderHandler();
        decoder.Decode(block, endHeaders: true, handler);
        return handler.Headers;
    }

    public static List<(string Name, string Value)> DynamicEntries(HpackDynamicTable table)
    {
        var entries = new List<(string, string)>();
        for (int i = 1; i <= table.Count; i++)
        {
            entries.Add((Encoding.Latin1.GetString(table.GetName(i)), Encoding.Latin1.GetString(table.GetValue(i))));
        }

        return entries;
    }
}
