using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;
using Pounce.Logging;
using Pounce.Tests.Lifecycle;
using static Pounce.Tests.Lifecycle.LifecycleTestKit;

namespace Pounce.Tests.Logging;

public class LogLineWriterTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static byte[] JsonLine(int n) => Encoding.UTF8.GetBytes($"{{\"n\":{n}}}\n");

    [Fact]
    public async Task A_full_buffer_drops_lines_and_reports_how_many()
    {
        var sink = new GatedStream();
        var writer = new LogLineWriter(sink, LogFormat.Json, capacity: 16, ownsStream: false);
        Assert.True(writer.TryEnqueue(JsonLine(0)));
        await sink.FirstWrite.Task.WaitAsync(Patience); // the writer thread is now stuck in the sink with line 0

        for (var i = 1; i <= 16; i++)
            Assert.True(writer.TryEnqueue(JsonLine(i)));
        for (var i = 17; i < 22; i++)
            Assert.False(writer.TryEnqueue(JsonLine(i)));
        Assert.Equal(5, writer.DroppedLines);
        Assert.Equal(16, writer.QueuedLines);

        sink.Open.Set();
        await writer.DisposeAsync();

        var lines = ParseLines(sink.Written);
        Assert.Equal(Enumerable.Range(0, 17), lines.Where(l => l.TryGetProperty("n", out _)).Select(l => l.GetProperty("n").GetInt32()));
        var report = Assert.Single(lines, l => l.TryGetProperty("event", out _));
        Assert.Equal("LogLinesDropped", report.GetProperty("event").GetString());
        Assert.Equal(5, report.GetProperty("dropped").GetInt64());
        Assert.Equal("warning", report.GetProperty("level").GetString());
        Assert.Equal(17, writer.WrittenLines);
    }

    [Fact]
    public async Task Drops_are_reported_in_the_text_format_too()
    {
        var sink = new GatedStream();
        var writer = new LogLineWriter(sink, LogFormat.Text, capacity: 1, ownsStream: false);
        Assert.True(writer.TryEnqueue("first\n"u8));
        await sink.FirstWrite.Task.WaitAsync(Patience);
        Assert.True(writer.TryEnqueue("second\n"u8));
        Assert.False(writer.TryEnqueue("third\n"u8));
        sink.Open.Set();
        await writer.DisposeAsync();
        var lines = Lines(sink.Written);
        Assert.Equal(["first", "second"], lines[..2]);
        Assert.Matches(@"^\S+Z warning LogLinesDropped dropped=1 ", lines[2]);
        Assert.Equal(3, lines.Length);
    }

    [Fact]
    public async Task Dispose_writes_every_queued_line_from_many_threads()
    {
        var sink = new SinkStream();
        var writer = new LogLineWriter(sink, LogFormat.Json, capacity: 100_000, ownsStream: false);
        var emitter = new LifecycleEmitter(Config(LogLevel.Debug, accessLog: true), writer);
        const int Threads = 4, Connections = 250;
        var workers = Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < Connections; i++)
            {
                var c = Connection(worker: t + 1);
                emitter.ConnectionOpened(c);
                var r = Request(c, 1, path: "/p\"\n" + i);
                Serve(emitter, c, r);
                c.ReportEnd(ConnectionEnd.ClientRequestedClose);
                emitter.ConnectionCompleted(c);
            }
        })).ToArray();
        await Task.WhenAll(workers);
        await writer.DisposeAsync();

        var lines = ParseLines(sink.Written);
        Assert.Equal(Threads * Connections * 5, lines.Length);
        Assert.Equal(0, writer.DroppedLines);
        var events = lines.Where(l => l.TryGetProperty("event", out _)).ToArray();
        Assert.Equal(Threads * Connections, events.Count(e => e.GetProperty("event").GetString() == "ConnectionCompleted"));
        Assert.Equal(Threads * Connections, lines.Count(l => l.TryGetProperty("category", out var cat) && cat.GetString() == "Pounce.Access"));
        // Per connection: opened first, completed last, nothing after it.
        foreach (var group in events.GroupBy(e => e.GetProperty("connection_id").GetInt64()))
        {
            var names = group.Select(e => e.GetProperty("event").GetString()!).ToArray();
            Assert.Equal(["ConnectionOpened", "RequestStarted", "ResponseCompleted", "ConnectionCompleted"], names);
        }
    }

    [Fact]
    public async Task Text_access_lines_are_written_as_the_formatter_writes_them_in_queue_order()
    {
        // Plain access lines (queued as records, formatted by the writer thread) and ones needing escapes (formatted by
        // the caller) both come out byte for byte as the escaping formatter writes them, in order with the lines queued
        // around them; with and without a user agent, a trace, an abandoned request, and a record (a 300 000-character
        // path) larger than a write's buffer.
        var sink = new MemoryStream();
        var writer = new LogLineWriter(sink, LogFormat.Text, capacity: 1024, ownsStream: false, queues: 1);
        var c = Connection(7, worker: 3);
        var expected = new StringBuilder();
        for (var i = 1; i <= 300; i++)
        {
            var path = i == 150 ? "/" + new string('p', 300_000) : i % 3 == 0 ? $"/say/\"{i}\"" : $"/items/{i}";
            var r = Request(c, i, path: path, durationMs: i / 8.0, bytes: i);
            if (i % 5 == 0)
                r.UserAgent = null;
            if (i % 11 == 0)
            {
                using var activity = new System.Diagnostics.Activity("t").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start();
                r.CaptureTrace(activity);
            }
            var abandoned = i % 7 == 0;
            var line = new LineBuffer(16);
            TextLineFormatter.WriteAccessEscaped(line, FormatterTime, c, r, r.DurationMs, r.Status, abandoned);
            expected.Append(Encoding.UTF8.GetString(line.WrittenSpan));
            Assert.True(writer.WriteAccess(FormatterTime, c, r, r.DurationMs, r.Status, abandoned));
            var between = $"between {i}\n";
            expected.Append(between);
            Assert.True(writer.TryEnqueue(Encoding.UTF8.GetBytes(between)));
        }
        await writer.DisposeAsync();
        Assert.Equal(expected.ToString(), Encoding.UTF8.GetString(sink.ToArray()));
        Assert.Equal(600, writer.WrittenLines);
    }

    [Fact]
    public async Task A_full_buffer_drops_access_lines_too()
    {
        var sink = new GatedStream();
        var writer = new LogLineWriter(sink, LogFormat.Text, capacity: 2, ownsStream: false, queues: 1);
        var c = Connection(8);
        Assert.True(writer.TryEnqueue("first\n"u8));
        await sink.FirstWrite.Task.WaitAsync(Patience); // the writer thread is now stuck in the sink with the first line
        Assert.True(writer.WriteAccess(FormatterTime, c, Request(c, 1), 2));
        Assert.True(writer.WriteAccess(FormatterTime, c, Request(c, 2), 2));
        Assert.False(writer.WriteAccess(FormatterTime, c, Request(c, 3), 2));
        Assert.Equal(1, writer.DroppedLines);
        sink.Open.Set();
        await writer.DisposeAsync();
        var lines = Lines(sink.Written);
        Assert.Equal(4, lines.Length);
        Assert.Contains(" request_id=8-1 ", lines[1] + " ");
        Assert.Contains(" request_id=8-2 ", lines[2] + " ");
        Assert.Matches(@"^\S+Z warning LogLinesDropped dropped=1 ", lines[3]);
    }

    [Fact]
    public void Queuing_access_lines_allocates_nothing_once_the_blocks_exist()
    {
        var writer = new LogLineWriter(Stream.Null, LogFormat.Text, capacity: 512, ownsStream: false);
        var c = Connection(9);
        var r = Request(c, 1);
        _ = c.ClientAddress; // the connection's address text is made once, at its first line
        AssertQueuingAllocatesNothing(writer, () => writer.WriteAccess(FormatterTime, c, r, 2));
    }

    [Fact]
    public void Queuing_lines_allocates_nothing_once_the_blocks_exist()
    {
        var writer = new LogLineWriter(Stream.Null, LogFormat.Json, capacity: 512, ownsStream: false);
        var c = Connection(5);
        var r = Request(c, 1);
        var e = new LifecycleEvent(LifecycleEventKind.ResponseCompleted, LogLevel.Debug, DateTime.UtcNow, c, r, 1);
        AssertQueuingAllocatesNothing(writer, () => writer.WriteEvent(in e));
    }

    // Rounds of 512 lines queued by `write` (the writer's capacity): in steady state, once a round has run, the blocks
    // it needed are back in the writer's pool. On a loaded machine the background thread may still be handing the last
    // blocks back when the next round starts, so a round is measured a few times: at least one must allocate nothing
    // (and it does, unless queuing itself allocates). Disposes the writer, which must have written every line.
    private static void AssertQueuingAllocatesNothing(LogLineWriter writer, Func<bool> write)
    {
        const int N = 512;
        long written = 0;
        var allocations = new List<long>();
        for (var round = 0; round < 4; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < N; i++)
                Assert.True(write());
            if (round > 0)
                allocations.Add(GC.GetAllocatedBytesForCurrentThread() - before);
            written += N;
            Assert.True(SpinWait.SpinUntil(() => writer.WrittenLines == written, Patience));
        }
        Assert.Contains(0L, allocations);
        writer.Dispose();
        Assert.Equal(written, writer.WrittenLines);
    }

    [Fact]
    public async Task A_deep_burst_leaves_at_most_MaxKeptChunks_chunks_kept()
    {
        // 10,000 lines of 600 bytes (about 90 chunks of 64 KiB) queued behind a stuck output (the default buffer holds
        // 65,536 lines): once written, their chunks are not all kept for the process's life, only MaxKeptChunks.
        const int Burst = 10_000;
        var padding = new string('p', 580);
        byte[] Line(int n) => Encoding.UTF8.GetBytes($"{{\"n\":{n},\"p\":\"{padding}\"}}\n");
        var sink = new GatedStream();
        var writer = new LogLineWriter(sink, LogFormat.Json, capacity: 65_536, ownsStream: false);
        Assert.True(writer.TryEnqueue(Line(0)));
        await sink.FirstWrite.Task.WaitAsync(Patience);
        for (var i = 1; i <= Burst; i++)
            Assert.True(writer.TryEnqueue(Line(i)));
        Assert.Equal(Burst, writer.QueuedLines);
        sink.Open.Set();
        Assert.True(SpinWait.SpinUntil(() => writer.WrittenLines == Burst + 1, Patience), $"written {writer.WrittenLines} of {Burst + 1}");
        Assert.True(SpinWait.SpinUntil(() => writer.KeptChunks == LogLineWriter.MaxKeptChunks, Patience), $"kept {writer.KeptChunks} chunks");
        // The kept chunks serve the next lines.
        for (var i = 0; i < 100; i++)
            Assert.True(writer.TryEnqueue(Line(i)));
        await writer.DisposeAsync();
        Assert.Equal(Burst + 101, writer.WrittenLines);
        Assert.Equal(0, writer.DroppedLines);
        Assert.Equal(Burst + 101, Lines(sink.Written).Length);
    }

    [Fact]
    public async Task Lines_written_after_dispose_are_written_directly()
    {
        var sink = new SinkStream();
        var writer = new LogLineWriter(sink, LogFormat.Json, capacity: 16, ownsStream: false);
        writer.TryEnqueue(JsonLine(1));
        await writer.DisposeAsync();
        Assert.True(writer.TryEnqueue(JsonLine(2)));
        Assert.Equal([1, 2], ParseLines(sink.Written).Select(l => l.GetProperty("n").GetInt32()));
        Assert.True(writer.Completion.IsCompleted);
    }

    [Fact]
    public void A_value_that_logs_while_its_line_is_formatted_does_not_corrupt_it()
    {
        var sink = new SinkStream();
        var writer = new LogLineWriter(sink, LogFormat.Json, capacity: 16, ownsStream: false);
        KeyValuePair<string, object?>[] state = [new("Value", new LoggingValue(writer))];
        writer.WriteLogMessage(DateTime.UtcNow, LogLevel.Information, "Outer", default, "outer", state, null);
        writer.Dispose();
        var lines = ParseLines(sink.Written);
        Assert.Equal(["inner", "outer"], lines.Select(l => l.GetProperty("message").GetString()));
        Assert.Equal("formatted", lines[1].GetProperty("Value").GetString());
    }

    private sealed class LoggingValue(LogLineWriter writer)
    {
        public override string ToString()
        {
            writer.WriteLogMessage(DateTime.UtcNow, LogLevel.Information, "Inner", default, "inner", null, null);
            return "formatted";
        }
    }

    [Fact]
    public void Long_lines_are_written_whole()
    {
        var sink = new SinkStream();
        var writer = new LogLineWriter(sink, LogFormat.Json, capacity: 16, ownsStream: false);
        var big = new string('x', 200_000);
        writer.WriteLogMessage(DateTime.UtcNow, LogLevel.Information, "Big", default, big, null, null);
        writer.TryEnqueue(JsonLine(1));
        writer.Dispose();
        var lines = ParseLines(sink.Written);
        Assert.Equal(big, lines[0].GetProperty("message").GetString());
        Assert.Equal(1, lines[1].GetProperty("n").GetInt32());
    }

    [Fact]
    public async Task Text_and_json_lines_from_the_emitter_match_the_format()
    {
        foreach (var format in new[] { LogFormat.Text, LogFormat.Json })
        {
            var sink = new SinkStream();
            var writer = new LogLineWriter(sink, format, capacity: 64, ownsStream: false);
            var emitter = new LifecycleEmitter(Config(LogLevel.Debug, accessLog: true, format: format), writer);
            var c = Connection(3);
            emitter.ConnectionOpened(c);
            Serve(emitter, c, Request(c, 1));
            emitter.ConnectionCompleted(c);
            await writer.DisposeAsync();
            var lines = Lines(sink.Written);
            Assert.Equal(5, lines.Length);
            if (format == LogFormat.Json)
                Assert.All(lines, l => JsonDocument.Parse(l).Dispose());
            else
                Assert.All(lines, l => Assert.DoesNotContain("{", l, StringComparison.Ordinal));
        }
    }
}
