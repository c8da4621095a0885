using System.Globalization;
using System.Text;
using Pounce.Logging;
using Xunit;

namespace Pounce.Tests.Logging;

/// <summary>The log's timestamps (each second's text formatted once and reused) agree with .NET's own formatting.</summary>
public sealed class LogTimestampTests
{
    private static string Iso(DateTime t)
    {
        Span<byte> b = stackalloc byte[LogTimestamp.Iso8601Length];
        LogTimestamp.WriteIso8601(t, b);
        return Encoding.ASCII.GetString(b);
    }

    private static string Apache(DateTime t)
    {
        Span<byte> b = stackalloc byte[LogTimestamp.ApacheLength];
        LogTimestamp.WriteApache(t, b);
        return Encoding.ASCII.GetString(b);
    }

    private static string ExpectedIso(DateTime utc) => utc.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    private static string ExpectedApache(DateTime utc) => utc.ToString("'['dd'/'MMM'/'yyyy':'HH':'mm':'ss' +0000]'", CultureInfo.InvariantCulture);

    [Fact]
    public void RandomTimes_InAnyOrder_FormatAsDotNetDoes()
    {
        var random = new Random(12345);
        var min = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
        var max = new DateTime(2099, 12, 31, 23, 59, 59, DateTimeKind.Utc).Ticks;
        for (var i = 0; i < 20_000; i++)
        {
            var t = new DateTime(random.NextInt64(min, max), DateTimeKind.Utc);
            Assert.Equal(ExpectedIso(t), Iso(t));
            Assert.Equal(ExpectedApache(t), Apache(t));
        }
    }

    [Fact]
    public void TimesOnEitherSideOfASecond_InTurn_EachKeepTheirOwnSecond()
    {
        var before = new DateTime(2026, 12, 31, 23, 59, 59, DateTimeKind.Utc).AddTicks(9_999_999); // .9999999
        var after = before.AddTicks(1); // the next year
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("2026-12-31T23:59:59.999999Z", Iso(before));
            Assert.Equal("2027-01-01T00:00:00.000000Z", Iso(after));
            Assert.Equal("[31/Dec/2026:23:59:59 +0000]", Apache(before));
            Assert.Equal("[01/Jan/2027:00:00:00 +0000]", Apache(after));
        }
    }

    [Fact]
    public void LocalTimes_AreWrittenInUtc()
    {
        var utc = new DateTime(2026, 2, 12, 10, 15, 30, 123, DateTimeKind.Utc).AddTicks(4560);
        Assert.Equal("2026-02-12T10:15:30.123456Z", Iso(utc.ToLocalTime()));
        Assert.Equal("[12/Feb/2026:10:15:30 +0000]", Apache(utc.ToLocalTime()));
    }

    [Fact]
    public void ManyThreads_FormattingTheirOwnSeconds_NeverMixThem()
    {
        var start = new DateTime(2026, 6, 1, 12, 0, 0, DateTimeKind.Utc);
        var failures = 0;
        Parallel.For(0, 8, worker =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                var t = start.AddSeconds(worker * 7 + i % 3).AddTicks(i * 13 % 10_000_000);
                if (Iso(t) != ExpectedIso(t) || Apache(t) != ExpectedApache(t))
                    Interlocked.Increment(ref failures);
            }
        });
        Assert.Equal(0, failures);
    }
}
