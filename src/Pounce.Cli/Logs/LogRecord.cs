namespace Pounce.Cli.Logs;

/// <summary>What kind of line a log line is.</summary>
internal enum LineKind : byte
{
    /// <summary>A line that parsed but is none of the below (an unknown event).</summary>
    Other,
    ConnectionOpened,
    RequestStarted,
    ResponseCompleted,
    ClientDisconnected,
    ConnectionUpgraded,
    ConnectionCompleted,
    /// <summary>The log writer's <c>LogLinesDropped</c> report.</summary>
    LinesDropped,
    /// <summary>An access-log line (category <c>Pounce.Access</c>, or Apache combined in the text format).</summary>
    Access,
    /// <summary>An <c>ILogger</c> line: the application's, the framework's, the server's own messages.</summary>
    Message,
}

/// <summary>
/// The fields of one log line that the <c>pounce logs</c> views use, read without allocating: strings are slices of
/// the line (JSON escapes left in, which only matters for display), absent numbers are -1. Any Pounce version: a field
/// that is missing stays absent, an unknown field is skipped.
/// </summary>
internal ref struct LogRecord
{
    public LineKind Kind;
    public bool IsText;
    public long Timestamp; // UTC ticks, 0 when absent
    public long ConnectionId;
    public long WorkerId;
    public long Status;
    public long BytesSent;
    public long DurationMicros;
    public long RequestsServed;
    public long TotalBytesSent;
    public long Dropped;
    public bool Slow;
    public bool DuringStreaming;
    public bool Tls;
    public ReadOnlySpan<byte> Level;
    public ReadOnlySpan<byte> Method;
    public ReadOnlySpan<byte> Path;
    public ReadOnlySpan<byte> RequestId;
    public ReadOnlySpan<byte> TraceId;
    public ReadOnlySpan<byte> ClientAddr;
    public ReadOnlySpan<byte> Protocol;
    public ReadOnlySpan<byte> HttpVersion;
    public ReadOnlySpan<byte> Reason;
    public ReadOnlySpan<byte> Detail;
    public ReadOnlySpan<byte> Aborted;
    public ReadOnlySpan<byte> Category;
    public ReadOnlySpan<byte> EventName;

    /// <summary>Resets every field to absent.</summary>
    public void Clear()
    {
        this = default;
        ConnectionId = WorkerId = Status = BytesSent = DurationMicros = RequestsServed = TotalBytesSent = Dropped = -1;
    }

    /// <summary>True for a line that ends a request: a response, a disconnect, or an access line.</summary>
    public readonly bool EndsRequest => Kind is LineKind.ResponseCompleted or LineKind.ClientDisconnected or LineKind.Access;
}
