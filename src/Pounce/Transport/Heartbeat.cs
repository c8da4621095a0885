using System.Globalization;
using System.Text;

namespace Pounce.Transport;

/// <summary>
/// One timer per server: refreshes the cached <c>Date</c> header and calls back so the server can check every
/// live connection's deadlines; timeouts cost no timer per connection.
/// </summary>
internal sealed class Heartbeat : IDisposable
{
    private readonly Timer _timer;
    private readonly Action<long> _onTick;
    private byte[] _dateHeaderLine = [];
    private long _lastDateSecond = -1;
    private int _running;

    public Heartbeat(TimeSpan interval, Action<long> onTick)
    {
        Interval = interval;
        _onTick = onTick;
        UpdateDate();
        _timer = new Timer(static s => ((Heartbeat)s!).Tick(), this, interval, interval);
    }

    public TimeSpan Interval { get; }

    /// <summary>The line <c>Date: ...\r\n</c> for the current second.</summary>
    public ReadOnlySpan<byte> DateHeaderLine => Volatile.Read(ref _dateHeaderLine);

    /// <summary>Picks a tick short enough for the smallest timeout or grace period in force: a tenth of it, between 50 ms and 1 s.</summary>
    public static TimeSpan IntervalFor(ServerConfig config)
    {
        var smallest = TimeSpan.FromSeconds(1);
        ReadOnlySpan<TimeSpan> timeouts =
        [
            config.KeepAliveTimeout, config.HeaderTimeout, config.BodyReadTimeout, config.ResponseWriteTimeout,
            config.MinRequestBodyDataRate > 0 ? config.MinRequestBodyDataRateGracePeriod : TimeSpan.Zero,
            config.MinResponseDataRate > 0 ? config.MinResponseDataRateGracePeriod : TimeSpan.Zero,
        ];
        foreach (var t in timeouts)
        {
            // Zero: that check is off.
            if (t > TimeSpan.Zero && t / 10 < smallest)
                smallest = t / 10;
        }
        return smallest < TimeSpan.FromMilliseconds(50) ? TimeSpan.FromMilliseconds(50) : smallest;
    }

    private void Tick()
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
            return;
        try
        {
            UpdateDate();
            _onTick(Environment.TickCount64);
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    private void UpdateDate()
    {
        var utc = DateTime.UtcNow;
        var second = utc.Ticks / TimeSpan.TicksPerSecond;
        if (second == _lastDateSecond)
            return;
        _lastDateSecond = second;
        Volatile.Write(ref _dateHeaderLine, Encoding.ASCII.GetBytes("Date: " + utc.ToString("r", CultureInfo.InvariantCulture) + "\r\n"));
    }

    public void Dispose() => _timer.Dispose();
}
