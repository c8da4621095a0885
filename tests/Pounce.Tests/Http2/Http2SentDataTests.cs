using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>How much of a response's DATA the transport took: bytes count once a flush that started after them went out.</summary>
public sealed class Http2SentDataTests
{
    [Fact]
    public void BytesCount_OnlyOnceTheFlushThatCommitsThemWentOut()
    {
        var sent = default(Http2SentData);
        sent.OnWritten(100, commits: 0, flushed: 0); // committed by flush 1
        Assert.Equal(0, sent.Accepted(flushed: 0));
        Assert.Equal(100, sent.Accepted(flushed: 1));
    }

    [Fact]
    public void BytesWrittenDuringAFlush_WaitForTheNextOne()
    {
        var sent = default(Http2SentData);
        sent.OnWritten(100, commits: 0, flushed: 0);
        // Flush 1 started (it takes the 100) and has not ended when 50 more are written: flush 2 takes those.
        sent.OnWritten(50, commits: 1, flushed: 0);
        Assert.Equal(0, sent.Accepted(flushed: 0));
        Assert.Equal(100, sent.Accepted(flushed: 1));
        Assert.Equal(150, sent.Accepted(flushed: 2));
    }

    [Fact]
    public void WritesBetweenTheSameFlushes_AreOneGroup_AndOlderGroupsSettle()
    {
        var sent = default(Http2SentData);
        sent.OnWritten(10, commits: 3, flushed: 2);
        sent.OnWritten(20, commits: 3, flushed: 2);
        Assert.Equal(0, sent.Accepted(flushed: 3));
        Assert.Equal(30, sent.Accepted(flushed: 4));
        sent.OnWritten(5, commits: 4, flushed: 3);
        sent.OnWritten(7, commits: 5, flushed: 4); // flush 4 went out: the 30 are confirmed
        Assert.Equal(30, sent.Accepted(flushed: 4));
        Assert.Equal(35, sent.Accepted(flushed: 5));
        Assert.Equal(42, sent.Accepted(flushed: 6));
    }

    [Fact]
    public void BytesOfAFailedFlush_NeverCount()
    {
        var sent = default(Http2SentData);
        sent.OnWritten(100, commits: 0, flushed: 0); // flush 1 fails: Flushed stays 0
        sent.OnWritten(10, commits: 1, flushed: 0);
        sent.OnWritten(1, commits: 2, flushed: 0); // flush 2 started, so flush 1 ended and was not taken
        Assert.Equal(0, sent.Accepted(flushed: 0));
        Assert.Equal(11, sent.Accepted(flushed: 3)); // later flushes took the later bytes, never the lost 100
    }

    [Fact]
    public void Reset_ForgetsTheResponse()
    {
        var sent = default(Http2SentData);
        sent.OnWritten(100, commits: 0, flushed: 0);
        sent.Reset();
        Assert.Equal(0, sent.Accepted(flushed: 5));
    }
}
