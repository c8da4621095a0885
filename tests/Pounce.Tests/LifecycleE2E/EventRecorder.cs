using Pounce.Lifecycle;

namespace Pounce.Tests.LifecycleE2E;

/// <summary>One recorded event: its fields in order, as the contract names them.</summary>
public sealed class RecordedEvent
{
    public RecordedEvent(IReadOnlyList<KeyValuePair<string, object?>> fields)
    {
        Fields = fields;
        foreach (var f in fields)
            Map[f.Key] = f.Value;
    }

    public IReadOnlyList<KeyValuePair<string, object?>> Fields { get; }

    public Dictionary<string, object?> Map { get; } = new();

    public string Name => (string)Map["event"]!;

    public long ConnectionId => Convert.ToInt64(Map["connection_id"], System.Globalization.CultureInfo.InvariantCulture);

    public string? RequestId => Map.TryGetValue("request_id", out var v) ? v?.ToString() : null;

    public object? this[string key] => Map.TryGetValue(key, out var v) ? v : null;

    public string Str(string key) => Convert.ToString(this[key], System.Globalization.CultureInfo.InvariantCulture) ?? "";

    public long Num(string key) => Convert.ToInt64(this[key], System.Globalization.CultureInfo.InvariantCulture);

    public override string ToString() => string.Join(" ", Fields.Select(f => $"{f.Key}={f.Value}"));
}

/// <summary>An in-process lifecycle observer for tests, with bounded waits.</summary>
public sealed class EventRecorder : ILifecycleObserver
{
    private readonly List<RecordedEvent> _events = [];
    private readonly SemaphoreSlim _signal = new(0);

    public void OnEvent(in LifecycleEvent e)
    {
        var recorded = new RecordedEvent(e.GetFields());
        lock (_events)
            _events.Add(recorded);
        _signal.Release();
    }

    public IReadOnlyList<RecordedEvent> Snapshot()
    {
        lock (_events)
            return _events.ToArray();
    }

    public IReadOnlyList<RecordedEvent> ForConnection(long id) => Snapshot().Where(e => e.ConnectionId == id).ToArray();

    /// <summary>Waits until <paramref name="condition"/> holds over the recorded events.</summary>
    public async Task WaitUntilAsync(Func<IReadOnlyList<RecordedEvent>, bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!condition(Snapshot()))
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await _signal.WaitAsync(left))
            {
                if (condition(Snapshot()))
                    return;
                throw new TimeoutException($"Timed out waiting for {what}. Events so far:\n" + string.Join("\n", Snapshot()));
            }
        }
    }

    /// <summary>Waits for the first event named <paramref name="name"/> and returns it.</summary>
    public async Task<RecordedEvent> WaitForAsync(string name)
    {
        RecordedEvent? found = null;
        await WaitUntilAsync(events =>
        {
            found = events.FirstOrDefault(e => e.Name == name);
            return found is not null;
        }, "a " + name);
        return found!;
    }

    /// <summary>Waits for the ConnectionCompleted of one connection and returns all its events.</summary>
    public async Task<IReadOnlyList<RecordedEvent>> CompletedConnectionAsync(Func<RecordedEvent, bool>? which = null)
    {
        RecordedEvent? done = null;
        await WaitUntilAsync(events =>
        {
            done = events.FirstOrDefault(e => e.Name == "ConnectionCompleted" && (which is null || which(e)));
            return done is not null;
        }, "a ConnectionCompleted");
        return ForConnection(done!.ConnectionId);
    }
}
