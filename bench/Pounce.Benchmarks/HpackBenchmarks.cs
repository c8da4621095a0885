using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Pounce.Http2;

namespace Pounce.Benchmarks;

/// <summary>
/// HPACK (RFC 7541) and HTTP/2 frame reading. Decoding goes through <see cref="HpackDecoder.DecodeInto"/> with a
/// reused struct handler (the allocation-free path); the decoder is reused across invocations like a
/// connection's. Blocks:
/// <list type="bullet">
/// <item>"FirstRequest": a browser's first request on a connection: static-table hits for :method/:scheme, every
/// other field a literal with incremental indexing (so each decode inserts 17 entries into the dynamic table,
/// evicting the previous copies: inserting allocates one array per entry).</item>
/// <item>"NotIndexed": the same fields as literals without indexing: no table change, nothing allocated.</item>
/// <item>"RepeatRequest": the same request again on the same connection, as the encoder sends it once the fields
/// are in its table: one indexed reference per field (dynamic-table hits).</item>
/// </list>
/// "Huffman" blocks have every literal string Huffman-coded (as browsers send them), "Raw" ones plain octets.
/// Encoding uses <see cref="HpackEncoder"/> (Huffman whenever shorter; it has no switch to turn Huffman off).
/// </summary>
public class HpackBenchmarks
{
    private static readonly (string Name, string Value)[] RequestFields =
    [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "www.example.com"),
        (":path", "/articles/2026/11/http-servers?page=2&sort=recent"),
        ("cache-control", "max-age=0"),
        ("sec-ch-ua", "\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\", \"Google Chrome\";v=\"131\""),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", "\"Linux\""),
        ("upgrade-insecure-requests", "1"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-user", "?1"),
        ("sec-fetch-dest", "document"),
        ("referer", "https://www.example.com/articles/2026/11/http-servers?page=1&sort=recent"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-US,en;q=0.9,fr;q=0.8"),
        ("cookie", "session=5f2b8c1e9a7d4e3f8b6a0c2d1e4f7a9b; theme=dark; _ga=GA1.1.1234567890.1732500000"),
    ];

    private static readonly (byte[] Name, byte[] Value)[] ResponseFields =
    [
        ("content-type"u8.ToArray(), "text/html; charset=utf-8"u8.ToArray()),
        ("content-length"u8.ToArray(), "12345"u8.ToArray()),
        ("date"u8.ToArray(), "Wed, 25 Nov 2026 03:00:00 GMT"u8.ToArray()),
        ("server"u8.ToArray(), "pounce"u8.ToArray()),
        ("cache-control"u8.ToArray(), "private, max-age=60"u8.ToArray()),
        ("vary"u8.ToArray(), "Accept-Encoding"u8.ToArray()),
        ("x-request-id"u8.ToArray(), "1048577-42"u8.ToArray()),
    ];

    private byte[] _firstHuffman = null!;
    private byte[] _firstRaw = null!;
    private byte[] _notIndexedHuffman = null!;
    private byte[] _notIndexedRaw = null!;
    private byte[] _repeat = null!;

    private HpackDecoder _decoder = null!;
    private HpackDecoder _repeatDecoder = null!;
    private FieldCounter _handler;

    private HpackEncoder _encoder = null!;
    private HpackEncoder _noTableEncoder = null!;
    private readonly ArrayBufferWriter<byte> _output = new(4096);

    private ReadOnlySequence<byte> _frames;
    private int _frameCount;

    [GlobalSetup]
    public void Setup()
    {
        var fields = RequestFields.Select(f => (Encoding.ASCII.GetBytes(f.Name), Encoding.ASCII.GetBytes(f.Value))).ToArray();
        _firstHuffman = Block(fields, indexing: true, huffman: true);
        _firstRaw = Block(fields, indexing: true, huffman: false);
        _notIndexedHuffman = Block(fields, indexing: false, huffman: true);
        _notIndexedRaw = Block(fields, indexing: false, huffman: false);
        if (_firstHuffman.Length >= _firstRaw.Length)
            throw new InvalidOperationException("Huffman should make the block shorter");

        // The repeat request as a real encoder sends it: its first block fills its table (and, decoded, ours),
        // its second block of the same fields is all indexed references.
        var requestEncoder = new HpackEncoder();
        var scratch = new ArrayBufferWriter<byte>();
        requestEncoder.BeginHeaderBlock(scratch);
        foreach (var (name, value) in fields)
            requestEncoder.EncodeHeader(name, value, scratch);
        var first = scratch.WrittenSpan.ToArray();
        scratch.ResetWrittenCount();
        requestEncoder.BeginHeaderBlock(scratch);
        foreach (var (name, value) in fields)
            requestEncoder.EncodeHeader(name, value, scratch);
        _repeat = scratch.WrittenSpan.ToArray();
        if (_repeat.Length != fields.Length)
            throw new InvalidOperationException($"The repeat block should be one byte per field, is {_repeat.Length} bytes");

        _decoder = new HpackDecoder();
        _repeatDecoder = new HpackDecoder();
        _repeatDecoder.DecodeInto(first, endHeaders: true, ref _handler);

        // Every block must decode to every field.
        foreach (var block in new[] { _firstHuffman, _firstRaw, _notIndexedHuffman, _notIndexedRaw })
            Expect(Decode(_decoder, block), fields.Length);
        Expect(Decode(_repeatDecoder, _repeat), fields.Length);

        _encoder = new HpackEncoder();
        _noTableEncoder = new HpackEncoder(useDynamicTable: false);
        EncodeResponse(_encoder); // fills the table: later blocks are the steady state of a connection
        EncodeResponse(_noTableEncoder); // sends the table size update (0) once

        _frames = new ReadOnlySequence<byte>(Frames(_firstHuffman, out _frameCount));
        Expect(ReadFrames(), _frameCount);
    }

    private static void Expect(int actual, int expected)
    {
        if (actual != expected)
            throw new InvalidOperationException($"Expected {expected}, got {actual}");
    }

    private int Decode(HpackDecoder decoder, byte[] block)
    {
        _handler = default;
        decoder.DecodeInto(block, endHeaders: true, ref _handler);
        return _handler.Count;
    }

    // ---- Decoding a request header block ----

    /// <summary>First request, Huffman strings, incremental indexing (inserts into the dynamic table).</summary>
    [Benchmark]
    public int DecodeFirstRequest_Huffman() => Decode(_decoder, _firstHuffman);

    /// <summary>First request, raw strings, incremental indexing.</summary>
    [Benchmark]
    public int DecodeFirstRequest_Raw() => Decode(_decoder, _firstRaw);

    /// <summary>Literals without indexing, Huffman strings: Huffman decoding only, no table change.</summary>
    [Benchmark]
    public int DecodeNotIndexed_Huffman() => Decode(_decoder, _notIndexedHuffman);

    /// <summary>Literals without indexing, raw strings: the spans are handed over as they are.</summary>
    [Benchmark]
    public int DecodeNotIndexed_Raw() => Decode(_decoder, _notIndexedRaw);

    /// <summary>The same request again: 19 indexed references (2 static, 17 dynamic).</summary>
    [Benchmark]
    public int DecodeRepeatRequest_Indexed() => Decode(_repeatDecoder, _repeat);

    // ---- Encoding a response header block ----

    /// <summary>:status 200 + 7 fields, steady state of a connection: all in the dynamic table except content-length.</summary>
    [Benchmark]
    public int EncodeResponse_DynamicTable() => EncodeResponse(_encoder);

    /// <summary>The same response with the dynamic table off: every value Huffman-coded on every response.</summary>
    [Benchmark]
    public int EncodeResponse_NoTable_Huffman() => EncodeResponse(_noTableEncoder);

    private int EncodeResponse(HpackEncoder encoder)
    {
        _output.ResetWrittenCount();
        encoder.BeginHeaderBlock(_output);
        encoder.EncodeStatus(200, _output);
        foreach (var (name, value) in ResponseFields)
            encoder.EncodeHeader(name, value, _output);
        return _output.WrittenCount;
    }

    // ---- Frames ----

    /// <summary>
    /// <see cref="Http2FrameReader.TryReadFrame"/> over 8 frames in one buffer: HEADERS (the first-request block),
    /// DATA 1 KiB, WINDOW_UPDATE (connection), DATA 16 KiB, PING, WINDOW_UPDATE (stream), DATA 100 B with END_STREAM,
    /// PING ACK. Per frame (OperationsPerInvoke = frame count).
    /// </summary>
    [Benchmark(OperationsPerInvoke = 8)]
    public int ReadFrames()
    {
        var buffer = _frames;
        var count = 0;
        long payload = 0;
        while (Http2FrameReader.TryReadFrame(ref buffer, Http2FrameReader.DefaultMaxFrameSize, out var frame))
        {
            count++;
            payload += frame.Payload.Length + (int)frame.Type;
        }
        return payload > 0 ? count : -1;
    }

    /// <summary>The same frames read and then parsed into their typed views (<c>Http2*Frame.Parse</c>), per frame.</summary>
    [Benchmark(OperationsPerInvoke = 8)]
    public long ReadAndParseFrames()
    {
        var buffer = _frames;
        long sum = 0;
        while (Http2FrameReader.TryReadFrame(ref buffer, Http2FrameReader.DefaultMaxFrameSize, out var frame))
        {
            switch (frame.Type)
            {
                case Http2FrameType.Headers:
                    sum += Http2HeadersFrame.Parse(frame).FieldBlockFragment.Length;
                    break;
                case Http2FrameType.Data:
                    sum += Http2DataFrame.Parse(frame).FlowControlledLength;
                    break;
                case Http2FrameType.WindowUpdate:
                    sum += Http2WindowUpdateFrame.Parse(frame).Increment;
                    break;
                case Http2FrameType.Ping:
                    sum += (long)(Http2PingFrame.Parse(frame).OpaqueData & 0xFF);
                    break;
            }
        }
        return sum;
    }

    private static byte[] Frames(byte[] headerBlock, out int count)
    {
        var output = new ArrayBufferWriter<byte>();
        Http2FrameWriter.WriteHeaderBlock(output, 1, headerBlock, endStream: false, Http2FrameReader.DefaultMaxFrameSize);
        Http2FrameWriter.WriteData(output, 1, new byte[1024], endStream: false);
        Http2FrameWriter.WriteWindowUpdate(output, 0, 65_535);
        Http2FrameWriter.WriteData(output, 1, new byte[16_384], endStream: false);
        Http2FrameWriter.WritePing(output, 0x0102030405060708, ack: false);
        Http2FrameWriter.WriteWindowUpdate(output, 1, 32_768);
        Http2FrameWriter.WriteData(output, 1, new byte[100], endStream: true);
        Http2FrameWriter.WritePing(output, 0x1122334455667788, ack: true);
        count = 8;
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// A header block built by hand (RFC 7541 6.1-6.2): a static-table full match as an indexed field, otherwise a
    /// literal (with incremental indexing, or without indexing) naming a static-table name by index when there is
    /// one, strings Huffman-coded or raw.
    /// </summary>
    private static byte[] Block((byte[] Name, byte[] Value)[] fields, bool indexing, bool huffman)
    {
        var output = new List<byte>();
        Span<byte> scratch = stackalloc byte[1024];
        foreach (var (name, value) in fields)
        {
            var full = HpackStaticTable.Find(name, value, out var nameIndex);
            int n;
            if (full != 0)
            {
                n = HpackInteger.Encode(full, 7, 0x80, scratch);
                output.AddRange(scratch[..n].ToArray());
                continue;
            }
            n = indexing ? HpackInteger.Encode(nameIndex, 6, 0x40, scratch) : HpackInteger.Encode(nameIndex, 4, 0x00, scratch);
            if (nameIndex == 0)
                n += WriteString(name, scratch[n..], huffman);
            n += WriteString(value, scratch[n..], huffman);
            output.AddRange(scratch[..n].ToArray());
        }
        return output.ToArray();
    }

    private static int WriteString(ReadOnlySpan<byte> value, Span<byte> destination, bool huffman)
    {
        if (huffman)
        {
            var n = HpackInteger.Encode(HpackHuffman.GetEncodedLength(value), 7, 0x80, destination);
            return n + HpackHuffman.Encode(value, destination[n..]);
        }
        var h = HpackInteger.Encode(value.Length, 7, 0x00, destination);
        value.CopyTo(destination[h..]);
        return h + value.Length;
    }

    /// <summary>Counts the fields and folds their bytes into a checksum so no decoded span goes unread.</summary>
    private struct FieldCounter : IHpackHeaderHandler
    {
        public int Count;
        public int Checksum;

        public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            Count++;
            Checksum += name.Length + value.Length + (name.IsEmpty ? 0 : name[0]) + (value.IsEmpty ? 0 : value[^1]);
        }
    }
}
