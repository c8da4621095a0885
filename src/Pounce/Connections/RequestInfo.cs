using System.Diagnostics;

namespace Pounce.Connections;

/// <summary>HTTP version of a request as the lifecycle contract writes it.</summary>
public enum HttpVersionKind : byte
{
    /// <summary>HTTP/1.0</summary>
    Http10,
    /// <summary>HTTP/1.1</summary>
    Http11,
    /// <summary>HTTP/2</summary>
    Http2,
}

/// <summary>
/// The facts of one request that lifecycle events and the access log need. One instance is reused for
/// every request of a connection (or stream), so filling it allocates nothing.
/// </summary>
public sealed class RequestInfo
{
    /// <summary>The connection carrying the request.</summary>
    public long ConnectionId { get; internal set; }

    /// <summary>1-based number of the request on its connection; the request id is <c>connection_id-sequence</c>.</summary>
    public int Sequence { get; internal set; }

    /// <summary>HTTP/2 stream id, 0 for HTTP/1.</summary>
    public int StreamId { get; internal set; }

    /// <summary>Request method.</summary>
    public string Method { get; internal set; } = "";

    /// <summary>Request path without the query string, percent-decoded as the application sees it.</summary>
    public string Path { get; internal set; } = "";

    /// <summary>HTTP version.</summary>
    public HttpVersionKind Version { get; internal set; }

    /// <summary>The <c>User-Agent</c> header, if any.</summary>
    public string? UserAgent { get; internal set; }

    /// <summary><see cref="Stopwatch"/> timestamp at which the request head was parsed.</summary>
    public long StartTimestamp { get; internal set; }

    /// <summary><see cref="Stopwatch"/> timestamp at which the response completed or the client vanished.</summary>
    public long EndTimestamp { get; internal set; }

    /// <summary>Response status code (0 until the response started).</summary>
    public int Status { get; internal set; }

    /// <summary>Response body bytes handed to the transport.</summary>
    public long BytesSent { get; internal set; }

    /// <summary>
    /// Why the server cut the response short (<c>write_timeout</c>, <c>app_abort</c>, <c>app_error</c>,
    /// <c>shutdown</c>, ...; see <see cref="ConnectionEnds.AbortCause"/>), or null when it was sent whole.
    /// </summary>
    public string? Aborted { get; internal set; }

    /// <summary>Whether the status line (or any body byte) was sent.</summary>
    public bool ResponseStarted { get; internal set; }

    /// <summary>A streaming response (Server-Sent Events) or an upgrade: never flagged slow.</summary>
    public bool IsStreaming { get; internal set; }

    /// <summary>W3C trace id of the request's activity, when there is one.</summary>
    public ActivityTraceId TraceId { get; internal set; }

    /// <summary>W3C span id of the request's activity, when there is one.</summary>
    public ActivitySpanId SpanId { get; internal set; }

    /// <summary>Whether <see cref="TraceId"/> is set.</summary>
    public bool HasTrace { get; internal set; }

    /// <summary>Takes the trace and span ids of the request's activity, when there is one.</summary>
    internal void CaptureTrace(Activity? activity)
    {
        if (activity is null || activity.IdFormat != ActivityIdFormat.W3C)
            return;
        TraceId = activity.TraceId;
        SpanId = activity.SpanId;
        HasTrace = true;
    }

    /// <summary>Set by the lifecycle emitter: the request matched <c>HealthCheckPath</c>.</summary>
    internal bool IsHealthCheck;

    /// <summary>State owned by <see cref="Telemetry.PounceMetrics"/> (counted as active, ended).</summary>
    internal int MetricsState;

    /// <summary>Milliseconds from head parsed to response completion (or to now).</summary>
    public double DurationMs
    {
        get
        {
            var end = EndTimestamp != 0 ? EndTimestamp : Stopwatch.GetTimestamp();
            return Stopwatch.GetElapsedTime(StartTimestamp, end).TotalMilliseconds;
        }
    }

