using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pounce.Http2;

/// <summary>How a stream that is no longer open ended; a later value overrides an earlier one.</summary>
internal enum Http2StreamEnd : byte
{
    /// <summary>Unknown: never opened, or forgotten.</summary>
    None,

    /// <summary>
    /// Our response is complete but the client has not ended its request, and our RST_STREAM(NO_ERROR) (RFC 9113 8.1)
    /// is not written yet: for the client the stream is still open, so its frames are still checked (content-length,
    /// window overflow) and answered with the error they deserve.
    /// </summary>
    ResponseComplete,

    /// <summary>Both sides sent END_STREAM: any frame but PRIORITY, WINDOW_UPDATE, RST_STREAM is a connection STREAM_CLOSED.</summary>
    Closed,

    /// <summary>We reset it, refused it or ignored it (after GOAWAY): frames the client sent meanwhile are discarded.</summary>
    ResetByUs,

    /// <summary>The client reset it: anything after that but PRIORITY is a stream STREAM_CLOSED.</summary>
    ResetByClient,
}

/// <summary>What is remembered of a stream that left the table: how it ended and, after an early response, its request's framing.</summary>
internal struct Http2EndedStream
{
    /// <summary>How it ended.</summary>
    public Http2StreamEnd End;

    /// <summary>The request's <c>content-length</c> still to be checked against late DATA (early responses only).</summary>
    public long? DeclaredLength;

    /// <summary>Request body bytes received so far (early responses only).</summary>
    public long Received;

    /// <summary>Our send window when the response ended (early responses only): a WINDOW_UPDATE may still overflow it.</summary>
    public Http2FlowWindow SendWindow;
}

/// <summary>
/// The streams of one connection: the open ones by id, the memory of how recent ones ended (two generations of
/// <see cref="EndedStreamMemory"/>: the most recent endings are always known, a frame on a forgotten id is treated as on
/// a closed one), a pool of finished stream objects to serve later streams, and the concurrency limit. Not thread-safe:
/// the connection's lock guards it (except the closed-to-peer count, which is atomic).
/// </summary>
/// <typeparam name="TStream">The stream type (a type parameter so that the table is testable alone).</typeparam>
internal sealed class Http2StreamTable<TStream> where TStream : class
{
    /// <summary>Endings remembered per generation.</summary>
    public const int EndedStreamMemory = 512;

    /// <summary>A pooled stream object unused this long is dropped.</summary>
    public const long PoolExpiryMs = 5_000;

    private readonly Dictionary<int, TStream> _open = new();
    private readonly int _maxConcurrent;
    private Dictionary<int, Http2EndedStream> _ended = new();
    private Dictionary<int, Http2EndedStream> _endedBefore = new();
    private readonly List<int> _earlyResets = new();
    private int _earlyResetCount;
    private TStream?[] _pool = [];
    private long[] _pooledAt = [];
    private int _pooled;
    private int _closedToPeerRunning;

    /// <summary>A table for SETTINGS_MAX_CONCURRENT_STREAMS = <paramref name="maxConcurrentStreams"/> (also the pool's size).</summary>
    public Http2StreamTable(int maxConcurrentStreams) => _maxConcurrent = maxConcurrentStreams;

    /// <summary>Open streams (registered, application not finished).</summary>
    public int Count => _open.Count;

    /// <summary>The open streams, for iteration without allocation.</summary>
    public Dictionary<int, TStream>.ValueCollection Streams => _open.Values;

    /// <summary>Stream objects waiting in the pool.</summary>
    public int PooledCount => _pooled;

    /// <summary>The open stream <paramref name="streamId"/>, or null.</summary>
    public TStream? Find(int streamId) => _open.GetValueOrDefault(streamId);

    /// <summary>Registers an open stream; true when it is the only one (the connection leaves its idle wait).</summary>
    public bool Add(int streamId, TStream stream)
    {
        _open[streamId] = stream;
        return _open.Count == 1;
    }

