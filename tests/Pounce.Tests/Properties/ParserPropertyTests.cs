using System.Text;
using CsCheck;
using Pounce.Fuzz;

namespace Pounce.Tests.Properties;

/// <summary>
/// Seeded, bounded property tests, one per parser: thousands of generated and mutated inputs (structured messages,
/// the fuzz seed corpora mutated, raw bytes), each held to the parser's contract (<see cref="ParserContracts"/>, the
/// same checks the AFL++ harnesses make). A fixed seed and one thread make every run the same; a failure prints the
/// input that broke the contract, shrunk.
/// </summary>
public sealed class ParserPropertyTests
{
    private const long Iterations = 4000;
    private static readonly string Seed = new PCG(17, 20261205).ToString();

    private static void Run(string target, Gen<byte[]> structured)
    {
        var contract = ParserContracts.For(target);
        var gen = Gen.OneOf(structured, Mutated(Corpus(target)), Gen.Byte.Array[0, 256]);
        gen.Sample(contract, seed: Seed, iter: Iterations, threads: 1, print: Print);
    }

    [Fact]
    public void Http1Head() => Run("h1-head", Http1Heads);

    [Fact]
    public void Http1ChunkedBody() => Run("h1-chunked", ChunkedBodies);

    [Fact]
    public void Hpack() => Run("hpack", HpackBlocks);

    [Fact]
    public void Http2Frames() => Run("h2-frames", Http2FrameSequences);

    [Fact]
    public void WebSocketFrameScanner() => Run("ws-scanner", WebSocketFrames);

