using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>The stream table alone: open streams, the concurrency limit, the memory of ended streams, early responses, the pool.</summary>
public sealed class Http2StreamTableTests
{
    private sealed class FakeStream(int id)
    {
        public int Id { get; } = id;
    }

    [Fact]
    public void OpenStreams_AreFound_UntilRemoved()
    {
        var table = new Http2StreamTable<FakeStream>(10);
        var one = new FakeStream(1);
        Assert.True(table.Add(1, one));
        Assert.False(table.Add(3, new FakeStream(3)));
        Assert.Same(one, table.Find(1));
        Assert.True(table.IsOpen(1, one));
        Assert.False(table.IsOpen(3, one));
        Assert.True(table.Remove(1));
        Assert.Null(table.Find(1));
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void ConcurrencyLimit_CountsOpenStreams_LessThoseClosedForTheClient_UpToTwiceTheLimit()
    {
        var table = new Http2StreamTable<FakeStream>(2);
        table.Add(1, new FakeStream(1));
        Assert.False(table.IsAtConcurrencyLimit);
        table.Add(3, new FakeStream(3));
        Assert.True(table.IsAtConcurrencyLimit);
        table.OnClosedToPeer();
        table.OnClosedToPeer();
        Assert.False(table.IsAtConcurrencyLimit);
        table.Add(5, new FakeStream(5));
        table.Add(7, new FakeStream(7));
        table.OnClosedToPeer();
        table.OnClosedToPeer();
        // Four applications running, all closed for the client: twice the limit is the hard cap.
        Assert.True(table.IsAtConcurrencyLimit);
        table.Remove(1);
        table.OnClosedToPeerFinished();
        Assert.False(table.IsAtConcurrencyLimit);
    }

    [Fact]
    public void EndedStreams_ALaterEndingOverridesAnEarlierOne_NeverTheReverse()
    {
        var table = new Http2StreamTable<FakeStream>(10);
        Assert.Equal(Http2StreamEnd.None, table.EndOf(1));
        table.RememberEnd(1, Http2StreamEnd.Closed);
        table.RememberEnd(1, Http2StreamEnd.ResetByUs);
        Assert.Equal(Http2StreamEnd.ResetByUs, table.EndOf(1));
        table.RememberEnd(1, Http2StreamEnd.Closed);
        Assert.Equal(Http2StreamEnd.ResetByUs, table.EndOf(1));
        table.RememberEnd(1, Http2StreamEnd.ResetByClient);
        Assert.Equal(Http2StreamEnd.ResetByClient, table.EndOf(1));
    }

    [Fact]
    public void EndedStreams_TheMostRecentGenerationIsAlwaysKnown_OlderOnesAreForgotten()
    {
        var table = new Http2StreamTable<FakeStream>(10);
        const int memory = Http2StreamTable<FakeStream>.EndedStreamMemory;
        var ids = 3 * memory;
        for (var i = 0; i < ids; i++)
            table.RememberEnd(2 * i + 1, Http2StreamEnd.Closed);
        // The last `memory` endings are always known...
        for (var i = ids - memory; i < ids; i++)
            Assert.Equal(Http2StreamEnd.Closed, table.EndOf(2 * i + 1));
        // ...and the first ones are forgotten: the memory is bounded.
        for (var i = 0; i < memory; i++)
            Assert.Equal(Http2StreamEnd.None, table.EndOf(2 * i + 1));
    }

    [Fact]
    public void EndedStreams_AnUpdatedEnding_IsRenewed()
    {
        var table = new Http2StreamTable<FakeStream>(10);
        const int memory = Http2StreamTable<FakeStream>.EndedStreamMemory;
        table.RememberEnd(1, Http2StreamEnd.Closed);
        for (var i = 1; i < memory + 10; i++)
            table.RememberEnd(2 * i + 1, Http2StreamEnd.Closed);
        // Stream 1 is in the older generation now; a new ending moves it to the newer one.
        table.RememberEnd(1, Http2StreamEnd.ResetByClient);
        for (var i = memory + 10; i < 2 * memory; i++)
            table.RememberEnd(2 * i + 1, Http2StreamEnd.Closed);
        Assert.Equal(Http2StreamEnd.ResetByClient, table.EndOf(1));
    }

    [Fact]
    public void EarlyResponses_GetTheirResetOnce_UnlessClosedOrResetMeanwhile()
    {
        var table = new Http2StreamTable<FakeStream>(10);
        table.RememberEarlyResponse(1, declaredLength: 10, received: 3, new Http2FlowWindow(100));
        table.RememberEarlyResponse(3, declaredLength: null, received: 0, new Http2FlowWindow(100));
        table.RememberEarlyResponse(5, declaredLength: null, received: 0, new Http2FlowWindow(100));
        Assert.Equal(Http2StreamEnd.ResponseComplete, table.EndOf(1));
        ref var entry = ref table.EndedEntry(1);
        Assert.Equal(10, entry.DeclaredLength);
        Assert.Equal(3, entry.Received);
        Assert.Equal(100, entry.SendWindow.Size);
        table.RememberEnd(3, Http2StreamEnd.ResetByClient); // the client reset it first
        table.EndedEntry(5).End = Http2StreamEnd.Closed;    // the client ended its request first
        var written = new List<int>();
        Assert.True(table.HasEarlyResets);
        table.TakeEarlyResets(written, static (list, id) => list.Add(id));
        Assert.Equal([1], written);
        Assert.Equal(Http2StreamEnd.ResetByUs, table.EndOf(1));
        Assert.Equal(10, table.EndedEntry(1).DeclaredLength); // still checked against late DATA
        Assert.False(table.HasEarlyResets);
        table.TakeEarlyResets(written, static (list, id) => list.Add(id));
        Assert.Equal([1], written);
    }

    [Fact]
    public void Pool_HoldsUpToTheConcurrencyLimit_LastInFirstOut()
    {
        var table = new Http2StreamTable<FakeStream>(3);
        Assert.Null(table.Rent());
        for (var i = 0; i < 3; i++)
            Assert.True(table.Return(new FakeStream(i), now: 0));
        Assert.False(table.Return(new FakeStream(99), now: 0));
        Assert.Equal(3, table.PooledCount);
        Assert.Equal(2, table.Rent()!.Id);
        Assert.Equal(1, table.Rent()!.Id);
        Assert.Equal(1, table.PooledCount);
    }

    [Fact]
    public void Pool_DropsObjectsUnusedForFiveSeconds_OldestFirst()
    {
        var table = new Http2StreamTable<FakeStream>(10);
        table.Return(new FakeStream(1), now: 1_000);
        table.Return(new FakeStream(2), now: 2_000);
        table.Return(new FakeStream(3), now: 4_000);
        table.ExpirePool(now: 6_999);
        Assert.Equal(2, table.PooledCount);
        table.ExpirePool(now: 7_000);
        Assert.Equal(1, table.PooledCount);
        Assert.Equal(3, table.Rent()!.Id);
        table.Return(new FakeStream(4), now: 8_000);
        table.ClearPool();
        Assert.Equal(0, table.PooledCount);
        Assert.Null(table.Rent());
    }
}
