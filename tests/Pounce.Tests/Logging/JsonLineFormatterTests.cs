using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;
using Pounce.Logging;
using Pounce.Tests.Lifecycle;
using static Pounce.Tests.Lifecycle.LifecycleTestKit;

namespace Pounce.Tests.Logging;

public class JsonLineFormatterTests
{
    private static string Line(in LifecycleEvent e)
    {
        var buffer = new LineBuffer(64);
        JsonLineFormatter.Write(buffer, in e);
        return Utf8(buffer.WrittenSpan);
    }

    private static JsonElement Parse(string line)
    {
        Assert.EndsWith("\n", line);
        Assert.Equal(1, line.Count(ch => ch == '\n'));
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    private static readonly DateTime Time = new(2026, 2, 12, 10, 15, 30, DateTimeKind.Utc);

    [Fact]
    public void Every_event_is_one_flat_object_with_the_contracts_keys_in_order()
    {
        var c = Connection(42, worker: 3);
        c.Tls = true;
        var r = Request(c, 7, durationMs: 12.3456);
        c.RequestsServed = 7;
        c.TotalBytesSent = 999;
        c.ReportEnd(ConnectionEnd.KeepAliveTimeout);
        var cases = new (LifecycleEvent Event, string[] Keys)[]
        {
            (new(LifecycleEventKind.ConnectionOpened, LogLevel.Debug, Time, c, null), OpenedKeys),
            (new(LifecycleEventKind.RequestStarted, LogLevel.Debug, Time, c, r), StartedKeys),
            (new(LifecycleEventKind.ResponseCompleted, LogLevel.Debug, Time, c, r, r.DurationMs), ResponseKeys),
            (new(LifecycleEventKind.ClientDisconnected, LogLevel.Warning, Time, c, r), DisconnectedKeys),
            (new(LifecycleEventKind.ConnectionUpgraded, LogLevel.Debug, Time, c, r), UpgradedKeys),
            (new(LifecycleEventKind.ConnectionCompleted, LogLevel.Debug, Time, c, null, 5000.0004), CompletedKeys),
        };
        foreach (var (e, keys) in cases)
        {
            var json = Parse(Line(e));
            Assert.Equal(keys, Keys(json));
            Assert.Equal(keys, e.GetFields().Select(f => f.Key));
            Assert.Equal(e.Name, json.GetProperty("event").GetString());
            Assert.Equal(42, json.GetProperty("connection_id").GetInt64());
            Assert.Equal(3, json.GetProperty("worker_id").GetInt32());
            Assert.Equal("2026-02-12T10:15:30.000000Z", json.GetProperty("timestamp").GetString());
        }

        var opened = Parse(Line(cases[0].Event));
        Assert.Equal("203.0.113.7", opened.GetProperty("client_addr").GetString());
        Assert.Equal(50123, opened.GetProperty("client_port").GetInt32());
        Assert.Equal("127.0.0.1", opened.GetProperty("server_addr").GetString());
        Assert.Equal(8000, opened.GetProperty("server_port").GetInt32());
        Assert.Equal("h1", opened.GetProperty("protocol").GetString());
        Assert.True(opened.GetProperty("tls").GetBoolean());
        Assert.Equal("debug", opened.GetProperty("level").GetString());

        var response = Parse(Line(cases[2].Event));
        Assert.Equal(12.346, response.GetProperty("duration_ms").GetDouble());
        Assert.Equal("42-7", response.GetProperty("request_id").GetString());
        Assert.Equal(200, response.GetProperty("status").GetInt32());
        Assert.Equal(123, response.GetProperty("bytes_sent").GetInt64());

        var completed = Parse(Line(cases[5].Event));
        Assert.Equal("timeout", completed.GetProperty("reason").GetString());
        Assert.Equal("keep_alive_timeout", completed.GetProperty("detail").GetString());
        Assert.Equal(5000.0, completed.GetProperty("duration_ms").GetDouble());
        Assert.Equal(7, completed.GetProperty("requests_served").GetInt32());
        Assert.Equal(999, completed.GetProperty("total_bytes_sent").GetInt64());
        Assert.Equal("warning", Parse(Line(cases[3].Event)).GetProperty("level").GetString());
    }

    [Fact]
    public void Optional_fields_appear_only_when_they_apply()
    {
        var c = Connection(9);
        var r = Request(c, 1, streamId: 3, durationMs: 6000);
        r.TraceId = ActivityTraceId.CreateFromString("0af7651916cd43dd8448eb211c80319c");
        r.SpanId = ActivitySpanId.CreateFromString("b7ad6b7169203331");
        r.HasTrace = true;
        var slow = Parse(Line(new LifecycleEvent(LifecycleEventKind.ResponseCompleted, LogLevel.Information, Time, c, r, r.DurationMs, slow: true)));
        Assert.Equal(["event", "connection_id", "worker_id", "timestamp", "level", "status", "bytes_sent", "duration_ms", "slow",
            "method", "path", "request_id", "stream_id", "trace_id", "span_id"], Keys(slow));
        Assert.True(slow.GetProperty("slow").GetBoolean());
        Assert.Equal("info", slow.GetProperty("level").GetString());
        Assert.Equal(3, slow.GetProperty("stream_id").GetInt32());
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", slow.GetProperty("trace_id").GetString());
        Assert.Equal("b7ad6b7169203331", slow.GetProperty("span_id").GetString());

        var started = Parse(Line(new LifecycleEvent(LifecycleEventKind.RequestStarted, LogLevel.Debug, Time, c, r)));
        Assert.Equal([.. StartedKeys, "stream_id", "trace_id", "span_id"], Keys(started));
        Assert.Equal("2.0", started.GetProperty("http_version").GetString());
    }

    public static TheoryData<string> HostileStrings => new()
    {
        "/a\"b\\c",
        "/line\r\nbreak",
        "/\u001b[31mred\u001b[0m",
        "/ctl\u0000\u0001\u0007\u0008\u000b\u000c\u001f\u007f",
        "/nel\u0085ls\u2028ps\u2029",
        "/\",\"event\":\"Forged\",\"x\":\"",
        "/unicode/é/日本/😀",
        "/bidi\u202e\u200f",
    };

    [Theory]
    [MemberData(nameof(HostileStrings))]
    public void Hostile_strings_cannot_break_a_line_or_forge_a_field(string hostile)
    {
        var c = Connection(1);
        var r = Request(c, 1, method: hostile, path: hostile);
        r.UserAgent = hostile;
        var line = Line(new LifecycleEvent(LifecycleEventKind.ResponseCompleted, LogLevel.Debug, Time, c, r, 1));
        AssertCleanLine(line);
        var json = Parse(line);
        Assert.Equal(ResponseKeys, Keys(json));
        Assert.Equal(hostile, json.GetProperty("path").GetString());
        Assert.Equal(hostile, json.GetProperty("method").GetString());
        Assert.Equal("ResponseCompleted", json.GetProperty("event").GetString());

        var access = new LineBuffer();
        JsonLineFormatter.WriteAccess(access, Time, c, r, 1);
        var accessLine = Utf8(access.WrittenSpan);
        AssertCleanLine(accessLine);
        Assert.Equal(hostile, Parse(accessLine).GetProperty("user_agent").GetString());
    }

    // Built at run time: a lone surrogate in an attribute argument does not survive compilation.
    public static TheoryData<string, string> InvalidUtf16 => new()
    {
        { "/bad" + (char)0xD800 + "surrogate", "/bad\ufffdsurrogate" },
        { "/bad" + (char)0xDC00, "/bad\ufffd" },
        { ((char)0xD83D).ToString(), "\ufffd" },
        { "/" + (char)0xDE00 + (char)0xD83D, "/\ufffd\ufffd" },
    };

    [Theory]
    [MemberData(nameof(InvalidUtf16))]
    public void Invalid_utf16_becomes_a_replacement_character(string hostile, string expected)
    {
        var c = Connection(1);
        var r = Request(c, 1, path: hostile);
        var line = Line(new LifecycleEvent(LifecycleEventKind.RequestStarted, LogLevel.Debug, Time, c, r));
        AssertCleanLine(line);
        Assert.Equal(expected, Parse(line).GetProperty("path").GetString());
    }

    internal static void AssertCleanLine(string line)
    {
        Assert.EndsWith("\n", line);
        var body = line[..^1];
        Assert.DoesNotContain(body, ch => ch < 0x20 || ch == 0x7f || ch is >= '\u0080' and <= '\u009f' || ch is '\u2028' or '\u2029');
    }

    [Theory]
    [InlineData(0.0, "0.000")]
    [InlineData(0.0005, "0.001")]
    [InlineData(0.0004, "0.000")]
    [InlineData(1234.5678, "1234.568")]
    [InlineData(5000.0, "5000.000")]
    [InlineData(-3.0, "0.000")]
    [InlineData(double.NaN, "0.000")]
    [InlineData(86_400_000.25, "86400000.250")]
    public void Durations_have_microsecond_resolution(double ms, string expected)
    {
        Span<byte> buffer = stackalloc byte[32];
        var n = JsonLineFormatter.FormatMs(ms, buffer);
        Assert.Equal(expected, Utf8(buffer[..n]));
    }

    [Fact]
    public void Access_lines_carry_the_request_facts()
    {
        var c = Connection(5, worker: 2);
        var r = Request(c, 4, method: "POST", path: "/orders", durationMs: 1.5, status: 201, bytes: 77);
        var buffer = new LineBuffer();
        JsonLineFormatter.WriteAccess(buffer, Time, c, r, r.DurationMs);
        var json = Parse(Utf8(buffer.WrittenSpan));
        Assert.Equal(["timestamp", "level", "category", "connection_id", "worker_id", "request_id", "client_addr", "method", "path",
            "http_version", "status", "bytes_sent", "duration_ms", "user_agent"], Keys(json));
        Assert.Equal("Pounce.Access", json.GetProperty("category").GetString());
        Assert.Equal("info", json.GetProperty("level").GetString());
        Assert.Equal("5-4", json.GetProperty("request_id").GetString());
        Assert.Equal(201, json.GetProperty("status").GetInt32());
        Assert.Equal(1.5, json.GetProperty("duration_ms").GetDouble());
        Assert.Equal("curl/8.5.0", json.GetProperty("user_agent").GetString());
        Assert.Equal("1.1", json.GetProperty("http_version").GetString());
    }

    [Fact]
    public void Log_messages_carry_category_message_state_and_exception()
    {
        var buffer = new LineBuffer();
        KeyValuePair<string, object?>[] state =
        [
            new("Name", "world\n\"x\""), new("Count", 3), new("Ratio", 0.5), new("Missing", null), new("message", "clash"),
            new("{OriginalFormat}", "Hello {Name}"),
        ];
        Exception ex;
        try
        {
            throw new InvalidOperationException("boom\r\nline");
        }
        catch (InvalidOperationException caught)
        {
            ex = caught;
        }
        JsonLineFormatter.WriteLogMessage(buffer, Time, LogLevel.Error, "My.App", new EventId(12), "Hello world", state, ex);
        var line = Utf8(buffer.WrittenSpan);
        AssertCleanLine(line);
        var json = Parse(line);
        Assert.Equal(["timestamp", "level", "category", "message", "event_id", "Name", "Count", "Ratio", "Missing", "_message", "exception"], Keys(json));
        Assert.Equal("error", json.GetProperty("level").GetString());
        Assert.Equal("My.App", json.GetProperty("category").GetString());
        Assert.Equal("world\n\"x\"", json.GetProperty("Name").GetString());
        Assert.Equal(3, json.GetProperty("Count").GetInt32());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("Missing").ValueKind);
        Assert.Contains("boom\r\nline", json.GetProperty("exception").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Formatting_allocates_nothing_in_steady_state()
    {
        var c = Connection(77);
        var r = Request(c, 3, path: "/api/items/42", durationMs: 3.25);
        r.TraceId = ActivityTraceId.CreateRandom();
        r.SpanId = ActivitySpanId.CreateRandom();
        r.HasTrace = true;
        c.ReportEnd(ConnectionEnd.PeerReset);
        _ = c.ClientAddress;
        var buffer = new LineBuffer();
        var response = new LifecycleEvent(LifecycleEventKind.ResponseCompleted, LogLevel.Information, DateTime.UtcNow, c, r, r.DurationMs, true);
        var completed = new LifecycleEvent(LifecycleEventKind.ConnectionCompleted, LogLevel.Debug, DateTime.UtcNow, c, null, 10);
        void Round()
        {
            buffer.Clear();
            JsonLineFormatter.Write(buffer, in response);
            buffer.Clear();
            JsonLineFormatter.Write(buffer, in completed);
            buffer.Clear();
            TextLineFormatter.Write(buffer, in response);
            buffer.Clear();
            JsonLineFormatter.WriteAccess(buffer, DateTime.UtcNow, c, r, 3.25);
            buffer.Clear();
            TextLineFormatter.WriteAccess(buffer, DateTime.UtcNow, c, r, 3.25);
        }
        for (var i = 0; i < 100; i++)
            Round();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
            Round();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Correlation_and_access_lines_cost_no_allocation_per_request_or_line()
    {
        var c = Connection(91);
        var r = Request(c, 2, path: "/gone", durationMs: 4);
        var slot = new RequestLogContext.Slot();
        var buffer = new LineBuffer();
        long allocated = -1;
        string? json = null;
        string? text = null;
        // In a context of its own, so the slot and the activity do not leak into the test runner's flow.
        ExecutionContext.Run(ExecutionContext.Capture()!, _ =>
        {
            using var activity = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).Start();
            RequestLogContext.Attach(slot);
            void Round()
            {
                slot.Enter(c, r);
                var correlation = RequestLogContext.Capture();
                buffer.Clear();
                JsonLineFormatter.WriteLogMessage(buffer, Time, LogLevel.Information, "App.Endpoint", default, "inside", null, null, in correlation);
                buffer.Clear();
                TextLineFormatter.WriteLogMessage(buffer, Time, LogLevel.Information, "App.Endpoint", "inside", null, in correlation);
                buffer.Clear();
                JsonLineFormatter.WriteAccess(buffer, Time, c, r, 4, LifecycleEmitter.ClientClosedRequest, abandoned: true);
                buffer.Clear();
                TextLineFormatter.WriteAccess(buffer, Time, c, r, 4, LifecycleEmitter.ClientClosedRequest, abandoned: true);
                slot.Exit();
            }
            for (var i = 0; i < 100; i++)
                Round();
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
                Round();
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            slot.Enter(c, r);
            var inFlight = RequestLogContext.Capture();
            buffer.Clear();
            JsonLineFormatter.WriteLogMessage(buffer, Time, LogLevel.Information, "App.Endpoint", default, "inside", null, null, in inFlight);
            json = Utf8(buffer.WrittenSpan);
            buffer.Clear();
            TextLineFormatter.WriteLogMessage(buffer, Time, LogLevel.Information, "App.Endpoint", "inside", null, in inFlight);
            text = Utf8(buffer.WrittenSpan);
            Assert.Equal(activity.TraceId.ToHexString(), Parse(json).GetProperty("trace_id").GetString());
        }, null);
        Assert.Equal(0, allocated);
        var line = Parse(json!);
        Assert.Equal(["timestamp", "level", "category", "message", "connection_id", "request_id", "trace_id", "span_id"], Keys(line));
        Assert.Equal(91, line.GetProperty("connection_id").GetInt64());
        Assert.Equal("91-2", line.GetProperty("request_id").GetString());
        Assert.Matches(@"^\S+ info App\.Endpoint: inside connection_id=91 request_id=91-2 trace_id=[0-9a-f]{32} span_id=[0-9a-f]{16}\n$", text);
    }

    [Fact]
    public void Building_and_observing_events_allocates_nothing_in_steady_state()
    {
        var emitter = new LifecycleEmitter(Config(LogLevel.Debug, slowSeconds: 0.001), null, null, [new CountingObserver()]);
        var c = Connection(78);
        var r = Request(c, 1, durationMs: 3);
        emitter.ConnectionOpened(c);
        for (var i = 0; i < 100; i++)
            Serve(emitter, c, r);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
            Serve(emitter, c, r);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private sealed class CountingObserver : ILifecycleObserver
    {
        public long Count;

        public void OnEvent(in LifecycleEvent e) => Interlocked.Increment(ref Count);
    }
}
