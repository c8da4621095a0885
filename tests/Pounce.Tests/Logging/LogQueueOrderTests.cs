using System.Text;
using Pounce.Logging;
using Pounce.Tests.Lifecycle;

namespace Pounce.Tests.Logging;

/// <summary>
/// The writer keeps one queue per processor and merges them by the time each line was queued: lines queued one after
/// the other, on whichever queues, come out in that order, and the capacity holds for all queues together.
/// </summary>
public class LogQueueOrderTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static string[] Lines(byte[] written) => Encoding.UTF8.GetString(written).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task Lines_queued_in_turn_on_different_queues_come_out_in_the_order_they_were_queued()
    {
        // The writer thread takes the queues one after the other while this thread keeps queuing: a line queued on a
        // queue it already took must not be overtaken by a later line on a queue it takes next.
        const int N = 100_000;
        var sink = new SinkStream();
        var writer = new LogLineWriter(sink, LogFormat.Text, capacity: N, ownsStream: false, queues: 4);
        for (var i = 0; i < N; i++)
            Assert.True(writer.TryEnqueue(i % 4, Encoding.ASCII.GetBytes(i + "\n")));
        await writer.DisposeAsync();

        var lines = Lines(sink.Written);
        Assert.Equal(N, lines.Length);
        for (var i = 0; i < N; i++)
            Assert.True(lines[i] == i.ToString(), $"line {i} is '{lines[i]}'");
        Assert.Equal(N, writer.WrittenLines);
    }

    [Fact]
    public async Task A_line_queued_after_another_thread_queued_its_line_comes_out_after_it()
    {
        // Two threads take turns, each on its own queue: each line is queued once the other thread's line was.
        const int Turns = 5_000;
        var sink = new SinkStream();
        var writer = new LogLineWriter(sink, LogFormat.Text, capacity: 2 * Turns, ownsStream: false, queues: 2);
        using var aTurn = new SemaphoreSlim(1);
        using var bTurn = new SemaphoreSlim(0);
        var a = Task.Run(() =>
        {
            for (var i = 0; i < Turns; i++)
            {
                Assert.True(aTurn.Wait(Patience), "thread b never handed over");
                writer.TryEnqueue(0, Encoding.ASCII.GetBytes($"a{i}\n"));
                bTurn.Release();
            }
        });
        var b = Task.Run(() =>
        {
            for (var i = 0; i < Turns; i++)
            {
                Assert.True(bTurn.Wait(Patience), "thread a never handed over");
                writer.TryEnqueue(1, Encoding.ASCII.GetBytes($"b{i}\n"));
                aTurn.Release();
            }
        });
        await Task.WhenAll(a, b).WaitAsync(Patience);
        await writer.DisposeAsync();

        var lines = Lines(sink.Written);
        Assert.Equal(2 * Turns, lines.Length);
        for (var i = 0; i < Turns; i++)
        {
            Assert.True(lines[2 * i] == $"a{i}" && lines[2 * i + 1] == $"b{i}",
                $"turn {i}: '{lines[2 * i]}', '{lines[2 * i + 1]}'");
        }
    }

    [Fact]
    public async Task The_capacity_holds_for_all_queues_together()
    {
        var sink = new GatedStream();
        var writer = new LogLineWriter(sink, LogFormat.Text, capacity: 16, ownsStream: false, queues: 4);
        Assert.True(writer.TryEnqueue(0, "first\n"u8));
        await sink.FirstWrite.Task.WaitAsync(Patience); // the writer thread is stuck in the sink with the first line

        for (var i = 0; i < 16; i++)
            Assert.True(writer.TryEnqueue(i % 4, Encoding.ASCII.GetBytes($"{i}\n")), $"line {i} refused");
        for (var i = 0; i < 4; i++)
            Assert.False(writer.TryEnqueue(i, "over\n"u8), $"queue {i} took a line over the capacity");
        Assert.Equal(16, writer.QueuedLines);
        Assert.Equal(4, writer.DroppedLines);

        sink.Open.Set();
        await writer.DisposeAsync();
        var lines = Lines(sink.Written);
        Assert.Equal(["first", .. Enumerable.Range(0, 16).Select(i => i.ToString())], lines[..17]);
        Assert.Matches(@"^\S+Z warning LogLinesDropped dropped=4 ", lines[17]);
        Assert.Equal(18, lines.Length);
    }
}
