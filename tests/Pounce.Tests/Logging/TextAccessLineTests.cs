using System.Diagnostics;
using System.Net;
using CsCheck;
using Pounce.Connections;
using Pounce.Logging;
using static Pounce.Tests.Lifecycle.LifecycleTestKit;

namespace Pounce.Tests.Logging;

/// <summary>
/// The access line's fast path (<see cref="TextAccessLine"/>) writes exactly what the escaping path writes, for every
/// line it takes, and refuses every line with something to escape.
/// </summary>
public class TextAccessLineTests
{
    private static readonly DateTime Time = FormatterTime;

    private static readonly Gen<string> Plain = Gen.OneOf(Gen.Const(""), Gen.Char[' ', '~'].Where(ch => ch is not ('"' or '\\')).Array[1, 40]
        .Select(chars => new string(chars)));

    // Plain text most of the time; otherwise plain text with one character that needs escaping (of one of these kinds) in it.
    private static readonly Gen<string> Field = Gen.Frequency(
        (4, Plain),
        (1, Gen.Select(Plain, Gen.OneOf(Gen.Const('"'), Gen.Const('\\'), Gen.Const('\n'), Gen.Const('\u001b'), Gen.Const('\u007f'),
            Gen.Const('é'), Gen.Const('\u2028'), Gen.Const((char)0xD800)), Plain, (a, ch, b) => a + ch + b)));

    private static readonly Gen<string> Methods = Gen.OneOf(Gen.OneOf("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS",
        "PROPFIND", "", "G\"T"), Field);

    [Fact]
    public void The_fast_path_writes_what_the_escaping_path_writes()
    {
        var ids = Gen.Select(Gen.Long[0, long.MaxValue], Gen.Int[0, int.MaxValue], Gen.Int[1, int.MaxValue]);
        var values = Gen.Select(Gen.Int[-1, 1000], Gen.Long[0, long.MaxValue], Gen.Double[-5, 1e7], Gen.Bool, Gen.Bool);
        // No remote end point (the address is written "-"), IPv4 or IPv6.
        var remotes = Gen.OneOf(Gen.Const((IPEndPoint?)null), Gen.UInt.Select(a => (IPEndPoint?)new IPEndPoint(new IPAddress(a), 1)),
            Gen.Byte.Array[16].Select(a => (IPEndPoint?)new IPEndPoint(new IPAddress(a), 1)));
        Gen.Select(Gen.Select(Methods, Field, Field.Null(), remotes), ids, values, Gen.Int[0, 2], Gen.Bool)
            .Sample((strings, id, v, version, trace) =>
            {
                var (method, path, agent, remote) = strings;
                var c = new ConnectionInfo(Math.Max(1, id.Item1), id.Item2, remote, null);
                var r = Request(c, id.Item3, method: method, path: path, status: v.Item1, bytes: v.Item2);
                r.UserAgent = agent;
                r.Version = (HttpVersionKind)version;
                r.ResponseStarted = v.Item5;
                if (id.Item3 % 4 == 0)
                    r.ConnectionId = id.Item1 / 3; // a request id whose connection part is not the connection's (recorded apart)
                if (trace)
                {
                    using var activity = new Activity("t").SetIdFormat(ActivityIdFormat.W3C).Start();
                    r.CaptureTrace(activity);
                }
                var fast = new LineBuffer(16);
                var slow = new LineBuffer(16);
                TextLineFormatter.WriteAccessEscaped(slow, Time, c, r, v.Item3, v.Item1, v.Item4);
                var plain = IsPlain(method) && IsPlain(path) && (agent is null || IsPlain(agent)) && IsPlain(c.ClientAddress);
                var took = TextAccessLine.TryWrite(fast, Time, c, r, v.Item3, v.Item1, v.Item4);
                Assert.Equal(plain, took);
                if (took)
                    Assert.Equal(Utf8(slow.WrittenSpan), Utf8(fast.WrittenSpan));
                else
                    Assert.Equal(0, fast.Length);
            }, seed: "0000000000000", iter: 4000, threads: 1);
    }

    [Fact]
    public void A_usual_request_takes_the_fast_path()
    {
        var c = Connection(5, worker: 2);
        var r = Request(c, 4, method: "GET", path: "/plaintext", durationMs: 0.25, status: 200, bytes: 13);
        var buffer = new LineBuffer(16);
        Assert.True(TextAccessLine.TryWrite(buffer, Time, c, r, r.DurationMs, 200, abandoned: false));
        Assert.Equal(
            "203.0.113.7 - - [12/Feb/2026:10:15:30 +0000] \"GET /plaintext HTTP/1.1\" 200 13 \"-\" \"curl/8.5.0\" 0.250 request_id=5-4 connection_id=5 worker_id=2\n",
            Utf8(buffer.WrittenSpan));
    }

    [Fact]
    public void A_line_longer_than_the_threads_scratch_record_is_written_whole()
    {
        var c = Connection(5, worker: 2);
        var r = Request(c, 4, method: "GET", path: "/" + new string('p', 5000), durationMs: 0.25, status: 200, bytes: 13);
        var fast = new LineBuffer(16);
        var slow = new LineBuffer(16);
        Assert.True(TextAccessLine.TryWrite(fast, Time, c, r, r.DurationMs, 200, abandoned: false));
        TextLineFormatter.WriteAccessEscaped(slow, Time, c, r, r.DurationMs, 200, abandoned: false);
        Assert.Equal(Utf8(slow.WrittenSpan), Utf8(fast.WrittenSpan));
    }

    private static bool IsPlain(string s)
    {
        foreach (var ch in s)
        {
            if (ch is < ' ' or > '~' or '"' or '\\')
                return false;
        }
        return true;
    }
}
