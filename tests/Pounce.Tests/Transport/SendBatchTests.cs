using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Pounce.Transport;
using Xunit;
using static Pounce.Tests.Transport.SendSchedulerTests;

namespace Pounce.Tests.Transport;

/// <summary>
/// A poller's batch of sends: a finished response flushed inside a batch goes out when the batch ends, in one send
/// with whatever else its connection wrote meanwhile; outside a batch it goes at once; a poller stuck in a handler has
/// its batch's sends sent by the watchdog.
/// </summary>
public sealed class SendBatchTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [Fact]
    public void Flush_InsideABatch_WaitsForTheBatchEnd_ThenIsOneSend()
    {
        var r = new Recorder();
        InOneBatch(() =>
        {
            WriteAndFlushAtBatchEnd(r, "first;");
            WriteAndFlushAtBatchEnd(r, "second;");
            Assert.Empty(r.Sends);
            Assert.True(r.Scheduler.IsHolding);
        });
        Assert.Null(SendBatch.Current);
        Assert.Equal(["first;second;"], r.Sends);
        Assert.False(r.Scheduler.IsHolding);
    }

    [Fact]
    public void Flush_OutsideABatch_SendsAtOnce()
    {
        var r = new Recorder();
        Assert.Null(SendBatch.Current);
        WriteAndFlushAtBatchEnd(r, "whole;");
        Assert.Equal(["whole;"], r.Sends);
    }

    [Fact]
    public void Flush_AfterAHeldPartialResponse_IsSentByTheBatch()
    {
        // The application flushed part of its response (held for the rest), then the response ended: the pipe does
        // not schedule its reader again, so only the batch's end can send it.
        var r = new Recorder();
        InOneBatch(() =>
        {
            Write(r.Pipe.Writer, "head;");
            Assert.True(Done(r.Scheduler.FlushHeldAsync(r.Pipe.Writer, default)));
            WriteAndFlushAtBatchEnd(r, "end;");
            Assert.Empty(r.Sends);
        });
        Assert.Equal(["head;end;"], r.Sends);
    }

    [Fact]
    public void Flush_OfMoreThanOneSegment_SendsAtOnce()
    {
        // Holding it would hold its pipe segments for the whole batch.
        var r = new Recorder();
        InOneBatch(() =>
        {
            r.Pipe.Writer.Write(new byte[SendBatch.MaxBytes + 1]);
            Assert.True(Done(r.Scheduler.FlushAtBatchEndAsync(r.Pipe.Writer, default)));
            Assert.Single(r.Sends);
            Assert.False(r.Scheduler.IsHolding);
            r.Pipe.Writer.Write(new byte[SendBatch.MaxBytes]);
            Assert.True(Done(r.Scheduler.FlushAtBatchEndAsync(r.Pipe.Writer, default)));
            Assert.Single(r.Sends);
            Assert.True(r.Scheduler.IsHolding);
        });
        Assert.Equal(2, r.Sends.Count);
    }

    [Fact]
    public void Flush_ThatWouldWait_SendsAtOnce()
    {
        // More than the pause threshold unsent: holding would leave the writer waiting for a send nobody runs yet.
        var r = new Recorder();
        InOneBatch(() =>
        {
            r.Pipe.Writer.Write(new byte[100 * 1024]);
            Assert.True(Done(r.Scheduler.FlushAtBatchEndAsync(r.Pipe.Writer, default)));
            Assert.False(r.Scheduler.IsHolding);
            Assert.Single(r.Sends);
        });
        Assert.Single(r.Sends);
    }

    [Fact]
    public void SendPending_FromAnotherThread_Sends_AndALaterResponseJoinsItsOwnBatch()
    {
        // Synchronous throughout: a batch is the thread's, opened and closed on it, as on a poller.
        var r = new Recorder();
        var stuck = new SendBatch();
        stuck.Open();
        try
        {
            WriteAndFlushAtBatchEnd(r, "one;");
            OnOtherThread(stuck.SendPending); // the watchdog, for a poller stuck in a handler
            Assert.Equal(["one;"], r.Sends);

            // The connection's next response is finished on another poller while this batch is still open: it
            // joins that poller's batch and goes out at its end, not at the end of the stuck one.
            OnOtherThread(() => InOneBatch(() =>
            {
                WriteAndFlushAtBatchEnd(r, "two;");
                Assert.Equal(["one;"], r.Sends);
            }));
            Assert.Equal(["one;", "two;"], r.Sends);
        }
        finally
        {
            stuck.Close(); // finds nothing held: nothing is sent twice
        }
        Assert.Equal(["one;", "two;"], r.Sends);
        Assert.False(r.Scheduler.IsHolding);
    }

    /// <summary>Runs <paramref name="body"/> inside a batch opened and closed on this thread, as a poller does.</summary>
    private static void InOneBatch(Action body)
    {
        var batch = new SendBatch();
        batch.Open();
        try
        {
            body();
        }
        finally
        {
            batch.Close();
        }
    }

    /// <summary>Runs <paramref name="action"/> on a thread of its own and waits for it (a bounded wait); rethrows
    /// what it threw.</summary>
    private static void OnOtherThread(Action action)
    {
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                action();
            }
            catch (Exception ex)
            {
                error = ex;
            }
        });
        thread.Start();
        Assert.True(thread.Join(Wait), "the other thread did not finish");
        if (error is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
    }

    [Fact]
    public async Task OnAPoller_TheResponseGoesOutWhenTheHandlerReturns()
    {
        var inHandler = new TaskCompletionSource<(bool Batched, int SendsInHandler)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await OnAPollerAsync(r =>
        {
            Write(r.Pipe.Writer, "response;");
            Done(r.Scheduler.FlushAtBatchEndAsync(r.Pipe.Writer, default));
            int sends;
            lock (r.Sends)
                sends = r.Sends.Count;
            inHandler.SetResult((SendBatch.Current is not null, sends));
        }, async r =>
        {
            var (batched, sendsInHandler) = await inHandler.Task.WaitAsync(Wait);
            Assert.True(batched, "the inline receive's handler ran outside a poller's batch");
            Assert.Equal(0, sendsInHandler);
            await WaitForSendsAsync(r, 1, "the batch's end did not send the response");
        });
    }

    [Fact]
    public async Task OnAPoller_AHandlerThatBlocks_DoesNotHoldItsBatchSends()
    {
        using var gate = new ManualResetEventSlim(false);
        var returned = 0;
        try
        {
            await OnAPollerAsync(r =>
            {
                Write(r.Pipe.Writer, "response;");
                Done(r.Scheduler.FlushAtBatchEndAsync(r.Pipe.Writer, default));
                gate.Wait(2 * Wait); // then blocks its poller, as synchronous I/O in a handler does
                Volatile.Write(ref returned, 1);
            }, async r =>
            {
                // Only the watchdog can send it while the handler blocks (longer than this wait).
                await WaitForSendsAsync(r, 1, "a finished response waited behind its poller's blocked handler");
                Assert.Equal(0, Volatile.Read(ref returned));
            });
        }
        finally
        {
            gate.Set();
        }
    }

    /// <summary>
    /// Runs <paramref name="handler"/> on a poller, as the continuation of an inline receive that one byte from the
    /// client completes, with a recorder for its responses; then <paramref name="check"/>. Does nothing without epoll.
    /// </summary>
    private static async Task OnAPollerAsync(Action<Recorder> handler, Func<Recorder, Task> check)
    {
        if (EpollReceiverTests.Engine() is not { } engine)
            return;
        var (client, server) = await EpollReceiverTests.PairAsync();
        using var _c = client;
        using var _s = server;
        var receiver = engine.TryRegister(server, inline: true)!;
        Assert.NotNull(receiver);
        try
        {
            Assert.Equal(-1, receiver.Receive(new byte[16]));
            var wait = receiver.WaitAsync();
            var r = new Recorder();
            wait.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(() => handler(r));
            await client.SendAsync("x"u8.ToArray(), SocketFlags.None);
            await check(r);
        }
        finally
        {
            receiver.Close();
        }
    }

    /// <summary>Writes <paramref name="text"/> as a finished response and flushes it for the batch's end; the flush
    /// completes at once.</summary>
    private static void WriteAndFlushAtBatchEnd(Recorder r, string text)
    {
        Write(r.Pipe.Writer, text);
        Assert.True(Done(r.Scheduler.FlushAtBatchEndAsync(r.Pipe.Writer, default)));
    }

    /// <summary>Whether the flush completed at once (a test's flushes never wait: the recorder reads inline).</summary>
    private static bool Done(ValueTask<FlushResult> flush)
    {
        if (!flush.IsCompleted)
            return false;
        flush.GetAwaiter().GetResult();
        return true;
    }

    private static async Task WaitForSendsAsync(Recorder r, int count, string failure)
        => Assert.True(await r.WaitForSendsAsync(count, Wait), failure);
}