    /// <summary>Whether <paramref name="stream"/> is still the open stream <paramref name="streamId"/>.</summary>
    public bool IsOpen(int streamId, TStream stream) => _open.TryGetValue(streamId, out var current) && current == stream;

    /// <summary>Unregisters a stream whose application finished.</summary>
    public bool Remove(int streamId) => _open.Remove(streamId);

    // ---- concurrency ----

    /// <summary>Streams closed for the client (END_STREAM both ways) whose application still runs.</summary>
    public int ClosedToPeerRunning => Volatile.Read(ref _closedToPeerRunning);

    /// <summary>Any thread: a stream became closed for the client while its application still runs.</summary>
    public void OnClosedToPeer() => Interlocked.Increment(ref _closedToPeerRunning);

    /// <summary>Any thread: a stream counted by <see cref="OnClosedToPeer"/> left the table.</summary>
    public void OnClosedToPeerFinished() => Interlocked.Decrement(ref _closedToPeerRunning);

    /// <summary>
    /// Whether a new stream would exceed SETTINGS_MAX_CONCURRENT_STREAMS. Streams closed for the client whose application
    /// is still finishing (OnCompleted callbacks) do not count, as the client no longer counts them (RFC 9113 5.1.2);
    /// twice the limit in all is the hard cap on running applications.
    /// </summary>
    public bool IsAtConcurrencyLimit
    {
        get
        {
            var registered = _open.Count;
            return registered - ClosedToPeerRunning >= _maxConcurrent || registered >= 2L * _maxConcurrent;
        }
    }

    // ---- memory of ended streams ----

    /// <summary>How a stream no longer open ended (<see cref="Http2StreamEnd.None"/>: unknown or forgotten).</summary>
    public Http2StreamEnd EndOf(int streamId)
    {
        ref var entry = ref EndedSlot(streamId, out var exists);
        return exists ? entry.End : Http2StreamEnd.None;
    }

    /// <summary>Remembers that <paramref name="streamId"/> ended as <paramref name="end"/>, unless a later ending is known already.</summary>
    public void RememberEnd(int streamId, Http2StreamEnd end)
    {
        ref var entry = ref EndedSlot(streamId, out var exists);
        if (!exists)
        {
            InsertUnknown(streamId, new Http2EndedStream { End = end });
        }
        else if (end > entry.End)
        {
            var renewed = entry; // re-inserted in the newer generation: a recent ending
            renewed.End = end;
            Insert(streamId, renewed);
        }
    }

    /// <summary>
    /// A stream's response ended before its request: remembered as <see cref="Http2StreamEnd.ResponseComplete"/> with
    /// what late frames are checked against, and queued for RST_STREAM(NO_ERROR) (see <see cref="TakeEarlyResets"/>).
    /// </summary>
    public void RememberEarlyResponse(int streamId, long? declaredLength, long received, Http2FlowWindow sendWindow)
    {
        Insert(streamId, new Http2EndedStream { End = Http2StreamEnd.ResponseComplete, DeclaredLength = declaredLength, Received = received, SendWindow = sendWindow });
        _earlyResets.Add(streamId);
        Interlocked.Exchange(ref _earlyResetCount, _earlyResets.Count); // a full fence: see Http2Connection.ReadFramesAsync
    }

    /// <summary>Whether RST_STREAM(NO_ERROR) for early responses waits to be written (readable without the lock, as a hint).</summary>
    public bool HasEarlyResets => Volatile.Read(ref _earlyResetCount) > 0;

    /// <summary>
    /// Calls <paramref name="write"/> for each early response whose stream is still <see cref="Http2StreamEnd.ResponseComplete"/>
    /// (not closed or reset meanwhile) and marks it <see cref="Http2StreamEnd.ResetByUs"/>; empties the queue.
    /// </summary>
    public void TakeEarlyResets<TState>(TState state, Action<TState, int> write)
    {
        foreach (var id in _earlyResets)
        {
            ref var entry = ref EndedSlot(id, out var exists);
            if (exists && entry.End != Http2StreamEnd.ResponseComplete)
                continue;
            if (exists)
                entry.End = Http2StreamEnd.ResetByUs;
            else
                Insert(id, new Http2EndedStream { End = Http2StreamEnd.ResetByUs });
            write(state, id);
        }
        _earlyResets.Clear();
        Volatile.Write(ref _earlyResetCount, 0);
    }

