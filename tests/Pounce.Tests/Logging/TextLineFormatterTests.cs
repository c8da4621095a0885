using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;
using Pounce.Logging;
using static Pounce.Tests.Lifecycle.LifecycleTestKit;

namespace Pounce.Tests.Logging;

public class TextLineFormatterTests
{
    private static readonly DateTime Time = FormatterTime;

    private static string Line(in LifecycleEvent e)
    {
        var buffer = new LineBuffer(64);
        TextLineFormatter.Write(buffer, in e);
        return Utf8(buffer.WrittenSpan);
    }

    [Fact]
    public void A_line_is_time_level_event_then_key_value_pairs()
    {
        var c = Connection(42, worker: 3);
        var r = Request(c, 7, durationMs: 12.5);
        Assert.Equal(
            "2026-02-12T10:15:30.123456Z debug ConnectionOpened connection_id=42 worker_id=3 client_addr=203.0.113.7 client_port=50123 server_addr=127.0.0.1 server_port=8000 protocol=h1 tls=false\n",
            Line(new LifecycleEvent(LifecycleEventKind.ConnectionOpened, LogLevel.Debug, Time, c, null)));
        Assert.Equal(
            "2026-02-12T10:15:30.123456Z info ResponseCompleted connection_id=42 worker_id=3 status=200 bytes_sent=123 duration_ms=12.500 slow=true method=GET path=/items request_id=42-7\n",
            Line(new LifecycleEvent(LifecycleEventKind.ResponseCompleted, LogLevel.Information, Time, c, r, r.DurationMs, slow: true)));
        c.ReportEnd(ConnectionEnd.MaxConnections);
        Assert.Equal(
            "2026-02-12T10:15:30.123456Z debug ConnectionCompleted connection_id=42 worker_id=3 requests_served=0 total_bytes_sent=0 duration_ms=0.250 reason=backpressure detail=max_connections protocol=h1 client_addr=203.0.113.7\n",
            Line(new LifecycleEvent(LifecycleEventKind.ConnectionCompleted, LogLevel.Debug, Time, c, null, 0.25)));
    }

    [Theory]
    [InlineData("/a b", "\"/a b\"")]
    [InlineData("/x\r\nfake=1", "\"/x\\r\\nfake=1\"")]
    [InlineData("/q\"u\\o", "\"/q\\\"u\\\\o\"")]
    [InlineData("/\u001b[31mred", "\"/\\x1B[31mred\"")]
    [InlineData("/\u0000\u007f\u0085\u2028\u202e", "\"/\\x00\\x7F\\u0085\\u2028\\u202E\"")]
    [InlineData("/k=v", "\"/k=v\"")]
    [InlineData("/é😀", "\"/é😀\"")]
    [InlineData("", "\"\"")]
    public void Values_from_the_network_are_quoted_and_escaped(string path, string expected)
    {
        var c = Connection(1);
        var r = Request(c, 1, path: path);
        var line = Line(new LifecycleEvent(LifecycleEventKind.RequestStarted, LogLevel.Debug, Time, c, r));
        JsonLineFormatterTests.AssertCleanLine(line);
        Assert.Contains(" path=" + expected + " http_version=1.1 ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Lone_surrogates_are_written_as_an_escaped_replacement_character()
    {
        var c = Connection(1);
        var r = Request(c, 1, path: "/bad" + (char)0xD800 + "x" + (char)0xDC00);
        var line = Line(new LifecycleEvent(LifecycleEventKind.RequestStarted, LogLevel.Debug, Time, c, r));
        Assert.Contains(" path=\"/bad\\uFFFDx\\uFFFD\" ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Access_lines_are_apache_combined_plus_duration_and_request_id()
    {
        var c = Connection(5, worker: 2);
        var r = Request(c, 4, method: "GET", path: "/search", durationMs: 1.5, status: 200, bytes: 512);
        r.UserAgent = "Mozilla/5.0 \"quoted\" \\ \u001b[0m é";
        var buffer = new LineBuffer();
        TextLineFormatter.WriteAccess(buffer, Time, c, r, r.DurationMs);
        var line = Utf8(buffer.WrittenSpan);
        Assert.Equal(
            "203.0.113.7 - - [12/Feb/2026:10:15:30 +0000] \"GET /search HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0 \\\"quoted\\\" \\\\ \\x1B[0m \\xC3\\xA9\" 1.500 request_id=5-4 connection_id=5 worker_id=2\n",
            line);

        r.BytesSent = 0;
        r.UserAgent = null;
        r.Path = "/x\r\n";
        buffer.Clear();
        TextLineFormatter.WriteAccess(buffer, Time, c, r, 0);
        Assert.Equal("203.0.113.7 - - [12/Feb/2026:10:15:30 +0000] \"GET /x\\x0D\\x0A HTTP/1.1\" 200 - \"-\" \"-\" 0.000 request_id=5-4 connection_id=5 worker_id=2\n", Utf8(buffer.WrittenSpan));
    }

    [Fact]
    public void Log_messages_stay_on_one_line()
    {
        var buffer = new LineBuffer();
        TextLineFormatter.WriteLogMessage(buffer, Time, LogLevel.Warning, "My.App", "first\nsecond\u001b", new InvalidOperationException("bad\r\nthing"));
        var line = Utf8(buffer.WrittenSpan);
        JsonLineFormatterTests.AssertCleanLine(line);
        Assert.StartsWith("2026-02-12T10:15:30.123456Z warning My.App: first\\nsecond\\x1B exception=\"System.InvalidOperationException: bad\\r\\nthing\"", line, StringComparison.Ordinal);
    }
}
