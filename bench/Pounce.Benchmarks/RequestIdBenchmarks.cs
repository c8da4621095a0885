using BenchmarkDotNet.Attributes;
using Pounce.Connections;

namespace Pounce.Benchmarks;

/// <summary>
/// The request id (<c>connection_id-sequence</c>) is written into every lifecycle event and access-log line
/// of a request, so formatting it must cost next to nothing and allocate nothing on the byte and char paths.
/// </summary>
public class RequestIdBenchmarks
{
    private readonly RequestInfo _request = new();
    private readonly byte[] _bytes = new byte[64];
    private readonly char[] _chars = new char[64];

    /// <summary>A young server (small ids) and a long-running one (large ids, many requests per connection).</summary>
    [Params(1L, 9_876_543_210L)]
    public long ConnectionId { get; set; }

    [GlobalSetup]
    public void Setup() => _request.Reset(ConnectionId, ConnectionId == 1 ? 1 : 12_345, 0);

    [Benchmark(Baseline = true)]
    public int FormatUtf8()
    {
        _request.TryFormatRequestId(_bytes, out var written);
        return written;
    }

    [Benchmark]
    public int FormatChars()
    {
        _request.TryFormatRequestId(_chars, out var written);
        return written;
    }

    /// <summary>The allocating form, for loggers that need a string: the cost an observer pays by asking for it.</summary>
    [Benchmark]
    public string AsString() => _request.RequestId;
}
