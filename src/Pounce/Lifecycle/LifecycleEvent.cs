using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Logging;

namespace Pounce.Lifecycle;

/// <summary>
/// One lifecycle event: its kind, level, wall-clock time and the live connection/request records its fields are
/// read from. A small struct passed by reference, so building one allocates nothing. The fields, their names and
/// their order are the lifecycle-logging contract's; <see cref="GetFields"/> lists them.
/// </summary>
/// <remarks>
/// <see cref="Connection"/> and <see cref="Request"/> are reused by the server for later requests: an event is only
/// valid during the call that delivers it. Keep <see cref="GetFields"/> (a snapshot) when it must outlive the call.
/// </remarks>
public readonly struct LifecycleEvent
{
    private static readonly string[] Names = Enum.GetNames<LifecycleEventKind>();

    /// <summary>Creates an event. <paramref name="durationMs"/> is the response's (request events) or the
    /// connection's (<see cref="LifecycleEventKind.ConnectionCompleted"/>) duration; 0 for the others.</summary>
    public LifecycleEvent(LifecycleEventKind kind, LogLevel level, DateTime timestampUtc, ConnectionInfo connection,
        RequestInfo? request, double durationMs = 0, bool slow = false)
    {
        Kind = kind;
        Level = level;
        TimestampUtc = timestampUtc;
        Connection = connection;
        Request = request;
        DurationMs = durationMs;
        Slow = slow;
    }

    /// <summary>Which event this is.</summary>
    public LifecycleEventKind Kind { get; }

    /// <summary>The event's level: <c>ResponseCompleted</c> is information when slow, <c>ClientDisconnected</c> a warning, the rest debug.</summary>
    public LogLevel Level { get; }

    /// <summary>Wall-clock UTC time of the event.</summary>
    public DateTime TimestampUtc { get; }

    /// <summary>The connection the event is about (live, reused record).</summary>
    public ConnectionInfo Connection { get; }

    /// <summary>The request the event is about; null for connection events (live, reused record).</summary>
    public RequestInfo? Request { get; }

    /// <summary>Milliseconds: the response's duration for <c>ResponseCompleted</c>, the connection's for <c>ConnectionCompleted</c>.</summary>
    public double DurationMs { get; }

    /// <summary>Whether a <c>ResponseCompleted</c> took at least <c>LogSlowRequestsThreshold</c> (never for streaming responses).</summary>
    public bool Slow { get; }

    /// <summary>The contract's name of the event (its <c>event</c> field).</summary>
    public string Name => Names[(int)Kind];

    /// <summary>Whether the event has a request (all but <c>ConnectionOpened</c> and <c>ConnectionCompleted</c>).</summary>
    public bool HasRequest => Request is not null;

    /// <summary>The contract's name of a kind.</summary>
    public static string NameOf(LifecycleEventKind kind) => Names[(int)kind];

    private static void AddTrace(List<KeyValuePair<string, object?>> list, RequestInfo r)
    {
        if (!r.HasTrace)
            return;
        list.Add(new("trace_id", r.TraceId.ToHexString()));
        list.Add(new("span_id", r.SpanId.ToHexString()));
    }

    /// <summary>
    /// The event's fields, in the contract's order, as a snapshot (values copied now: strings, numbers, booleans).
    /// Allocates; meant for observers that keep events, the ILogger bridge and tests, not for the hot path.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, object?>> GetFields()
    {
        var c = Connection;
        var r = Request;
        var list = new List<KeyValuePair<string, object?>>(16)
        {
            new("event", Name),
            new("connection_id", c.ConnectionId),
            new("worker_id", c.WorkerId),
            new("timestamp", LogTimestamp.ToIso8601(TimestampUtc)),
            new("level", LogLevelNames.Name(Level)),
        };
        switch (Kind)
        {
            case LifecycleEventKind.ConnectionOpened:
                list.Add(new("client_addr", c.ClientAddress));
                list.Add(new("client_port", c.ClientPort));
                list.Add(new("server_addr", c.ServerAddress));
                list.Add(new("server_port", c.ServerPort));
                list.Add(new("protocol", ConnectionEnds.Name(c.Protocol)));
                list.Add(new("tls", c.Tls));
                break;
            case LifecycleEventKind.RequestStarted when r is not null:
                list.Add(new("method", r.Method));
                list.Add(new("path", r.Path));
                list.Add(new("http_version", r.VersionText));
                list.Add(new("request_id", r.RequestId));
                if (r.StreamId != 0)
                    list.Add(new("stream_id", r.StreamId));
                AddTrace(list, r);
                break;
            case LifecycleEventKind.ResponseCompleted when r is not null:
                list.Add(new("status", r.Status));
                list.Add(new("bytes_sent", r.BytesSent));
                list.Add(new("duration_ms", RoundedMs(DurationMs)));
                if (Slow)
                    list.Add(new("slow", true));
                if (r.Aborted is { } aborted)
                    list.Add(new("aborted", aborted));
                list.Add(new("method", r.Method));
                list.Add(new("path", r.Path));
                list.Add(new("request_id", r.RequestId));
                if (r.StreamId != 0)
                    list.Add(new("stream_id", r.StreamId));
                AddTrace(list, r);
                break;
            case LifecycleEventKind.ClientDisconnected when r is not null:
                list.Add(new("during_streaming", r.ResponseStarted));
                list.Add(new("client_addr", c.ClientAddress));
                list.Add(new("request_id", r.RequestId));
                list.Add(new("method", r.Method));
                list.Add(new("path", r.Path));
                list.Add(new("bytes_sent", r.BytesSent));
                AddTrace(list, r);
                break;
            case LifecycleEventKind.ConnectionUpgraded:
                list.Add(new("protocol", ConnectionEnds.Name(c.Protocol))); // what it switched to: websocket, or h2 (h2c)
                list.Add(new("request_id", r?.RequestId ?? ""));
                break;
            case LifecycleEventKind.ConnectionCompleted:
                var (reason, detail) = ConnectionEnds.Describe(c.End);
                list.Add(new("requests_served", c.RequestsServed));
                list.Add(new("total_bytes_sent", c.TotalBytesSent));
                list.Add(new("duration_ms", RoundedMs(DurationMs)));
                list.Add(new("reason", ConnectionEnds.Name(reason)));
                list.Add(new("detail", detail));
                list.Add(new("protocol", ConnectionEnds.Name(c.Protocol)));
                list.Add(new("client_addr", c.ClientAddress));
                break;
        }
        return list;
    }

    /// <summary>A duration rounded to the microsecond (3 decimals of a millisecond), as every format writes it.</summary>
    internal static double RoundedMs(double ms) => Math.Round(ms, 3, MidpointRounding.AwayFromZero);
}
