using System.Buffers;
using System.IO.Pipelines;
using Pounce.Transport;
using Xunit;

namespace Pounce.Tests.Transport;

/// <summary>The send loop's scheduler: a held flush is sent together with what follows, exactly once.</summary>
public sealed class SendSchedulerTests
{
    /// <summary>A pipe whose reader records each batch it reads, as the send loop would send it.</summary>
    internal sealed class Recorder
    {
        public readonly SendScheduler Scheduler = new();
        public readonly Pipe Pipe;
        public readonly List<string> Sends = new();
        public readonly Task Loop;
        // Released once per send, so a test can wait for the n-th send without polling.
        private readonly SemaphoreSlim _sent = new(0);

        public Recorder()
        {
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
                    _sent.Release();
                }
                Pipe.Reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                    return;
            }
        }

        /// <summary>Waits (at most <paramref name="timeout"/>) until <paramref name="count"/> sends were recorded.</summary>
        public async Task<bool> WaitForSendsAsync(int count, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            for (var i = 0; i < count; i++)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !await _sent.WaitAsync(left))
                    return false;
            }
            return true;
        }
    }

    internal static void Write(PipeWriter writer, string text) => writer.Write(System.Text.Encoding.ASCII.GetBytes(text));

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
        r.Scheduler.SendHeld(); // nothing is held any more: nothing runs twice
        await r.Pipe.Writer.CompleteAsync();
        await r.Loop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["head+chunk;end;"], r.Sends);
    }

    [Fact]
    public async Task HeldFlush_IsSentByAnotherThread_WhileTheWriterGoesOn()
    {
        // The heartbeat (or the protocol, once the application waits) sends from another thread.
        var r = new Recorder();
        Write(r.Pipe.Writer, "event;");
        await r.Scheduler.FlushHeldAsync(r.Pipe.Writer, default);
        Assert.True(r.Scheduler.IsHolding);
        await Task.Run(r.Scheduler.SendHeld).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(r.Scheduler.IsHolding);
        Assert.Equal(["event;"], r.Sends);
        await r.Pipe.Writer.CompleteAsync();
        await r.Loop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["event;"], r.Sends);
    }

    [Fact]
    public async Task HeldFlush_ThatWouldWait_SendsAtOnce()
    {
        // More than the pause threshold unsent: holding would leave the writer waiting for a send nobody runs.
        var r = new Recorder();
        r.Pipe.Writer.Write(new byte[100 * 1024]);
        var flush = r.Scheduler.FlushHeldAsync(r.Pipe.Writer, default);
        Assert.False(r.Scheduler.IsHolding);
        await flush.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Single(r.Sends);
        await r.Pipe.Writer.CompleteAsync();
        await r.Loop.WaitAsync(TimeSpan.FromSeconds(10));
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