    /// <summary>The request id, <c>connection_id-sequence</c>, as a new string (for loggers that need one).</summary>
    public string RequestId
    {
        get
        {
            var connection = ConnectionId;
            var sequence = Sequence;
            if (connection < 0 || sequence < 0)
            {
                Span<char> text = stackalloc char[40]; // at most 20 + 1 + 11 characters
                TryFormatRequestId(text, out var written);
                return new string(text[..written]);
            }
            // Hosting asks for it on every request (the trace identifier of its log scope): the digits are written
            // straight into the new string, with no format provider to look up.
            var a = DecimalDigits((ulong)connection);
            return string.Create(a + 1 + DecimalDigits((uint)sequence), (connection, sequence, a), static (text, id) =>
            {
                WriteDigits(text[..id.a], (ulong)id.connection);
                text[id.a] = '-';
                WriteDigits(text[(id.a + 1)..], (uint)id.sequence);
            });
        }
    }

    private static int DecimalDigits(ulong value)
    {
        var digits = 1;
        while (value >= 10)
        {
            value /= 10;
            digits++;
        }
        return digits;
    }

    private static void WriteDigits(Span<char> text, ulong value)
    {
        for (var i = text.Length - 1; i >= 0; i--)
        {
            text[i] = (char)('0' + (int)(value % 10));
            value /= 10;
        }
    }

    /// <summary>Writes the request id into <paramref name="destination"/> without allocating.</summary>
    public bool TryFormatRequestId(Span<byte> destination, out int written)
        => TryFormatRequestId(ConnectionId, Sequence, destination, out written, out _);

    /// <summary>Writes the request id of <paramref name="connectionId"/> and <paramref name="sequence"/> (for a
    /// request known only by those numbers, as in an access record); <paramref name="connectionLength"/> is the length
    /// of its connection part.</summary>
    internal static bool TryFormatRequestId(long connectionId, int sequence, Span<byte> destination, out int written,
        out int connectionLength)
    {
        written = 0;
        if (!System.Buffers.Text.Utf8Formatter.TryFormat(connectionId, destination, out connectionLength)
            || connectionLength >= destination.Length)
            return false;
        destination[connectionLength] = (byte)'-';
        if (!System.Buffers.Text.Utf8Formatter.TryFormat(sequence, destination[(connectionLength + 1)..], out var b))
            return false;
        written = connectionLength + 1 + b;
        return true;
    }

    /// <summary>Writes the request id into <paramref name="destination"/> without allocating.</summary>
    public bool TryFormatRequestId(Span<char> destination, out int written)
    {
        written = 0;
        if (!ConnectionId.TryFormat(destination, out var a, default, System.Globalization.CultureInfo.InvariantCulture) || a >= destination.Length)
            return false;
        destination[a] = '-';
        if (!Sequence.TryFormat(destination[(a + 1)..], out var b, default, System.Globalization.CultureInfo.InvariantCulture))
            return false;
        written = a + 1 + b;
        return true;
    }

    /// <summary>The contract's text of the version: <c>1.0</c>, <c>1.1</c> or <c>2.0</c>.</summary>
    public string VersionText => Version switch
    {
        HttpVersionKind.Http10 => "1.0",
        HttpVersionKind.Http2 => "2.0",
        _ => "1.1",
    };

    internal void Reset(long connectionId, int sequence, int streamId)
    {
        ConnectionId = connectionId;
        Sequence = sequence;
        StreamId = streamId;
        Method = "";
        Path = "";
        Version = HttpVersionKind.Http11;
        UserAgent = null;
        StartTimestamp = 0;
        EndTimestamp = 0;
        Status = 0;
        BytesSent = 0;
        Aborted = null;
        ResponseStarted = false;
        IsStreaming = false;
        TraceId = default;
        SpanId = default;
        HasTrace = false;
        IsHealthCheck = false;
        MetricsState = 0;
    }
}