    [Fact]
    public void CertificateAndConfigFiles()
    {
        // Files on disk: fewer iterations, still every kind (PEM, PKCS#12, settings JSON).
        var contract = ParserContracts.For("cert-config");
        Gen.OneOf(Mutated(Corpus("cert-config")), SettingsJson)
            .Sample(contract, seed: Seed, iter: 400, threads: 1, print: Print);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Structured generators: mostly well-formed messages with hostile pieces, so the accepting paths are exercised.
    // ------------------------------------------------------------------------------------------------------------

    private static readonly Gen<string> Methods = Gen.OneOf("GET", "POST", "HEAD", "OPTIONS", "PUT", "CONNECT", "G@T", "", "get", "M-SEARCH");

    private static readonly Gen<string> Targets = Gen.OneOf("/", "/a/b?c=d", "/a/../b", "/./", "/%2F%2e%2E/", "/%00", "/a%0", "*",
        "http://x/y", "https://h:8080", "http://a@b/", "/caf\u00e9", "/#f", "//", "/a b", "/%C3%A9", "/\u007f", "?q");

    private static readonly Gen<string> Versions = Gen.OneOf("HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "http/1.1", "HTTP/1.10");

    private static readonly Gen<string> HeaderLines = Gen.OneOf("Host: x", "Host: ", "Host: a:80", "Host: [::1]", "Host: a,b",
        "Host: x", "Content-Length: 5", "Content-Length: 5, 5", "Content-Length: -1", "Transfer-Encoding: chunked",
        "Transfer-Encoding: gzip, chunked", "Connection: close", "Connection: upgrade", "Upgrade: websocket",
        "Expect: 100-continue", "X: a\u0001b", " folded", "X : y", "X:", ":", "User-Agent: \u00ff\u00fe", "X: a\rb");

    private static readonly Gen<byte[]> Http1Heads =
        Gen.Select(Methods, Targets, Versions, HeaderLines.Array[0, 6], Gen.OneOf("\r\n", "\n", "\r\r\n"),
            (method, target, version, headers, eol) =>
                Encoding.Latin1.GetBytes(method + " " + target + " " + version + eol + string.Concat(headers.Select(h => h + eol)) + eol));

    private static readonly Gen<string> ChunkLines = Gen.OneOf("5", "5;a=b", "5;a=\"b\\\"c\"", "5;", "5;bad[=x", "5 ", "0005",
        "FFFFFFFFFFFFFFFFFF", "5x", "", "3", "-1", "5;a=\"\r");

    private static readonly Gen<byte[]> ChunkedBodies =
        Gen.Select(Gen.Select(ChunkLines, Gen.Byte.Array[0, 8]).Array[0, 4], Gen.OneOf("0\r\n\r\n", "0\r\nX-T: v\r\n\r\n", "0\r\n", "0\r\nbad\r\n\r\n"),
            (chunks, end) =>
            {
                var body = new List<byte>();
                foreach (var (line, data) in chunks)
                {
                    body.AddRange(Encoding.Latin1.GetBytes(line + "\r\n"));
                    body.AddRange(data);
                    body.AddRange("\r\n"u8.ToArray());
                }
                body.AddRange(Encoding.Latin1.GetBytes(end));
                return body.ToArray();
            });

    private static readonly Gen<byte[]> HpackBlocks =
        Gen.Select(Gen.OneOf(Gen.Byte[0x80, 0xff].Select(b => new[] { b }), // indexed
                Gen.Select(Gen.Byte.Array[0, 6], Gen.Byte.Array[0, 6], (n, v) => (byte[])[0x00, (byte)n.Length, .. n, (byte)v.Length, .. v]), // literal, new name
                Gen.Select(Gen.Byte[0x41, 0x4f], Gen.Byte.Array[0, 8], (i, v) => (byte[])[i, (byte)v.Length, .. v]), // literal, indexed name
                Gen.Select(Gen.Byte[0x20, 0x3f], b => new[] { b }), // table size update
                Gen.Select(Gen.Byte.Array[0, 6], v => (byte[])[0x04, (byte)(0x80 | v.Length), .. v])) // Huffman value
            .Array[0, 8], parts => parts.SelectMany(p => p).ToArray());

    private static readonly Gen<byte[]> Http2FrameSequences =
        Gen.Select(Gen.Byte[0, 10], Gen.Byte, Gen.Int[0, 9], Gen.Byte.Array[0, 24], Gen.Bool,
            (type, flags, stream, payload, honestLength) =>
            {
                var length = honestLength ? payload.Length : payload.Length ^ 3;
                return (byte[])[(byte)(length >> 16), (byte)(length >> 8), (byte)length, type, flags, 0, 0, 0, (byte)stream, .. payload];
            }).Array[1, 4].Select(frames => frames.SelectMany(f => f).ToArray());

    private static readonly Gen<byte[]> WebSocketFrames =
        Gen.Select(Gen.Byte, Gen.Select(Gen.OneOf<byte>(0x81, 0x01, 0x80, 0x82, 0x88, 0x89, 0x8a, 0xc1, 0x83), Gen.Bool, Gen.Byte.Array[0, 40],
                (first, masked, payload) => (byte[])[first, (byte)((masked ? 0x80 : 0) | payload.Length), .. (masked ? (byte[])[1, 2, 3, 4] : []), .. payload]).Array[1, 4],
            (flags, frames) => (byte[])[flags, .. frames.SelectMany(f => f)]);

    private static readonly Gen<byte[]> SettingsJson =
        Gen.Select(Gen.OneOf("MaxConnections", "KeepAliveTimeout", "Port", "Workers", "LogFormat", "LogLevel", "LogSlowRequestsThreshold", "MaxRequestLineSize", "HealthCheckPath"),
            Gen.OneOf("0", "-1", "500", "\"json\"", "\"00:00:05\"", "\"-00:00:01\"", "\"x\"", "99999999999", "null", "true", "[]", "{}", "\"/h\""),
            (key, value) => Encoding.UTF8.GetBytes("\u0002{\"Pounce\":{\"" + key + "\":" + value + "}}"));

    // ------------------------------------------------------------------------------------------------------------

    /// <summary>The fuzz seed corpus of a target (built from the test suite's own requests and frames).</summary>
    private static byte[][] Corpus(string target)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pounce.slnx")))
            dir = dir.Parent;
        Assert.True(dir is not null, "the repository root (Pounce.slnx) was not found above " + AppContext.BaseDirectory);
        var corpus = Path.Combine(dir!.FullName, "fuzz", "corpus", target);
        var files = Directory.GetFiles(corpus).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToArray();
        Assert.True(files.Length > 0, "empty seed corpus at " + corpus);
        return files;
    }

    /// <summary>A seed with a few edits: overwrite, insert, delete, duplicate a run.</summary>
    private static Gen<byte[]> Mutated(byte[][] seeds) =>
        Gen.Select(Gen.Int[0, seeds.Length - 1], Gen.Select(Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Byte).Array[1, 6],
            (index, edits) =>
            {
                var bytes = new List<byte>(seeds[index]);
                foreach (var (op, at, value) in edits)
                {
                    var pos = bytes.Count == 0 ? 0 : at % bytes.Count;
                    switch (op)
                    {
                        case 0 when bytes.Count > 0: bytes[pos] = value; break;
                        case 1: bytes.Insert(pos, value); break;
                        case 2 when bytes.Count > 0: bytes.RemoveAt(pos); break;
                        case 3 when bytes.Count > 0: bytes.InsertRange(pos, bytes.GetRange(pos, Math.Min(value % 16 + 1, bytes.Count - pos))); break;
                    }
                }
                return bytes.ToArray();
            });

    private static string Print(byte[] input) => Convert.ToHexString(input) + " \"" + Encoding.Latin1.GetString(input).ReplaceLineEndings("\\n") + "\"";
}
