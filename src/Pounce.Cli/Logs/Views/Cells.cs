using System.Globalization;
using Spectre.Console;

namespace Pounce.Cli.Logs.Views;

/// <summary>How numbers, durations and bars look in the tables.</summary>
internal static class Cells
{
    private const int BarWidth = 24;
    private static readonly string[] Eighths = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

    /// <summary>A horizontal bar of <paramref name="value"/> against <paramref name="max"/>, in eighths of a cell.</summary>
    public static Markup Bar(long value, long max, string color = "green")
    {
        if (max <= 0 || value <= 0)
            return new Markup("");
        var eighths = (int)Math.Max(1, Math.Round((double)value / max * BarWidth * 8));
        var bar = new string('█', eighths / 8) + Eighths[eighths % 8];
        return new Markup($"[{color}]{bar}[/]");
    }

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    public static string Percent(long part, long whole)
        => whole <= 0 ? "-" : ((double)part / whole).ToString("0.0%", CultureInfo.InvariantCulture);

    /// <summary>A duration in microseconds as milliseconds (<c>12.345 ms</c>) or seconds from 10 s on.</summary>
    public static string Duration(long micros)
    {
        if (micros < 0)
            return "-";
        if (micros >= 10_000_000)
            return (micros / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " s";
        return (micros / 1000.0).ToString("0.000", CultureInfo.InvariantCulture) + " ms";
    }

    /// <summary>A span of time as <c>1h 02m 03s</c>.</summary>
    public static string Span(long ticks)
    {
        var t = TimeSpan.FromTicks(Math.Max(0, ticks));
        if (t.TotalHours >= 1)
            return $"{(long)t.TotalHours}h {t.Minutes:00}m {t.Seconds:00}s";
        if (t.TotalMinutes >= 1)
            return $"{t.Minutes}m {t.Seconds:00}s";
        return t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + " s";
    }

    public static Text Plain(string s) => new(s);

    /// <summary>A table in the house style: a title, rounded border, right-aligned number columns.</summary>
    public static Table Table(string title, params string[] columns)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]" + Markup.Escape(title) + "[/]");
        foreach (var c in columns)
        {
            var right = c.StartsWith('>');
            var column = new TableColumn(Markup.Escape(right ? c[1..] : c));
            if (right)
                column.RightAligned();
            table.AddColumn(column);
        }
        return table;
    }

    public static void Row(Table table, params object[] cells)
        => table.AddRow(cells.Select(c => c is Spectre.Console.Rendering.IRenderable r ? r : new Text(Safe(c?.ToString() ?? ""))).ToArray());

    /// <summary>Text from the log with control characters shown as <c>\xHH</c>, so a logged value cannot drive the terminal.</summary>
    public static string Safe(string s)
    {
        if (!s.Any(c => char.IsControl(c) || c is '\u2028' or '\u2029'))
            return s;
        var sb = new System.Text.StringBuilder(s.Length + 8);
        foreach (var c in s)
            sb.Append(char.IsControl(c) || c is '\u2028' or '\u2029' ? "\\x" + ((int)c).ToString("X2", CultureInfo.InvariantCulture) : c.ToString());
        return sb.ToString();
    }

    /// <summary>Milliseconds with three decimals, for <c>--json</c>.</summary>
    public static double Ms(long micros) => micros < 0 ? -1 : micros / 1000.0;
}
