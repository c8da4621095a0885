using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Pounce.Connections;
using Pounce.Http1;
using Pounce.Http2;
using Pounce.Http;
using Pounce.Tls;
using Pounce.WebSockets;

namespace Pounce.Fuzz;

/// <summary>A parser broke its contract on an input: a bug, whatever the input was.</summary>
public sealed class ContractViolationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The contract of each parser, checked on any input: only the parser's own rejection escapes, the answer does not
/// depend on how the bytes were split into segments, what it accepts round-trips, and it allocates in proportion to
/// its input. Used by the AFL++ harnesses (fuzz/) and by the seeded property tests of the test suite alike.
/// </summary>
internal static class ParserContracts
{
    /// <summary>Targets by name, as <c>fuzz/run.sh TARGET</c> takes them.</summary>
    public static readonly string[] Targets = ["h1-head", "h1-chunked", "hpack", "h2-frames", "ws-scanner", "cert-config"];

    public static Action<byte[]> For(string target) => target switch
    {
        "h1-head" => Http1Head,
        "h1-chunked" => Http1Chunked,
        "hpack" => Hpack,
        "h2-frames" => Http2Frames,
        "ws-scanner" => WebSocketScanner,
        "cert-config" => CertificateAndConfig,
        _ => throw new ArgumentException($"unknown target '{target}'; one of: {string.Join(", ", Targets)}"),
    };

    private static readonly ServerConfig Config = new();

    [ThreadStatic]
    private static Http1Connection? t_http1;

    private static Http1Connection Http1 => t_http1 ??= Http1Connection.CreateDetached(Config, out _);

    // ---------------------------------------------------------------------------------------------------------------
    // HTTP/1.1 request head: ParseHead + ValidateHead. Rejections are ConnectionEnd values; nothing may throw.
    // ---------------------------------------------------------------------------------------------------------------

    public static void Http1Head(byte[] input)
    {
        var connection = Http1;
        var before = GC.GetAllocatedBytesForCurrentThread();
        ConnectionEnd whole;
        try
        {
            whole = connection.ParseHeadDetached(new ReadOnlySequence<byte>(input));
        }
        catch (Exception ex)
        {
            throw new ContractViolationException("the HTTP/1.1 head parser threw", ex);
        }
        CheckAllocation("HTTP/1.1 head", before, input.Length);
        if (whole == ConnectionEnd.None)
            CheckAcceptedHead(connection);

        // The same bytes in three segments (a pipe delivers them so): the same answer.
        var split = Split(input);
        ConnectionEnd pieces;
        try
        {
            pieces = connection.ParseHeadDetached(split);
        }
        catch (Exception ex)
        {
            throw new ContractViolationException("the HTTP/1.1 head parser threw on a multi-segment input", ex);
        }
        if (pieces != whole)
            throw new ContractViolationException($"HTTP/1.1 head: {whole} in one segment, {pieces} in three");
    }

