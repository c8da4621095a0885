using System.Diagnostics;

namespace Pounce.Logging;

/// <summary>
/// The wall-clock time of a <see cref="Stopwatch"/> timestamp the caller already took (a request's end), so a log line
/// about it needs no second clock read: reading the clock costs about 30 ns on a virtual machine, more than formatting
/// the time. A timestamp more than a second past the anchor re-anchors the mapping on <see cref="DateTime.UtcNow"/>
/// (once a second under load), so a clock step or a slewing clock shows within a second and the mapping drifts by at
/// most the two clocks' drift over a second (well under a millisecond).
/// </summary>
internal static class WallClock
{
    private static readonly double UtcTicksPerStamp = (double)TimeSpan.TicksPerSecond / Stopwatch.Frequency;

    private static Anchor s_anchor = Anchor.Now();

    /// <summary>The UTC time at which <see cref="Stopwatch.GetTimestamp"/> returned <paramref name="timestamp"/>.</summary>
    public static DateTime UtcAt(long timestamp)
    {
        var anchor = Volatile.Read(ref s_anchor);
        var elapsed = timestamp - anchor.Stamp;
        if (elapsed > Stopwatch.Frequency)
        {
            // Timestamps move forward: one in a second past the anchor re-anchors (once a second under load). An older
            // one (a thread that read the clock before another re-anchored) is mapped from the newer anchor as is.
            anchor = Anchor.Now();
            Volatile.Write(ref s_anchor, anchor);
            elapsed = timestamp - anchor.Stamp;
        }
        return new DateTime(anchor.UtcTicks + (long)(elapsed * UtcTicksPerStamp), DateTimeKind.Utc);
    }

    private sealed class Anchor(long stamp, long utcTicks)
    {
        public readonly long Stamp = stamp;
        public readonly long UtcTicks = utcTicks;

        // The two clocks read as close together as possible: a thread preempted between the reads would shift every
        // time mapped from this anchor by the pause. A pair read within 20 µs is kept at once; otherwise the tightest of
        // a few tries.
        public static Anchor Now()
        {
            var tight = Stopwatch.Frequency / 50_000;
            Anchor? best = null;
            var bestWidth = long.MaxValue;
            for (var attempt = 0; attempt < 5; attempt++)
            {
                var before = Stopwatch.GetTimestamp();
                var utc = DateTime.UtcNow.Ticks;
                var after = Stopwatch.GetTimestamp();
                var width = after - before;
                if (width < bestWidth)
                {
                    best = new Anchor(before + width / 2, utc);
                    bestWidth = width;
                }
                if (width <= tight)
                    break;
            }
            return best!;
        }
    }
}
