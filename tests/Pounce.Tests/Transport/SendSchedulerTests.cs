using System.Buffers;
using System.IO.Pipelines;
using Pounce.Transport;
using Xunit;

namespace Pounce.Tests.Transport;

/// <summary>The send loop's scheduler: a held flush is sent together with what follows, exactly once.</summary>
public sealed class SendSchedulerTests
{
    /// <summary>A pipe whose reader records each batch it reads, as the send loop would send it.</summary>
    private sealed class Recorder
    {
        public readonly SendScheduler Scheduler;
        public readonly List<IThreadPoolWorkItem> Queued = new();
        public readonly Pipe Pipe;
        public readonly List<string> Sends = new();
        public readonly Task Loop;

        /// <summary>With <paramref name="threadPool"/> the held sends go to the real thread pool; otherwise they wait in <see cref="Queued"/>.</summary>
        public Recorder(bool threadPool = false)
        {
            Scheduler = threadPool ? new SendScheduler() : new SendScheduler(Queued.Add);
            Pipe = new Pipe(Scheduler.CreateOptions());
            Loop = RunAsync();
        }

        private async Task RunAsync()
        {
            while (true)
            {
                var result = await Pipe.Reader.ReadAsync();
                if (!result.Buffer.IsEmpty)
                {
                    lock (Sends)
                        Sends.Add(System.Text.Encoding.ASCII.GetString(result.Buffer.ToArray()));
                }
                Pipe.Reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                    return;
            }
        }
    }

    private static void Write(PipeWriter writer, string text) => writer.Write(System.Text.Encoding.ASCII.GetBytes(text));

    [Fact]
    public async Task HeldFlush_ThenOrdinaryFlush_IsOneSend()
    {
        var r = new Recorder();
        Write(r.Pipe.Writer, "head+chunk;");
        await r.Scheduler.FlushHeldAsync(r.Pipe.Writer, default);
        Assert.Empty(r.Sends); // held: nothing read yet on this thread
        Write(r.Pipe.Writer, "end;");
        await r.Scheduler.FlushAsync(r.Pipe.Writer, default);
        Assert.Equal(["head+chunk;end;"], r.Sends);
        Assert.Single(r.Queued).Execute(); // the queued work item finds nothing left to run
        await r.Pipe.Writer.CompleteAsync();
        await r.Loop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["head+chunk;end;"], r.Sends);
    }

    [Fact]
    public async Task HeldFlush_WithNothingAfterIt_IsSentByTheQueuedWorkItem()
    {
        var r = new Recorder(threadPool: true);
        Write(r.Pipe.Writer, "event;");
        await r.Scheduler.FlushHeldAsync(r.Pipe.Writer, default);
        // The application now waits for something: the held send must go out without any further flush.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            lock (r.Sends)
            {
                if (r.Sends.Count == 1)
                    break;
            }
            Assert.True(DateTime.UtcNow < deadline, "the held send never ran");
            await Task.Yield();
        }
        Assert.Equal(["event;"], r.Sends);
        r.Scheduler.SendHeld(); // already sent: nothing runs twice
        await r.Pipe.Writer.CompleteAsync();
        await r.Loop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["event;"], r.Sends);
    }

    [Fact]
    public async Task SendHeld_RunsTheHeldSendOnThisThread()
    {
        var r = new Recorder();
        Write(r.Pipe.Writer, "partial;");
        await r.Scheduler.FlushHeldAsync(r.Pipe.Writer, default);
        r.Scheduler.SendHeld();
        Assert.Equal(["partial;"], r.Sends);
        await r.Pipe.Writer.CompleteAsync();
        await r.Loop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task OrdinaryFlush_SendsInline()
    {
        var r = new Recorder();
        Write(r.Pipe.Writer, "whole;");
        await r.Scheduler.FlushAsync(r.Pipe.Writer, default);
        Assert.Equal(["whole;"], r.Sends);
        await r.Pipe.Writer.CompleteAsync();
        await r.Loop.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