    private static void CheckAcceptedHead(Http1Connection connection)
    {
        if (!HttpCharacters.IsToken(Encoding.Latin1.GetBytes(connection.Method)))
            throw new ContractViolationException($"accepted a method that is not a token: '{connection.Method}'");
        foreach (var c in connection.RawTarget)
        {
            if (c is <= ' ' or >= (char)0x7f or '#')
                throw new ContractViolationException($"accepted a target byte 0x{(int)c:x2}");
        }
        if (connection.Path.Contains('\0', StringComparison.Ordinal))
            throw new ContractViolationException("accepted a path that decodes to a NUL");
        if (connection.RawTarget != "*" && !connection.RawTarget.StartsWith("http", StringComparison.OrdinalIgnoreCase)
            && (connection.Path.Length == 0 || connection.Path[0] != '/'))
            throw new ContractViolationException($"origin-form path '{connection.Path}' does not start with '/'");
        if (connection.Path.Contains("/../", StringComparison.Ordinal) || connection.Path.EndsWith("/..", StringComparison.Ordinal))
            throw new ContractViolationException($"a dot segment survived in '{connection.Path}'");
        var headers = connection.RequestHeadersDetached;
        if (headers.TryGetValue("Host", out var host) && !HttpCharacters.IsValidHost(Encoding.Latin1.GetBytes(host.ToString())))
            throw new ContractViolationException($"accepted Host '{host}'");
        foreach (var header in headers)
        {
            foreach (var value in header.Value)
            {
                if (value is not null && value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
                    throw new ContractViolationException($"a header value holds CR, LF or NUL: {header.Key}");
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Chunked request body. Rejection: BadHttpRequestException (400/413). Accepted bodies re-encode and decode alike.
    // ---------------------------------------------------------------------------------------------------------------

    public static void Http1Chunked(byte[] input)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var whole = DecodeChunked(input, pieces: 1);
        CheckAllocation("chunked body", before, input.Length);
        var split = DecodeChunked(input, pieces: 3);
        // (Data decoded before a rejection is not compared: a read that fails hands none of its bytes over.)
        if (whole.Complete != split.Complete || whole.Rejected != split.Rejected || (!whole.Rejected && !whole.Data.AsSpan().SequenceEqual(split.Data)))
            throw new ContractViolationException($"chunked body: in one piece complete={whole.Complete} rejected={whole.Rejected} ({whole.Data.Length} bytes), in three complete={split.Complete} rejected={split.Rejected} ({split.Data.Length} bytes)");
        if (whole.Complete)
        {
            // Round trip: the decoded data, framed again as one chunk plus the last chunk, decodes to itself.
            var again = Encoding.ASCII.GetBytes(whole.Data.Length.ToString("x", System.Globalization.CultureInfo.InvariantCulture) + "\r\n");
            byte[] framed = whole.Data.Length == 0 ? "0\r\n\r\n"u8.ToArray() : [.. again, .. whole.Data, .. "\r\n0\r\n\r\n"u8];
            var decoded = DecodeChunked(framed, pieces: 1);
            if (!decoded.Complete || !decoded.Data.AsSpan().SequenceEqual(whole.Data))
                throw new ContractViolationException("chunked body: the re-encoded body did not decode to the same data");
        }
    }

    private static (bool Complete, bool Rejected, byte[] Data) DecodeChunked(byte[] input, int pieces)
    {
        var connection = Http1;
        connection.BeginChunkedBodyDetached();
        var output = new ArrayBufferWriter<byte>();
        var destination = new byte[4096];
        var pending = Array.Empty<byte>();
        var fed = 0;
        for (var piece = 1; piece <= pieces; piece++)
        {
            var end = piece == pieces ? input.Length : Math.Min(input.Length, fed + Math.Max(1, input.Length / pieces));
            pending = [.. pending, .. input.AsSpan(fed, end - fed)];
            fed = end;
            while (true)
            {
                var sequence = new ReadOnlySequence<byte>(pending);
                int n;
                SequencePosition consumed;
                try
                {
                    n = connection.DecodeChunkedDetached(sequence, destination, out consumed);
                }
                catch (BadHttpRequestException)
                {
                    return (false, true, output.WrittenSpan.ToArray());
                }
                catch (Exception ex)
                {
                    throw new ContractViolationException("the chunked decoder threw something other than BadHttpRequestException", ex);
                }
                output.Write(destination.AsSpan(0, n));
                var rest = sequence.Slice(consumed);
                var progressed = n > 0 || rest.Length != pending.Length;
                pending = rest.ToArray();
                if (output.WrittenCount > 64 * 1024 * 1024)
                    throw new ContractViolationException("the chunked decoder produced more data than any input could hold");
                if (connection.ChunkedBodyCompleteDetached || !progressed)
                    break;
            }
            if (connection.ChunkedBodyCompleteDetached)
                break;
        }
        if (output.WrittenCount > input.Length)
            throw new ContractViolationException($"the chunked decoder produced {output.WrittenCount} bytes from {input.Length}");
        return (connection.ChunkedBodyCompleteDetached, false, output.WrittenSpan.ToArray());
    }

    // ---------------------------------------------------------------------------------------------------------------
    // HPACK decoder. Rejection: HpackDecodingException. What it decodes re-encodes and decodes to the same fields.
    // ---------------------------------------------------------------------------------------------------------------

    private sealed class FieldList : IHpackHeaderHandler
    {
        public readonly List<(byte[] Name, byte[] Value)> Fields = [];

        public void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => Fields.Add((name.ToArray(), value.ToArray()));
    }

    public static void Hpack(byte[] input)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var first = DecodeHpack(input, split: false);
        CheckAllocation("HPACK", before, input.Length);
        var second = DecodeHpack(input, split: true);
        if ((first is null) != (second is null) || (first is not null && !SameFields(first, second!)))
            throw new ContractViolationException("HPACK: a different answer for the same block in two segments");
        if (first is null)
            return;
        var encoder = new HpackEncoder();
        var block = new ArrayBufferWriter<byte>();
        encoder.BeginHeaderBlock(block);
        foreach (var (name, value) in first)
            encoder.EncodeHeader(name, value, block);
        var again = DecodeHpack(block.WrittenSpan.ToArray(), split: false)
            ?? throw new ContractViolationException("HPACK: the encoder's block for decoded fields was refused");
        if (!SameFields(first, again))
            throw new ContractViolationException("HPACK: decoded fields did not round-trip through the encoder");
    }

    private static List<(byte[] Name, byte[] Value)>? DecodeHpack(byte[] input, bool split)
    {
        var decoder = new HpackDecoder(maxHeaderTableSize: 4096, maxHeaderListSize: 64 * 1024);
        var handler = new FieldList();
        try
        {
            if (split)
                decoder.Decode(Split(input), endHeaders: true, handler);
            else
                decoder.Decode(input.AsSpan(), endHeaders: true, handler);
        }
        catch (HpackDecodingException)
        {
            return null;
        }
        catch (Exception ex)
        {
            throw new ContractViolationException("the HPACK decoder threw something other than HpackDecodingException", ex);
        }
        return handler.Fields;
    }

    private static bool SameFields(List<(byte[] Name, byte[] Value)> a, List<(byte[] Name, byte[] Value)> b)
    {
        if (a.Count != b.Count)
            return false;
        for (var i = 0; i < a.Count; i++)
        {
            if (!a[i].Name.AsSpan().SequenceEqual(b[i].Name) || !a[i].Value.AsSpan().SequenceEqual(b[i].Value))
                return false;
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // HTTP/2 frames: the frame reader, then each frame's typed parser. Rejection: Http2ProtocolException.
    // ---------------------------------------------------------------------------------------------------------------

    public static void Http2Frames(byte[] input)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var whole = ReadFrames(new ReadOnlySequence<byte>(input));
        CheckAllocation("HTTP/2 frames", before, input.Length);
        var split = ReadFrames(Split(input));
        if (whole != split)
            throw new ContractViolationException($"HTTP/2 frames: '{whole}' in one segment, '{split}' in three");
    }

    private static string ReadFrames(ReadOnlySequence<byte> buffer)
    {
        var log = new StringBuilder();
        try
        {
            var frames = 0;
            while (Http2FrameReader.TryReadFrame(ref buffer, Http2FrameReader.DefaultMaxFrameSize, out var frame))
            {
                if (++frames > buffer.Length + 1_000_000)
                    throw new ContractViolationException("the frame reader does not advance");
                if (frame.Payload.Length != frame.Header.Length)
                    throw new ContractViolationException("a frame's payload is not its announced length");
                log.Append(frame.Type).Append(':').Append(frame.StreamId).Append(':').Append(frame.Payload.Length).Append(' ');
                ParseTyped(frame);
            }
            log.Append("rest:").Append(buffer.Length);
        }
        catch (Http2ProtocolException ex)
        {
            log.Append("error:").Append(ex.ErrorCode);
        }
        catch (ContractViolationException)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw new ContractViolationException("an HTTP/2 frame parser threw something other than Http2ProtocolException", ex);
        }
        return log.ToString();
    }

    private static void ParseTyped(in Http2Frame frame)
    {
        switch (frame.Type)
        {
            case Http2FrameType.Data: Http2DataFrame.Parse(frame); break;
            case Http2FrameType.Headers: Http2HeadersFrame.Parse(frame); break;
            case Http2FrameType.Priority: Http2PriorityFrame.Parse(frame); break;
            case Http2FrameType.RstStream: Http2RstStreamFrame.Parse(frame); break;
            case Http2FrameType.Settings: Http2SettingsFrame.Parse(frame); break;
            case Http2FrameType.PushPromise: Http2PushPromiseFrame.Parse(frame); break;
            case Http2FrameType.Ping: Http2PingFrame.Parse(frame); break;
            case Http2FrameType.GoAway: Http2GoAwayFrame.Parse(frame); break;
            case Http2FrameType.WindowUpdate: Http2WindowUpdateFrame.Parse(frame); break;
            case Http2FrameType.Continuation: Http2ContinuationFrame.Parse(frame); break;
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // WebSocket frame scanner: never throws, never reads past its input, and answers alike however the bytes are split.
    // ---------------------------------------------------------------------------------------------------------------

    public static void WebSocketScanner(byte[] input)
    {
        if (input.Length == 0)
            return;
        var flags = input[0];
        var data = input.AsSpan(1);
        var requireMasked = (flags & 1) != 0;
        var validateUtf8 = (flags & 2) != 0;
        var whole = Scan(data, requireMasked, validateUtf8, chunk: data.Length);
        var chunk = 1 + (flags >> 2) % 7;
        var pieces = Scan(data, requireMasked, validateUtf8, chunk);
        if (whole != pieces)
            throw new ContractViolationException($"WebSocket scanner: {whole} in one call, {pieces} in calls of {chunk} bytes");
    }

    private static string Scan(ReadOnlySpan<byte> data, bool requireMasked, bool validateUtf8, int chunk)
    {
        var scanner = new WebSocketFrameScanner();
        try
        {
            for (var i = 0; i < data.Length && !scanner.Invalid; i += Math.Max(chunk, 1))
                scanner.Scan(data.Slice(i, Math.Min(Math.Max(chunk, 1), data.Length - i)), requireMasked, validateUtf8);
        }
        catch (Exception ex)
        {
            throw new ContractViolationException("the WebSocket frame scanner threw", ex);
        }
        return $"close={scanner.SawClose}/{scanner.CloseCode} invalid={scanner.Invalid} unmasked={scanner.SawUnmasked} utf8={scanner.SawInvalidUtf8} atStart={scanner.AtFrameStart}";
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Certificate and configuration files: every bad file is a clear InvalidOperationException naming the setting.
    // ---------------------------------------------------------------------------------------------------------------

    public static void CertificateAndConfig(byte[] input)
    {
        if (input.Length == 0)
            return;
        var mode = input[0] % 3;
        var body = input.AsSpan(1);
        var directory = Directory.CreateTempSubdirectory("pounce-fuzz-");
        try
        {
            switch (mode)
            {
                case 0:
                {
                    // A PEM (or PKCS#12) certificate file, with an optional key file after a 0x00 separator.
                    var cut = body.IndexOf((byte)0);
                    var cert = Path.Combine(directory.FullName, "cert.pem");
                    File.WriteAllBytes(cert, (cut < 0 ? body : body[..cut]).ToArray());
                    var config = new ServerConfig { SslCertFile = cert };
                    if (cut >= 0)
                    {
                        config.SslKeyFile = Path.Combine(directory.FullName, "key.pem");
                        File.WriteAllBytes(config.SslKeyFile, body[(cut + 1)..].ToArray());
                    }
                    LoadCertificate(config);
                    break;
                }
                case 1:
                {
                    var pfx = Path.Combine(directory.FullName, "cert.pfx");
                    File.WriteAllBytes(pfx, body.ToArray());
                    LoadCertificate(new ServerConfig { SslCertFile = pfx, SslKeyPassword = "pw" });
                    break;
                }
                default:
                    LoadSettings(body.ToArray());
                    break;
            }
        }
        finally
        {
            try
            {
                directory.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static void LoadCertificate(ServerConfig config)
    {
        try
        {
            var (leaf, chain) = ServerCertificateLoader.Load(config);
            if (!leaf.HasPrivateKey)
                throw new ContractViolationException("a certificate without its private key was accepted");
            leaf.Dispose();
            foreach (var c in chain)
                c.Dispose();
        }
        catch (InvalidOperationException ex) when (ex.Message.Contains("Pounce setting", StringComparison.Ordinal) || ex.Message.Contains("HTTPS needs", StringComparison.Ordinal))
        {
        }
        catch (ContractViolationException)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw new ContractViolationException($"certificate loading threw {ex.GetType().Name} instead of a setting error", ex);
        }
    }

    private static void LoadSettings(byte[] json)
    {
        IConfigurationRoot root;
        try
        {
            root = new ConfigurationBuilder().AddJsonStream(new MemoryStream(json)).Build();
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or System.Text.Json.JsonException)
        {
            return; // not JSON: the configuration library's own error, before Pounce sees anything
        }
        var config = new ServerConfig();
        try
        {
            root.GetSection("Pounce").Bind(config);
            config.Validate();
        }
        catch (InvalidOperationException)
        {
            // Binder conversion errors and Validate's setting errors.
        }
        catch (Exception ex)
        {
            throw new ContractViolationException($"settings threw {ex.GetType().Name} instead of a setting error", ex);
        }
    }

    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>The bytes in three segments, cut at points derived from the input itself.</summary>
    private static ReadOnlySequence<byte> Split(byte[] input)
    {
        if (input.Length < 3)
            return new ReadOnlySequence<byte>(input);
        var a = 1 + input[0] % (input.Length - 2);
        var b = a + 1 + input[^1] % (input.Length - a - 1);
        return Segment.Create(input.AsMemory(0, a), input.AsMemory(a, b - a), input.AsMemory(b));
    }

    private static void CheckAllocation(string what, long before, int inputLength)
    {
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var bound = 256L * 1024 + 64L * inputLength;
        if (allocated > bound)
            throw new ContractViolationException($"{what}: {allocated} bytes allocated for {inputLength} bytes of input (bound {bound})");
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        private Segment(ReadOnlyMemory<byte> memory, long index)
        {
            Memory = memory;
            RunningIndex = index;
        }

        public static ReadOnlySequence<byte> Create(params ReadOnlyMemory<byte>[] parts)
        {
            var first = new Segment(parts[0], 0);
            var last = first;
            foreach (var part in parts.AsSpan(1))
            {
                var next = new Segment(part, last.RunningIndex + last.Memory.Length);
                last.Next = next;
                last = next;
            }
            return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        }
    }
}
