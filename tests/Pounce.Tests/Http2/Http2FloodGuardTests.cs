using Pounce.Connections;
using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>Flood accounting with a hand-driven clock: each limit, its close fact, and the 10 s window.</summary>
public sealed class Http2FloodGuardTests
{
    private long _now = 1_000_000;

    private Http2FloodGuard Guard(int maxConcurrentStreams = 100) =>
        new(maxConcurrentStreams, maxHeaderListSize: 16_384, maxFrameSize: 16_384, clock: () => _now);

    private static void AssertFlood(Http2FloodGuard guard, ConnectionEnd fact, Action hit)
    {
        var ex = Assert.Throws<Http2ProtocolException>(hit);
        Assert.True(ex.IsConnectionError);
        Assert.Equal(Http2ErrorCode.EnhanceYourCalm, ex.ErrorCode);
        Assert.Equal(fact, guard.Fact);
    }

    [Fact]
    public void Settings_OverTheLimitInOneWindow_IsAFlood()
    {
        var guard = Guard();
        for (var i = 0; i < Http2FloodGuard.SettingsLimit; i++)
            guard.OnSettings();
        Assert.Equal(ConnectionEnd.None, guard.Fact);
        AssertFlood(guard, ConnectionEnd.SettingsFlood, guard.OnSettings);
    }

    [Fact]
    public void Pings_SpreadOverWindows_AreNotAFlood()
    {
        var guard = Guard();
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < Http2FloodGuard.PingLimit; i++)
                guard.OnPing();
            _now += Http2FloodGuard.WindowMs + 1;
        }
        Assert.Equal(ConnectionEnd.None, guard.Fact);
        for (var i = 0; i < Http2FloodGuard.PingLimit; i++)
            guard.OnPing();
        AssertFlood(guard, ConnectionEnd.PingFlood, guard.OnPing);
    }

    [Fact]
    public void EmptyData_OverTheLimit_IsAFlood()
    {
        var guard = Guard();
        for (var i = 0; i < Http2FloodGuard.EmptyDataLimit; i++)
            guard.OnEmptyData();
        AssertFlood(guard, ConnectionEnd.EmptyDataFlood, guard.OnEmptyData);
    }

    [Theory]
    [InlineData(10, 200)]
    [InlineData(100, 200)]
    [InlineData(500, 1000)]
    public void Resets_LimitIsTwiceTheConcurrencyLimit_AtLeast200(int maxConcurrentStreams, int limit)
    {
        var guard = Guard(maxConcurrentStreams);
        Assert.Equal(limit, guard.ResetLimit);
        for (var i = 0; i < limit; i++)
            guard.OnReset();
        AssertFlood(guard, ConnectionEnd.RapidReset, guard.OnReset);
    }

    [Fact]
    public void Continuations_OverTheFrameLimit_AreAFlood_AndANewBlockStartsAgain()
    {
        var guard = Guard();
        guard.OnHeaderBlockStart(10);
        for (var i = 0; i < Http2FloodGuard.MaxContinuationFrames; i++)
            guard.OnContinuation(1);
        guard.OnHeaderBlockStart(10);
        for (var i = 0; i < Http2FloodGuard.MaxContinuationFrames; i++)
            guard.OnContinuation(1);
        AssertFlood(guard, ConnectionEnd.ContinuationFlood, () => guard.OnContinuation(1));
    }

    [Fact]
    public void Continuations_OverTheByteLimit_AreAFlood()
    {
        var guard = Guard();
        guard.OnHeaderBlockStart(16_384);
        guard.OnContinuation(16_384);
        guard.OnContinuation(16_384); // 2 x 16384 + 16384 bytes: at the limit
        AssertFlood(guard, ConnectionEnd.ContinuationFlood, () => guard.OnContinuation(1));
    }
}
