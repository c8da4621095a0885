using System.Globalization;

namespace Pounce.Cli.Logs;

/// <summary>Reads the timestamps Pounce writes, without allocating, and the <c>--since</c>/<c>--until</c> arguments.</summary>
internal static class Timestamps
{
    /// <summary>
    /// Parses ISO 8601 as Pounce writes it (<c>2026-02-12T10:15:30.123456Z</c>; any number of fraction digits, a
    /// <c>Z</c> or <c>±hh:mm</c> offset, none = UTC) to UTC ticks; 0 when it is not one.
    /// </summary>
    public static long ParseIso8601(ReadOnlySpan<byte> s)
    {
        if (s.Length < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
            return 0;
        if (!Digits(s, 0, 4, out var year) || !Digits(s, 5, 2, out var month) || !Digits(s, 8, 2, out var day)
            || !Digits(s, 11, 2, out var hour) || !Digits(s, 14, 2, out var minute) || !Digits(s, 17, 2, out var second))
            return 0;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
            return 0;
        long fraction = 0;
        var i = 19;
        if (i < s.Length && s[i] == '.')
        {
            i++;
            var scale = TimeSpan.TicksPerSecond;
            while (i < s.Length && (uint)(s[i] - '0') <= 9)
            {
                scale /= 10;
                fraction += (s[i] - '0') * scale;
                i++;
            }
        }
        var ticks = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc).Ticks + fraction;
        if (i == s.Length || (s[i] == 'Z' && i + 1 == s.Length))
            return ticks;
        if (s.Length - i == 6 && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' && Digits(s, i + 1, 2, out var oh) && Digits(s, i + 4, 2, out var om))
        {
            var offset = (oh * 60 + om) * TimeSpan.TicksPerMinute;
            return s[i] == '+' ? ticks - offset : ticks + offset;
        }
        return 0;
    }

    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    /// <summary>Parses the Apache access-log time <c>12/Feb/2026:10:15:30 +0000</c> to UTC ticks; 0 when it is not one.</summary>
    public static long ParseApache(ReadOnlySpan<byte> s)
    {
        if (s.Length != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[20] != ' ')
            return 0;
        var month = -1;
        for (var m = 0; m < 12; m++)
        {
            if (s[3] == Months[m][0] && s[4] == Months[m][1] && s[5] == Months[m][2])
                month = m + 1;
        }
        if (month < 0 || !Digits(s, 0, 2, out var day) || !Digits(s, 7, 4, out var year) || !Digits(s, 12, 2, out var h)
            || !Digits(s, 15, 2, out var mi) || !Digits(s, 18, 2, out var sec) || !Digits(s, 22, 4, out var off))
            return 0;
        if (year < 1 || day < 1 || day > DateTime.DaysInMonth(year, month) || h > 23 || mi > 59 || sec > 59)
            return 0;
        var ticks = new DateTime(year, month, day, h, mi, sec, DateTimeKind.Utc).Ticks;
        var offset = (off / 100 * 60 + off % 100) * TimeSpan.TicksPerMinute;
        return s[21] == '-' ? ticks + offset : ticks - offset;
    }

    private static bool Digits(ReadOnlySpan<byte> s, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var d = (uint)(s[i] - '0');
            if (d > 9)
                return false;
            value = value * 10 + (int)d;
        }
        return true;
    }

    /// <summary>
    /// A <c>--since</c>/<c>--until</c> value: an ISO 8601 time (UTC unless it has an offset), or a duration before
    /// <paramref name="now"/> such as <c>90s</c>, <c>15m</c>, <c>2h</c>, <c>1d</c>.
    /// </summary>
    public static bool TryParseBound(string text, DateTime now, out long ticks)
    {
        ticks = 0;
        text = text.Trim();
        if (text.Length >= 2 && char.IsAsciiDigit(text[0]) && text[^1] is 's' or 'm' or 'h' or 'd'
            && double.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount >= 0)
        {
            var span = text[^1] switch
            {
                's' => TimeSpan.FromSeconds(amount),
                'm' => TimeSpan.FromMinutes(amount),
                'h' => TimeSpan.FromHours(amount),
                _ => TimeSpan.FromDays(amount),
            };
            ticks = now.Ticks - span.Ticks;
            return true;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
        {
            ticks = t.UtcTicks;
            return true;
        }
        return false;
    }

    /// <summary>Shows UTC ticks as Pounce writes them.</summary>
    public static string Format(long ticks)
        => ticks <= 0 ? "-" : new DateTime(ticks, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
}
