namespace Pounce.Logging;

/// <summary>Formats wall-clock times without allocating: ISO 8601 with microseconds, and Apache's access-log form.</summary>
internal static class LogTimestamp
{
    /// <summary>Length of <c>2026-02-12T10:15:30.123456Z</c>.</summary>
    public const int Iso8601Length = 27;

    /// <summary>Length of <c>[12/Feb/2026:10:15:30 +0000]</c>.</summary>
    public const int ApacheLength = 28;

    private static ReadOnlySpan<byte> Months => "JanFebMarAprMayJunJulAugSepOctNovDec"u8;

    /// <summary>Writes <c>2026-02-12T10:15:30.123456Z</c> (27 bytes) into <paramref name="d"/>.</summary>
    public static void WriteIso8601(DateTime utc, Span<byte> d)
    {
        _ = d[Iso8601Length - 1];
        var ticks = Utc(utc).Ticks;
        var second = ticks / TimeSpan.TicksPerSecond;
        Second(second).Iso.CopyTo(d);
        var micros = (int)(ticks - second * TimeSpan.TicksPerSecond) / 10;
        Digits2(d[20..], micros / 10000);
        Digits2(d[22..], micros / 100 % 100);
        Digits2(d[24..], micros % 100);
        d[26] = (byte)'Z';
    }

    /// <summary>Writes <c>[12/Feb/2026:10:15:30 +0000]</c> (28 bytes) into <paramref name="d"/>.</summary>
    public static void WriteApache(DateTime utc, Span<byte> d)
    {
        _ = d[ApacheLength - 1];
        Second(Utc(utc).Ticks / TimeSpan.TicksPerSecond).Apache.CopyTo(d);
    }

    private static DateTime Utc(DateTime time) => time.Kind == DateTimeKind.Local ? time.ToUniversalTime() : time;

    /// <summary>
    /// The text of one second, formatted once per thread: lines come many per second, so a line copies its second and
    /// writes only its microseconds. Each thread keeps its own (rewritten in place when its second changes), so threads
    /// formatting different seconds neither race nor allocate.
    /// </summary>
    private sealed class SecondText
    {
        public long Second = -1;
        public readonly byte[] Iso = new byte[20]; // 2026-02-12T10:15:30.
        public readonly byte[] Apache = new byte[ApacheLength];

        public void Set(long second)
        {
            Second = second;
            var utc = new DateTime(second * TimeSpan.TicksPerSecond, DateTimeKind.Utc);
            utc.Deconstruct(out int year, out int month, out int day);
            var (hour, minute, sec) = (utc.Hour, utc.Minute, utc.Second);
            Span<byte> d = Iso;
            Digits4(d, year);
            d[4] = (byte)'-';
            Digits2(d[5..], month);
            d[7] = (byte)'-';
            Digits2(d[8..], day);
            d[10] = (byte)'T';
            Time(d[11..], hour, minute, sec);
            d[19] = (byte)'.';
            d = Apache;
            d[0] = (byte)'[';
            Digits2(d[1..], day);
            d[3] = (byte)'/';
            Months.Slice((month - 1) * 3, 3).CopyTo(d[4..]);
            d[7] = (byte)'/';
            Digits4(d[8..], year);
            d[12] = (byte)':';
            Time(d[13..], hour, minute, sec);
            " +0000]"u8.CopyTo(d[21..]);
        }

        // HH:MM:SS, the same in both forms.
        private static void Time(Span<byte> d, int hour, int minute, int sec)
        {
            Digits2(d, hour);
            d[2] = (byte)':';
            Digits2(d[3..], minute);
            d[5] = (byte)':';
            Digits2(d[6..], sec);
        }
    }

    [ThreadStatic]
    private static SecondText? t_second;

    private static SecondText Second(long second)
    {
        var text = t_second ??= new SecondText();
        if (text.Second != second)
            text.Set(second);
        return text;
    }

    /// <summary>The ISO 8601 form as a string (allocates; for snapshots).</summary>
    public static string ToIso8601(DateTime utc)
    {
        Span<byte> b = stackalloc byte[Iso8601Length];
        WriteIso8601(utc, b);
        return System.Text.Encoding.ASCII.GetString(b);
    }

    /// <summary>Writes a trace id (32 bytes) or span id (16 bytes) as lower-case hex.</summary>
    public static int WriteHex(System.Diagnostics.ActivityTraceId id, Span<byte> d)
    {
        // The id keeps its lower-case hex text: narrowing it is cheaper than decoding to bytes and encoding again.
        System.Text.Ascii.FromUtf16(id.ToHexString(), d, out var n);
        return n;
    }

    /// <summary>Writes a span id (16 bytes) as lower-case hex.</summary>
    public static int WriteHex(System.Diagnostics.ActivitySpanId id, Span<byte> d)
    {
        System.Text.Ascii.FromUtf16(id.ToHexString(), d, out var n);
        return n;
    }

    private static void Digits2(Span<byte> d, int v)
    {
        d[1] = (byte)('0' + v % 10);
        d[0] = (byte)('0' + v / 10 % 10);
    }

    private static void Digits4(Span<byte> d, int v)
    {
        d[3] = (byte)('0' + v % 10);
        d[2] = (byte)('0' + v / 10 % 10);
        d[1] = (byte)('0' + v / 100 % 10);
        d[0] = (byte)('0' + v / 1000 % 10);
    }
}
