using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>The flush schedule alone: one flusher, "flush again" for writers that came meanwhile, numbered flushes, waiters.</summary>
public sealed class Http2FlushScheduleTests
{
    [Fact]
    public void FirstWriter_BecomesTheFlusher_OthersAreLeftToIt()
    {
        var schedule = new Http2FlushSchedule();
        Assert.False(schedule.IsFlushing);
        Assert.True(schedule.Request());
        Assert.True(schedule.IsFlushing);
        Assert.False(schedule.Request());
        Assert.False(schedule.Request());
    }

    [Fact]
    public void WritersDuringAFlush_MakeTheFlusherGoAgain_OnceForTheBatch()
    {
        var schedule = new Http2FlushSchedule();
        Assert.True(schedule.Request());
        var first = schedule.BeginFlush();
        Assert.Equal(1, first);
        Assert.False(schedule.Request()); // two streams ready while the first flush runs
        Assert.False(schedule.Request());
        Assert.True(schedule.EndFlush(first, succeeded: true, out _));
        Assert.Equal(1, schedule.Flushed);
        var second = schedule.BeginFlush();
        Assert.Equal(2, second);
        Assert.False(schedule.EndFlush(second, succeeded: true, out _));
        Assert.False(schedule.IsFlushing);
        Assert.Equal(2, schedule.Flushed);
        Assert.True(schedule.Request()); // the next writer flushes again
    }

    [Fact]
    public void WritersBeforeTheFlushStarts_NeedNoSecondFlush()
    {
        var schedule = new Http2FlushSchedule();
        Assert.True(schedule.Request()); // the flush is queued
        Assert.False(schedule.Request()); // written before it runs: it takes these bytes too
        var commit = schedule.BeginFlush();
        Assert.False(schedule.EndFlush(commit, succeeded: true, out _));
    }

    [Fact]
    public void AFailedFlush_IsNotCounted()
    {
        var schedule = new Http2FlushSchedule();
        Assert.True(schedule.Request());
        var commit = schedule.BeginFlush();
        Assert.False(schedule.EndFlush(commit, succeeded: false, out _));
        Assert.Equal(0, schedule.Flushed);
        Assert.Equal(1, schedule.Commits);
    }

    [Fact]
    public void Waiters_AreWokenAtTheFlushEnd_AndStallEndsWithIt()
    {
        var schedule = new Http2FlushSchedule();
        Assert.True(schedule.Request());
        var commit = schedule.BeginFlush();
        schedule.MarkStalled();
        Assert.True(schedule.IsStalled);
        var wait = schedule.WaitForFlushEnd();
        Assert.Same(wait, schedule.WaitForFlushEnd()); // one task for every waiter of this flush
        Assert.False(wait.IsCompleted);
        Assert.False(schedule.EndFlush(commit, succeeded: true, out var wake));
        Assert.False(schedule.IsStalled);
        Assert.NotNull(wake);
        Assert.Same(wait, wake!.Task);
        wake.TrySetResult();
        Assert.True(wait.IsCompletedSuccessfully);
    }

    [Fact]
    public void NoWaiter_NothingToWake()
    {
        var schedule = new Http2FlushSchedule();
        Assert.True(schedule.Request());
        var commit = schedule.BeginFlush();
        Assert.False(schedule.EndFlush(commit, succeeded: true, out var wake));
        Assert.Null(wake);
    }

    [Fact]
    public void OnlyTheFlusher_FlushesOrEnds_AndWaitingNeedsAFlush()
    {
        var schedule = new Http2FlushSchedule();
        Assert.Throws<InvalidOperationException>(() => schedule.BeginFlush());
        Assert.Throws<InvalidOperationException>(() => { _ = schedule.WaitForFlushEnd(); });
        Assert.True(schedule.Request());
        var commit = schedule.BeginFlush();
        Assert.Throws<InvalidOperationException>(() => schedule.EndFlush(commit + 1, succeeded: true, out _));
    }
}
