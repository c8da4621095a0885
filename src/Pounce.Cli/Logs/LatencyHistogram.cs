using System.Numerics;

namespace Pounce.Cli.Logs;

/// <summary>
/// A fixed-size log-linear histogram of non-negative integers (durations in microseconds, request counts): values
/// below 128 are counted exactly, larger ones in buckets 1/64 of their power of two wide, so a percentile is within
/// 0.8% of the true value whatever the number of samples, in 18 KB. Count, sum, min and max are exact.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBits = 6;
    private const int Sub = 1 << SubBits; // 64
    private const int MaxExponent = 44; // values up to 2^44 (about 200 days in microseconds); larger ones are clamped
    private readonly long[] _counts = new long[(MaxExponent - SubBits + 1) * Sub + Sub];

    public long Count { get; private set; }

    public long Sum { get; private set; }

    public long Max { get; private set; } = -1;

    public long Min { get; private set; } = long.MaxValue;

    public void Add(long value)
    {
        if (value < 0)
            return;
        _counts[Index(value)]++;
        Count++;
        Sum += value;
        if (value > Max)
            Max = value;
        if (value < Min)
            Min = value;
    }

    private static int Index(long v)
    {
        if (v < 2 * Sub)
            return (int)v;
        var e = Math.Min(63 - BitOperations.LeadingZeroCount((ulong)v), MaxExponent); // v in [2^e, 2^(e+1))
        var m = Math.Min(v >> (e - SubBits), 2 * Sub - 1); // in [64, 128)
        return (e - SubBits + 1) * Sub + (int)(m - Sub);
    }

    /// <summary>The middle of bucket <paramref name="index"/> (the value itself for exact buckets).</summary>
    private static long Representative(int index)
    {
        if (index < 2 * Sub)
            return index;
        var e = index / Sub + SubBits - 1;
        var m = index % Sub + Sub;
        var low = (long)m << (e - SubBits);
        var width = 1L << (e - SubBits);
        return low + (width - 1) / 2;
    }

    /// <summary>The nearest-rank percentile (<paramref name="p"/> in 0..1]; -1 when empty. Exact at 1 (the maximum).</summary>
    public long Percentile(double p)
    {
        if (Count == 0)
            return -1;
        if (p >= 1)
            return Max;
        var rank = Math.Max(1, (long)Math.Ceiling(p * Count));
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
                return Math.Clamp(Representative(i), Min, Max);
        }
        return Max;
    }

    /// <summary>How many values are in [<paramref name="low"/>, <paramref name="high"/>] (exact for values below 128).</summary>
    public long CountBetween(long low, long high)
    {
        long n = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            if (_counts[i] == 0)
                continue;
            var v = Representative(i);
            if (v >= low && v <= high)
                n += _counts[i];
        }
        return n;
    }

    public double Mean => Count == 0 ? 0 : (double)Sum / Count;
}
