using System.Buffers;
using BenchmarkDotNet.Attributes;
using Pounce.Connections;
using Pounce.Http1;
using Pounce.Transport;

namespace Pounce.Benchmarks;

/// <summary>
/// HTTP/1.1 request-head parsing as the request loop does it: <see cref="Http1Connection.ParseHeadDetached"/> resets
/// the request's features and head state, parses the request line and every header line into the request's
/// header collection, then validates the head (Host, framing, keep-alive). One connection is reused, as a
/// keep-alive connection reuses its own; every call parses the whole head again.
/// </summary>
/// <remarks>
/// Known headers reuse the previous request's value string when the bytes are identical, and every header here is
/// a known one: repeating the same head is the keep-alive best case (0 B). New values or unknown names allocate.
/// </remarks>
public class Http1ParsingBenchmarks
{
    private Http1Connection _connection = null!;
    private SocketTransport _transport = null!;
    private ReadOnlySequence<byte> _techEmpower;
    private ReadOnlySequence<byte> _techEmpowerSplit;
    private ReadOnlySequence<byte> _browser;
    private ReadOnlySequence<byte> _browserSplit;

    [GlobalSetup]
    public void Setup()
    {
        _connection = Http1Connection.CreateDetached(new ServerConfig(), out _transport);
        _techEmpower = new ReadOnlySequence<byte>(RequestHeads.TechEmpower);
        _techEmpowerSplit = BufferSegments.Split(RequestHeads.TechEmpower, RequestHeads.ThreeWaySplit(RequestHeads.TechEmpower));
        _browser = new ReadOnlySequence<byte>(RequestHeads.Browser);
        _browserSplit = BufferSegments.Split(RequestHeads.Browser, RequestHeads.ThreeWaySplit(RequestHeads.Browser));

        // A benchmark of the rejection path would be meaningless: every head must parse, with all its fields.
        Check(_techEmpower, 3);
        Check(_techEmpowerSplit, 3);
        Check(_browser, 17);
        Check(_browserSplit, 17);
    }

    private void Check(in ReadOnlySequence<byte> head, int headerCount)
    {
        var end = _connection.ParseHeadDetached(head);
        if (end != ConnectionEnd.None)
            throw new InvalidOperationException($"The benchmark head was rejected: {end}");
        if (_connection.RequestHeadersDetached.Count != headerCount)
            throw new InvalidOperationException($"Expected {headerCount} request headers, parsed {_connection.RequestHeadersDetached.Count}");
        if (_techEmpowerSplit.IsSingleSegment || _browserSplit.IsSingleSegment)
            throw new InvalidOperationException("The split heads must span several segments");
    }

    /// <summary>The TechEmpower plaintext GET (3 headers, 104 bytes), in one segment.</summary>
    [Benchmark(Baseline = true)]
    public ConnectionEnd TechEmpowerGet() => _connection.ParseHeadDetached(_techEmpower);

    /// <summary>The TechEmpower GET split across 3 segments: lines crossing a boundary are copied first.</summary>
    [Benchmark]
    public ConnectionEnd TechEmpowerGet_3Segments() => _connection.ParseHeadDetached(_techEmpowerSplit);

    /// <summary>A browser navigation GET with 17 headers (User-Agent, Accept*, Cookie, Sec-Fetch-*, sec-ch-ua*, Referer...).</summary>
    [Benchmark]
    public ConnectionEnd BrowserGet() => _connection.ParseHeadDetached(_browser);

    /// <summary>The browser GET split across 3 segments.</summary>
    [Benchmark]
    public ConnectionEnd BrowserGet_3Segments() => _connection.ParseHeadDetached(_browserSplit);
}
