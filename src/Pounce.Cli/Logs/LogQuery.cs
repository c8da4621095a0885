namespace Pounce.Cli.Logs;

/// <summary>What the operator asked: the filters and the options of the view.</summary>
internal sealed record LogQuery
{
    /// <summary>Lines before this UTC time (ticks) are left out; 0 = no bound.</summary>
    public long Since { get; init; }

    /// <summary>Lines after this UTC time (ticks) are left out; 0 = no bound.</summary>
    public long Until { get; init; }

    /// <summary>Only requests to this path (a trailing <c>*</c> makes it a prefix); null = all.</summary>
    public string? Path { get; init; }

    /// <summary>A request at least this slow (µs) is slow; -1 = the line's <c>slow</c> flag (events) or 5 s (access lines).</summary>
    public long SlowThresholdMicros { get; init; } = -1;

    /// <summary>How many of the slowest requests to keep.</summary>
    public int Top { get; init; } = 20;

    /// <summary>For <c>trace</c>: a connection id, a request id or a trace id.</summary>
    public string? TraceId { get; init; }

    /// <summary>The server's default slow threshold, for access lines, which carry no slow flag.</summary>
    public const long DefaultSlowMicros = 5_000_000;

    private byte[]? _pathBytes;

    /// <summary>True when a request line to <paramref name="path"/> passes the <c>--path</c> filter.</summary>
    public bool PathMatches(ReadOnlySpan<byte> path)
    {
        if (Path is null)
            return true;
        _pathBytes ??= System.Text.Encoding.UTF8.GetBytes(Path.EndsWith('*') ? Path[..^1] : Path);
        if (Path.EndsWith('*'))
            return path.StartsWith(_pathBytes);
        if (path.IndexOf((byte)'\\') >= 0)
            return Utf8Keys.Display(path) == Path; // escaped in the line
        return path.SequenceEqual(_pathBytes);
    }
}
