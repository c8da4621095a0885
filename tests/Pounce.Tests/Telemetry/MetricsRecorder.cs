using System.Diagnostics.Metrics;

namespace Pounce.Tests.Telemetry;

/// <summary>One measurement: instrument name, value and tags.</summary>
public sealed record Measurement(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags)
{
    public string? Tag(string key) => Tags.TryGetValue(key, out var v) ? Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) : null;

    public override string ToString() => $"{Instrument} {Value} {{{string.Join(", ", Tags.Select(t => $"{t.Key}={t.Value}"))}}}";
}

/// <summary>
/// A <see cref="MeterListener"/> over the instruments of exactly one <see cref="Meter"/> (one server's, so tests running
/// in parallel do not see each other's measurements), with bounded waits.
/// </summary>
public sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<Measurement> _measurements = [];
    private readonly SemaphoreSlim _signal = new(0);

    public MetricsRecorder(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var map = new Dictionary<string, object?>();
        foreach (var tag in tags)
            map[tag.Key] = tag.Value;
        lock (_measurements)
            _measurements.Add(new Measurement(instrument.Name, value, map));
        _signal.Release();
    }

    /// <summary>Reads the observable instruments now (their values join the recorded measurements).</summary>
    public void Observe() => _listener.RecordObservableInstruments();

    public IReadOnlyList<Measurement> Snapshot()
    {
        lock (_measurements)
            return _measurements.ToArray();
    }

    public IReadOnlyList<Measurement> Of(string instrument) => Snapshot().Where(m => m.Instrument == instrument).ToArray();

    /// <summary>The sum of an instrument's measurements (for a counter or up-down counter: its value), optionally only those whose tags match.</summary>
    public double Sum(string instrument, Func<Measurement, bool>? where = null) =>
        Of(instrument).Where(m => where is null || where(m)).Sum(m => m.Value);

    /// <summary>Waits until <paramref name="condition"/> holds over the measurements, at most 20 s.</summary>
    public async Task WaitUntilAsync(Func<MetricsRecorder, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition(this))
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await _signal.WaitAsync(left))
            {
                if (condition(this))
                    return;
                throw new TimeoutException($"Timed out waiting for {what}. Measurements so far:\n" + string.Join("\n", Snapshot()));
            }
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        _signal.Dispose();
    }
}
