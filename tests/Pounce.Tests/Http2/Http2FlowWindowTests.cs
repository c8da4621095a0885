using Pounce.Http2;

namespace Pounce.Tests.Http2;

/// <summary>Flow-control arithmetic (RFC 9113 6.9): the 2^31-1 bound, negative windows after SETTINGS, taking from both windows.</summary>
public sealed class Http2FlowWindowTests
{
    [Fact]
    public void Grow_UpToTheMaximum_IsAllowed_OneMoreIsRefused_AndLeavesTheWindowUnchanged()
    {
        var window = new Http2FlowWindow(Http2FlowWindow.ProtocolInitialSize);
        Assert.True(window.TryGrow(int.MaxValue - Http2FlowWindow.ProtocolInitialSize));
        Assert.Equal(int.MaxValue, window.Size);
        Assert.False(window.TryGrow(1));
        Assert.Equal(int.MaxValue, window.Size);
    }

    [Fact]
    public void TwoMaximalIncrements_Overflow()
    {
        var window = new Http2FlowWindow(0);
        Assert.True(window.TryGrow(int.MaxValue));
        Assert.False(window.TryGrow(int.MaxValue));
    }

    [Fact]
    public void SettingsShrink_MakesTheWindowNegative_ThenUpdatesReopenIt()
    {
        var stream = new Http2FlowWindow(Http2FlowWindow.ProtocolInitialSize);
        var connection = new Http2FlowWindow(Http2FlowWindow.ProtocolInitialSize);
        Assert.Equal(60_000, Http2FlowWindow.Take(ref stream, ref connection, 60_000));
        // The peer lowers SETTINGS_INITIAL_WINDOW_SIZE from 65535 to 1000 while 60000 bytes are in flight.
        Assert.True(stream.TryAdjust(1_000 - Http2FlowWindow.ProtocolInitialSize));
        Assert.Equal(-59_000, stream.Size);
        Assert.False(stream.IsOpen);
        Assert.Equal(0, Http2FlowWindow.Take(ref stream, ref connection, 10));
        Assert.True(stream.TryGrow(59_000));
        Assert.Equal(0, stream.Size);
        Assert.False(stream.IsOpen);
        Assert.True(stream.TryGrow(5));
        Assert.Equal(5, Http2FlowWindow.Take(ref stream, ref connection, 10));
        Assert.Equal(Http2FlowWindow.ProtocolInitialSize - 60_005, connection.Size);
    }

    [Fact]
    public void SettingsGrowth_PastTheMaximum_IsRefused()
    {
        var window = new Http2FlowWindow(int.MaxValue - 10);
        Assert.True(window.TryAdjust(10));
        Assert.False(window.TryAdjust(1));
        Assert.Equal(int.MaxValue, window.Size);
    }

    [Fact]
    public void Take_IsBoundedByTheSmallerWindow_AndChargesBoth()
    {
        var stream = new Http2FlowWindow(100);
        var connection = new Http2FlowWindow(30);
        Assert.Equal(30, Http2FlowWindow.Take(ref stream, ref connection, 50));
        Assert.Equal(70, stream.Size);
        Assert.Equal(0, connection.Size);
        Assert.Equal(0, Http2FlowWindow.Take(ref stream, ref connection, 50));
        Assert.Equal(70, stream.Size);
    }

    [Fact]
    public void Consume_BeyondTheWindow_IsRefused_AndLeavesItUnchanged()
    {
        var window = new Http2FlowWindow(10);
        Assert.True(window.TryConsume(4));
        Assert.False(window.TryConsume(7));
        Assert.Equal(6, window.Size);
        Assert.True(window.TryConsume(6));
        Assert.False(window.TryConsume(1));
        Assert.True(window.TryConsume(0));
    }

    [Fact]
    public void Credit_IsReturnedOnceItReachesTheThreshold_AndGrantedToTheWindow()
    {
        var window = new Http2FlowWindow(100);
        Assert.True(window.TryConsume(100));
        var credit = default(Http2WindowCredit);
        Assert.Equal(0, credit.Release(30, threshold: 50, ref window));
        Assert.Equal(0, window.Size);
        Assert.Equal(30, credit.Pending);
        Assert.Equal(60, credit.Release(30, threshold: 50, ref window));
        Assert.Equal(60, window.Size);
        Assert.Equal(0, credit.Pending);
    }

    [Fact]
    public void DeferredCredit_GoesWithTheNextIncrement()
    {
        var window = new Http2FlowWindow(0);
        var credit = default(Http2WindowCredit);
        credit.Defer(40);
        Assert.Equal(50, credit.Release(10, threshold: 50, ref window));
        Assert.Equal(50, window.Size);
    }
}
