namespace Pounce.Http2;

/// <summary>
/// The DATA payload bytes of one response written to the connection's output, and how many of them the transport
/// took (its <c>bytes_sent</c> when the response is cut short). Bytes written while <c>n</c> flushes had started are
/// committed by flush <c>n + 1</c>, so they count once the last flush the transport took
/// (<see cref="Http2FlushSchedule.Flushed"/>) is past <c>n</c>. At most two groups are unconfirmed at a time (the
/// flush in progress and the next one, as there is one flusher).
/// </summary>
/// <remarks>Updated under the output's lock by the stream's own writes; read when the stream ends.</remarks>
internal struct Http2SentData
{
    private long _confirmed;
    private long _olderBytes;
    private long _olderMark;
    private long _newerBytes;
    private long _newerMark;

    /// <summary><paramref name="count"/> bytes are written now, after <paramref name="commits"/> flushes started, of which <paramref name="flushed"/> went out.</summary>
    public void OnWritten(int count, long commits, long flushed)
    {
        Settle(flushed);
        if (_newerBytes > 0 && _newerMark == commits)
        {
            _newerBytes += count;
            return;
        }
        if (_newerBytes > 0)
        {
            // An older group still unconfirmed here was in a flush that failed: it never counts.
            _olderBytes = _newerBytes;
            _olderMark = _newerMark;
        }
        _newerBytes = count;
        _newerMark = commits;
    }

    /// <summary>Bytes written and then taken by the transport, given the last flush it took.</summary>
    public readonly long Accepted(long flushed) =>
        _confirmed + (flushed > _olderMark ? _olderBytes : 0) + (flushed > _newerMark ? _newerBytes : 0);

    /// <summary>Forgets everything (a new response).</summary>
    public void Reset() => this = default;

    private void Settle(long flushed)
    {
        if (_olderBytes > 0 && flushed > _olderMark)
        {
            _confirmed += _olderBytes;
            _olderBytes = 0;
        }
        if (_newerBytes > 0 && flushed > _newerMark)
        {
            _confirmed += _newerBytes;
            _newerBytes = 0;
        }
    }
}
