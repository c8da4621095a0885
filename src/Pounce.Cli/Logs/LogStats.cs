namespace Pounce.Cli.Logs;

/// <summary>
/// Everything the views show, gathered in one pass over the lines: line counts (malformed ones with their place),
/// the time span, request statistics from the events and from the access log, connection statistics, and the trace
/// asked for. Memory stays bounded whatever the size of the log.
/// </summary>
internal sealed class LogStats
{
    public const int MalformedShown = 10;

    public LogStats(LogQuery query)
    {
        Query = query;
        FromEvents = new RequestStats(query.SlowThresholdMicros, query.Top);
        FromAccess = new RequestStats(query.SlowThresholdMicros >= 0 ? query.SlowThresholdMicros : LogQuery.DefaultSlowMicros, query.Top);
        if (query.TraceId is not null)
            Trace = new TraceCollector(query.TraceId);
    }

    public LogQuery Query { get; }

    public List<string> Sources { get; } = [];

    public long Lines { get; private set; }

    public long Bytes { get; set; }

    public long JsonLines { get; private set; }

    public long TextLines { get; private set; }

    public long Malformed { get; private set; }

    public List<string> MalformedAt { get; } = [];

    public long Messages { get; private set; }

    public long OtherLines { get; private set; }

    public long FilteredOut { get; private set; }

    public long DroppedReported { get; private set; }

    public long First { get; private set; }

    public long Last { get; private set; }

    public RequestStats FromEvents { get; }

    public RequestStats FromAccess { get; }

    public ConnectionStats Connections { get; } = new();

    public TraceCollector? Trace { get; }

    /// <summary>Access lines not aggregated because the events are the request source.</summary>
    public long AccessLinesSkipped { get; private set; }

    /// <summary>RequestStarted events seen: the log was written at debug level, so the events hold every request's end.</summary>
    public long RequestsStarted { get; private set; }

    /// <summary>The request source the views use: the lifecycle events when they hold every request (debug level, with
    /// <c>RequestStarted</c>), else the access log when there is one (a line per request at any level), else the events.</summary>
    public RequestStats Requests => UseAccess ? FromAccess : FromEvents;

    private bool UseAccess => RequestsStarted == 0 && FromAccess.Requests > 0;

    /// <summary>Where slow requests are counted: with <c>--threshold</c> the request source; without it the server's own
    /// <c>slow</c> flags when the events have any (at the default level they are logged at info), else the access log at 5 s.</summary>
    public RequestStats SlowRequests => Query.SlowThresholdMicros >= 0 || !UseAccess || FromEvents.Slow == 0 ? Requests : FromEvents;

    /// <summary>Which source <see cref="Requests"/> is.</summary>
    public string RequestSource => UseAccess ? "access log" : "lifecycle events";

    /// <summary>Reads one line (without its newline) from <paramref name="source"/>.</summary>
    public void AddLine(ReadOnlySpan<byte> line, string source, long lineNumber)
    {
        Lines++;
        var trimmed = line.TrimStart(" \t"u8);
        if (trimmed.IsEmpty)
            return;
        var record = new LogRecord();
        // Lines whose kind and time are all that is used are not read to their end: RequestStarted (counted) unless a
        // trace or a path filter needs its fields, access lines once the events are the request source.
        var countOnly = JsonLineParser.CountOnly.None;
        if (Trace is null && Query.Path is null)
            countOnly = RequestsStarted > 0 ? JsonLineParser.CountOnly.RequestStarted | JsonLineParser.CountOnly.Access : JsonLineParser.CountOnly.RequestStarted;
        if (trimmed[0] == '{' ? JsonLineParser.TryParse(trimmed, ref record, countOnly) : TextLineParser.TryParse(trimmed, ref record))
        {
            if (record.IsText)
                TextLines++;
            else
                JsonLines++;
            Add(ref record, trimmed, source, lineNumber);
        }
        else
        {
            AddMalformed(source, lineNumber);
        }
    }

    /// <summary>Counts a line that is not a Pounce log line, remembering where the first ones were.</summary>
    public void AddMalformed(string source, long lineNumber)
    {
        Malformed++;
        if (MalformedAt.Count < MalformedShown)
        {
            var where = source + ":" + lineNumber.ToString(System.Globalization.CultureInfo.InvariantCulture);
            MalformedAt.Add(where);
            Console.Error.WriteLine($"pounce logs: {where}: not a Pounce log line (malformed or cut short), skipped");
        }
    }

    private void Add(ref LogRecord r, ReadOnlySpan<byte> line, string source, long lineNumber)
    {
        if (Query.Since != 0 || Query.Until != 0)
        {
            if (r.Timestamp == 0 || (Query.Since != 0 && r.Timestamp < Query.Since) || (Query.Until != 0 && r.Timestamp > Query.Until))
            {
                FilteredOut++;
                return;
            }
        }
        var requestLine = r.Kind is LineKind.RequestStarted or LineKind.ResponseCompleted or LineKind.ClientDisconnected or LineKind.Access;
        if (requestLine && !Query.PathMatches(r.Path))
        {
            FilteredOut++;
            return;
        }
        if (r.Timestamp > 0)
        {
            if (First == 0 || r.Timestamp < First)
                First = r.Timestamp;
            if (r.Timestamp > Last)
                Last = r.Timestamp;
        }
        Trace?.Offer(ref r, line, source, lineNumber);
        switch (r.Kind)
        {
            case LineKind.ResponseCompleted:
            case LineKind.ClientDisconnected:
                FromEvents.Add(ref r);
                break;
            case LineKind.Access:
                // Once RequestStarted events are seen (they come before their request's access line), the events hold
                // every request and the access lines are not the source: counting them twice would halve the speed.
                if (RequestsStarted == 0)
                    FromAccess.Add(ref r);
                else
                    AccessLinesSkipped++;
                break;
            case LineKind.ConnectionOpened:
            case LineKind.ConnectionUpgraded:
            case LineKind.ConnectionCompleted:
                Connections.Add(ref r);
                break;
            case LineKind.LinesDropped:
                if (r.Dropped > 0)
                    DroppedReported += r.Dropped;
                break;
            case LineKind.Message:
                Messages++;
                break;
            case LineKind.RequestStarted:
                RequestsStarted++;
                break;
            default:
                OtherLines++;
                break;
        }
    }
}
