using System.Diagnostics;
using Pounce.Connections;

namespace Pounce.Logging;

/// <summary>
/// The connection and request in flight on the current asynchronous flow, so that every log line written while a
/// request runs (Pounce's, ASP.NET Core's, the application's <c>ILogger</c> lines) can carry <c>connection_id</c> and
/// <c>request_id</c>. Read by Pounce's logger provider and by the OpenTelemetry log processor; set by the protocols.
/// </summary>
/// <remarks>
/// <para>Cheap by design: one <see cref="AsyncLocal{T}"/> holds a mutable <see cref="Slot"/> that is attached once per
/// HTTP/1.1 connection (or once per pooled HTTP/2 stream object, through a captured <see cref="ExecutionContext"/>), and
/// each request only writes two fields of it. Nothing is allocated per request.</para>
/// <para>The price of reusing the slot: work the application leaves running after its request ended (a fire-and-forget
/// task) sees the slot of whatever the connection does next: no ids between requests, the next request's ids during
/// it. Lines written inside the request, including by the framework before and after the application, are exact.</para>
/// </remarks>
public static class RequestLogContext
{
    private static readonly AsyncLocal<Slot?> Current = new();

    /// <summary>One connection's (or one HTTP/2 stream object's) place for the request it is running.</summary>
    internal sealed class Slot
    {
        private ConnectionInfo? _connection;
        private RequestInfo? _request;

        /// <summary>The connection this slot belongs to (set once it is known).</summary>
        public ConnectionInfo? Connection
        {
            get => Volatile.Read(ref _connection);
            set => Volatile.Write(ref _connection, value);
        }

        /// <summary>The request in flight, null between requests.</summary>
        public RequestInfo? Request => Volatile.Read(ref _request);

        /// <summary>A request starts running on this slot's flow (before the framework's context is created).</summary>
        public void Enter(ConnectionInfo connection, RequestInfo request)
        {
            Volatile.Write(ref _connection, connection);
            Volatile.Write(ref _request, request);
        }

        /// <summary>The request is over (after the framework disposed its context).</summary>
        public void Exit() => Volatile.Write(ref _request, null);
    }

    /// <summary>Attaches <paramref name="slot"/> to the current flow (an HTTP/1.1 connection's loop): what runs from here
    /// on, and everything it starts, sees it. Allocates once (the flow's new context).</summary>
    internal static void Attach(Slot slot) => Current.Value = slot;

    /// <summary>
    /// An execution context, captured once, in which <paramref name="slot"/> is current: an HTTP/2 stream object runs
    /// each of its requests in it (<see cref="ExecutionContext.Run"/>), so a pooled stream attaches its slot once, not
    /// once per request. Null when flow is suppressed (the caller then attaches per run).
    /// </summary>
    internal static ExecutionContext? CaptureWith(Slot slot)
    {
        var saved = ExecutionContext.Capture();
        try
        {
            Current.Value = slot;
            return ExecutionContext.Capture();
        }
        finally
        {
            if (saved is not null)
                ExecutionContext.Restore(saved);
            else
                Current.Value = null;
        }
    }

    /// <summary>The connection id of the current flow's connection, or 0 outside any.</summary>
    public static long ConnectionId => Current.Value?.Connection?.ConnectionId ?? 0;

    /// <summary>The request id (<c>connection_id-n</c>) of the request in flight on the current flow, or null.</summary>
    public static string? RequestId => Current.Value?.Request?.RequestId;

    /// <summary>Takes the correlation fields of the current flow: its connection and request, and the current
    /// <see cref="Activity"/>'s trace and span ids. Allocates nothing.</summary>
    internal static LogCorrelation Capture()
    {
        var slot = Current.Value;
        var activity = Activity.Current;
        var request = slot?.Request;
        var connectionId = request?.ConnectionId ?? slot?.Connection?.ConnectionId ?? 0;
        var hasTrace = activity is not null && activity.IdFormat == ActivityIdFormat.W3C;
        return new LogCorrelation(connectionId, request?.Sequence ?? 0,
            hasTrace ? activity!.TraceId : default, hasTrace ? activity!.SpanId : default, hasTrace);
    }
}

/// <summary>
/// The correlation fields of one log line, taken on the logging thread: <c>connection_id</c> (0: none),
/// <c>request_id</c> (<c>connection_id-sequence</c>; sequence 0: none), <c>trace_id</c>/<c>span_id</c>.
/// </summary>
internal readonly struct LogCorrelation(long connectionId, int sequence, ActivityTraceId traceId, ActivitySpanId spanId, bool hasTrace)
{
    public long ConnectionId { get; } = connectionId;

    public int Sequence { get; } = sequence;

    public ActivityTraceId TraceId { get; } = traceId;

    public ActivitySpanId SpanId { get; } = spanId;

    public bool HasTrace { get; } = hasTrace;

    public bool HasConnection => ConnectionId != 0;

    public bool HasRequest => ConnectionId != 0 && Sequence != 0;

    /// <summary>Writes <c>connection_id-sequence</c> (only when <see cref="HasRequest"/>).</summary>
    public int FormatRequestId(Span<byte> destination)
    {
        ConnectionId.TryFormat(destination, out var a, default, System.Globalization.CultureInfo.InvariantCulture);
        destination[a] = (byte)'-';
        Sequence.TryFormat(destination[(a + 1)..], out var b, default, System.Globalization.CultureInfo.InvariantCulture);
        return a + 1 + b;
    }

    public string RequestIdText => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{ConnectionId}-{Sequence}");
}
