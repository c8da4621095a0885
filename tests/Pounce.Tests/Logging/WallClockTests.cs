using System.Diagnostics;
using Pounce.Logging;
using Xunit;

namespace Pounce.Tests.Logging;

/// <summary>The wall-clock time of a timestamp already taken (a request's end) agrees with the clock read then.</summary>
public sealed class WallClockTests
{
    // The two clocks are read one after the other, so they differ by a scheduling delay at most; far below this.
    private static readonly TimeSpan Tolerance = TimeSpan.FromMilliseconds(50);

    [Fact]
    public void A_timestamp_taken_now_maps_to_now()
    {
        for (var i = 0; i < 1000; i++)
        {
            var before = DateTime.UtcNow;
            var mapped = WallClock.UtcAt(Stopwatch.GetTimestamp());
            var after = DateTime.UtcNow;
            Assert.Equal(DateTimeKind.Utc, mapped.Kind);
            Assert.InRange(mapped, before - Tolerance, after + Tolerance);
        }
    }

    [Fact]
    public void An_older_timestamp_maps_to_that_much_earlier()
    {
        var now = Stopwatch.GetTimestamp();
        var utcNow = WallClock.UtcAt(now);
        var tenSecondsAgo = now - 10 * Stopwatch.Frequency;
        Assert.InRange(WallClock.UtcAt(tenSecondsAgo) - utcNow, TimeSpan.FromSeconds(-10) - Tolerance, TimeSpan.FromSeconds(-10) + Tolerance);
        // Mapping an old timestamp does not move the anchor: the present still maps to the present.
        var before = DateTime.UtcNow;
        Assert.InRange(WallClock.UtcAt(Stopwatch.GetTimestamp()), before - Tolerance, DateTime.UtcNow + Tolerance);
    }

    [Fact]
    public void A_timestamp_seconds_past_the_anchor_reanchors_and_stays_right()
    {
        // A timestamp three seconds in the future (as one taken after three quiet seconds would be) re-anchors.
        var ahead = Stopwatch.GetTimestamp() + 3 * Stopwatch.Frequency;
        var expected = DateTime.UtcNow + TimeSpan.FromSeconds(3);
        Assert.InRange(WallClock.UtcAt(ahead), expected - Tolerance, expected + Tolerance);
        var before = DateTime.UtcNow;
        Assert.InRange(WallClock.UtcAt(Stopwatch.GetTimestamp()), before - Tolerance, DateTime.UtcNow + Tolerance);
    }

    [Fact]
    public void Later_timestamps_never_map_earlier()
    {
        var previous = DateTime.MinValue;
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < 200_000; i++)
        {
            var mapped = WallClock.UtcAt(start + i * (Stopwatch.Frequency / 100_000)); // 2 s of timestamps, 10 µs apart
            Assert.True(mapped >= previous || previous - mapped < TimeSpan.FromMilliseconds(1),
                $"{mapped:O} after {previous:O}: a re-anchoring moved the time back by more than the clocks' drift");
            previous = mapped;
        }
    }
}