    /// <summary>
    /// The memory of an ended stream, to update in place (late DATA counted against content-length, a WINDOW_UPDATE
    /// against the send window); a null reference when it is forgotten or was never known.
    /// </summary>
    public ref Http2EndedStream EndedEntry(int streamId)
    {
        ref var entry = ref EndedSlot(streamId, out _);
        return ref entry;
    }

    private ref Http2EndedStream EndedSlot(int streamId, out bool exists)
    {
        ref var entry = ref CollectionsMarshal.GetValueRefOrNullRef(_ended, streamId);
        if (!Unsafe.IsNullRef(ref entry))
        {
            exists = true;
            return ref entry;
        }
        entry = ref CollectionsMarshal.GetValueRefOrNullRef(_endedBefore, streamId);
        exists = !Unsafe.IsNullRef(ref entry);
        return ref entry;
    }

    /// <summary><see cref="Insert"/> of an id neither generation holds (the common case: a stream just ended).</summary>
    private void InsertUnknown(int streamId, in Http2EndedStream entry)
    {
        if (_ended.Count >= EndedStreamMemory)
        {
            (_ended, _endedBefore) = (_endedBefore, _ended);
            _ended.Clear();
        }
        _ended[streamId] = entry;
    }

    private void Insert(int streamId, in Http2EndedStream entry)
    {
        if (_ended.Count >= EndedStreamMemory && !_ended.ContainsKey(streamId))
        {
            // Two generations: the older one is dropped, so the most recent endings are always known.
            (_ended, _endedBefore) = (_endedBefore, _ended);
            _ended.Clear();
        }
        _endedBefore.Remove(streamId);
        _ended[streamId] = entry;
    }

    // ---- pool ----

    /// <summary>A pooled stream object, or null when the pool is empty.</summary>
    public TStream? Rent()
    {
        if (_pooled == 0)
            return null;
        var stream = _pool[--_pooled]!;
        _pool[_pooled] = null;
        return stream;
    }

    /// <summary>
    /// Keeps a finished stream object for a later stream (at most SETTINGS_MAX_CONCURRENT_STREAMS of them, as Kestrel);
    /// false when the pool is full. <paramref name="now"/> (milliseconds) dates it for <see cref="ExpirePool"/>.
    /// </summary>
    public bool Return(TStream stream, long now)
    {
        if (_pooled == _pool.Length)
        {
            if (_pool.Length >= _maxConcurrent)
                return false;
            var size = Math.Min(_maxConcurrent, Math.Max(4, _pool.Length * 2));
            Array.Resize(ref _pool, size);
            Array.Resize(ref _pooledAt, size);
        }
        _pooledAt[_pooled] = now;
        _pool[_pooled++] = stream;
        return true;
    }

    /// <summary>Drops pooled objects unused for <see cref="PoolExpiryMs"/> (the oldest are at the bottom), so an idle connection holds none.</summary>
    public void ExpirePool(long now)
    {
        var expired = 0;
        while (expired < _pooled && now - _pooledAt[expired] >= PoolExpiryMs)
            expired++;
        if (expired == 0)
            return;
        Array.Copy(_pool, expired, _pool, 0, _pooled - expired);
        Array.Copy(_pooledAt, expired, _pooledAt, 0, _pooled - expired);
        Array.Clear(_pool, _pooled - expired, expired);
        _pooled -= expired;
    }

    /// <summary>The connection ended: the pool lets go of everything.</summary>
    public void ClearPool()
    {
        Array.Clear(_pool);
        _pooled = 0;
    }
}
