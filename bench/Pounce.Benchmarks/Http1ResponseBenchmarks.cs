using System.Buffers;
using BenchmarkDotNet.Attributes;
using Pounce.Connections;
using Pounce.Http1;
using Pounce.Transport;

namespace Pounce.Benchmarks;

/// <summary>
/// HTTP/1.1 response writing on a detached connection. Writing a head marks the response started (its headers
/// become read-only), so every invocation first parses the TechEmpower GET again to reset the request: the
/// parse is part of each measured number, and <see cref="ParseOnly"/> measures it alone so the cost of the
/// response part is the difference. Each response ends with draining the connection's output pipe
/// (<c>FlushAsync</c>, which completes synchronously: nobody is waiting on the reader; then
/// <c>OutputReader.TryRead</c> + <c>AdvanceTo</c>), which is also in the number; the pipe's reader side
/// only sees bytes after a flush.
/// </summary>
public class Http1ResponseBenchmarks
{
    private const string TextPlain = "text/plain";
    private const string ContentType = "Content-Type";

    private static readonly byte[] Kilobyte = Enumerable.Range(0, 1024).Select(i => (byte)('a' + i % 26)).ToArray();

    private Http1Connection _connection = null!;
    private SocketTransport _transport = null!;
    private ReadOnlySequence<byte> _get;

    [GlobalSetup]
    public void Setup()
    {
        _connection = Http1Connection.CreateDetached(new ServerConfig(), out _transport);
        _get = new ReadOnlySequence<byte>(RequestHeads.TechEmpower);

        var end = _connection.ParseHeadDetached(_get);
        if (end != ConnectionEnd.None)
            throw new InvalidOperationException($"The request head was rejected: {end}");

        // Check once that each benchmark writes what it claims (a real response), not an error path.
        var head = System.Text.Encoding.ASCII.GetString(Capture(WriteHead));
        if (!head.StartsWith("HTTP/1.1 200 OK\r\n", StringComparison.Ordinal) || !head.Contains("Content-Length: 13\r\n", StringComparison.Ordinal)
            || !head.Contains("Content-Type: text/plain\r\n", StringComparison.Ordinal) || !head.EndsWith("\r\n\r\n", StringComparison.Ordinal))
            throw new InvalidOperationException("Unexpected response head: " + head);
        var chunked = System.Text.Encoding.ASCII.GetString(Capture(WriteChunked));
        if (!chunked.Contains("Transfer-Encoding: chunked\r\n", StringComparison.Ordinal) || !chunked.Contains("\r\n400\r\n", StringComparison.Ordinal)
            || !chunked.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal))
            throw new InvalidOperationException("Unexpected chunked response: " + chunked);
    }

    [GlobalCleanup]
    public void Cleanup() => Drain();

    private byte[] Capture(Action write)
    {
        Drain();
        write();
        Flush();
        if (!_transport.OutputReader.TryRead(out var result))
            return [];
        var bytes = result.Buffer.ToArray();
        _transport.OutputReader.AdvanceTo(result.Buffer.End);
        return bytes;
    }

    private void WriteHead()
    {
        _connection.ParseHeadDetached(_get);
        _connection.ResponseHeadersDetached[ContentType] = TextPlain;
        _connection.WriteResponseHeadDetached(13);
    }

    private void WriteChunked()
    {
        _connection.ParseHeadDetached(_get);
        _connection.ResponseHeadersDetached[ContentType] = TextPlain;
        _connection.WriteResponseHeadDetached(null);
        for (var i = 0; i < 4; i++)
            _connection.WriteBodyDetached(Kilobyte);
        _connection.EndResponseDetached();
    }

    /// <summary>Parsing the TechEmpower GET alone: the reset every response benchmark below also pays.</summary>
    [Benchmark(Baseline = true)]
    public ConnectionEnd ParseOnly() => _connection.ParseHeadDetached(_get);

    /// <summary>
    /// Parse + <c>Content-Type: text/plain</c> + the response head with <c>Content-Length: 13</c> (status line,
    /// Content-Type, the cached Date line, Server, Content-Length) + drain. No body: the head alone.
    /// </summary>
    [Benchmark]
    public long ParseAndWriteHead()
    {
        WriteHead();
        return Drain();
    }

    /// <summary>
    /// Parse + a chunked response (HTTP/1.1, no length): head with <c>Transfer-Encoding: chunked</c>, 4 KiB of
    /// body written as 4 chunks of 1 KiB, the last chunk, then drain.
    /// </summary>
    [Benchmark]
    public long ParseAndWriteChunked4KiB()
    {
        WriteChunked();
        return Drain();
    }

    private void Flush()
    {
        // Completes synchronously: the output stays far below the pipe's pause threshold and nobody awaits the reader.
        var flush = _transport.Output.FlushAsync();
        if (!flush.IsCompleted)
            throw new InvalidOperationException("The output flush did not complete synchronously");
        _ = flush.Result;
    }

    private long Drain()
    {
        Flush();
        if (!_transport.OutputReader.TryRead(out var result))
            return 0;
        var length = result.Buffer.Length;
        _transport.OutputReader.AdvanceTo(result.Buffer.End);
        return length;
    }
}
