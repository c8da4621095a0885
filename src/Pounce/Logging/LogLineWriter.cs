using System.Buffers;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;

namespace Pounce.Logging;

/// <summary>
/// The one asynchronous, batched line writer of a server: lifecycle events, access-log lines and every
/// <see cref="ILogger"/> message go through it, in the configured <see cref="LogFormat"/>, to standard output or
/// <see cref="ServerConfig.LogFile"/>.
/// </summary>
/// <remarks>
/// Callers format a line on their own thread (into a per-thread buffer) and copy it, under a short lock, into the
/// chunk (64 KiB, reused) of the queue of the processor they run on (a <see cref="LogShard"/>), so producers on different
/// cores neither wait for each other nor pass a queue's cache lines back and forth. A text access line with nothing to
/// escape is queued instead as its record (the request's facts, see <see cref="TextAccessLine"/>) and formatted by the
/// writer thread as it gathers lines for a write. Each line is queued with the
/// monotonic time at which it was queued; a dedicated background thread takes the chunks of every queue, merges their
/// lines back into that order and writes them with one call per batch. So a line queued after another one was queued
/// (by the same thread, or by another one that the first caused to run) is written after it, as with one queue. The
/// queues hold at most <see cref="ServerConfig.LogBufferLines"/> lines together. When they are full the request path is
/// not blocked: the line is dropped and counted, and the writer thread writes a <c>LogLinesDropped</c> line with the
/// count after its next batch (and at shutdown), so a loss is never silent. <see cref="DisposeAsync"/>/<see cref="Dispose"/>
/// write everything still queued and flush, so no line is lost at exit.
/// </remarks>
public sealed partial class LogLineWriter : IDisposable, IAsyncDisposable
{
    private const int ChunkSize = 64 * 1024;

    /// <summary>
    /// Most chunks kept for reuse (2 MiB). The writer takes the chunks filled every <see cref="BusyGatherMilliseconds"/>
    /// or so, so under load a few are in use at a time; only a burst deeper than this (the writer thread held up, the output slow)
    /// allocates, and what it allocated is garbage once written. Keeping the high-water mark instead held up to
    /// <c>LogBufferLines</c> lines' worth of buffers for the process's life (the fault soak's RSS grew with its length).
    /// </summary>
    internal const int MaxKeptChunks = 32;

    /// <summary>
    /// While lines flow, the writer gathers them this long between writes. Each write system call costs the server
    /// far more than the bytes it carries (an ext4 file on a 2-core VM: the writer thread took 1.5-2.0 µs of CPU per
    /// access line writing every millisecond, 0.5-0.6 µs writing every 10 ms). A line waits at most about this long.
    /// </summary>
    internal const int BusyGatherMilliseconds = 10;

    /// <summary>Full chunks (512 KiB) at which a producer ends the writer's gathering early, so a burst is written at once.</summary>
    private const int WakeAtFullChunks = 8;

    // What the writer thread is doing, as producers see it (they wake it when it sleeps, or gathers while a burst fills the queues).
    private const int Writing = 0;
    private const int Gathering = 1;
    private const int Sleeping = 2;

    private readonly Stream _stream;
    private readonly LogPageCache? _outputPages;
    private readonly bool _ownsStream;
    private readonly int _capacity;
    private readonly int _linesPerShard;
    private readonly LogShard[] _shards;
    // The writer thread waits on this between batches, without spinning first (SemaphoreSlim spins with sched_yield
    // before it blocks: 0.06 µs of CPU per access line under load, taken from the request threads' cores).
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly Stack<LogChunk> _freeChunks = new(); // guarded by itself
    private int _writerState;
    private volatile bool _stopping;
    private volatile bool _closed;
    private long _pendingDrops;
    private long _totalDrops;

    private long _written;
    private int _disposed;
    private readonly EventHandler? _onProcessExit;

    /// <summary>Creates the writer a server's settings ask for: <see cref="ServerConfig.LogFile"/> (appended to) or
    /// standard output, in <see cref="ServerConfig.LogFormat"/>, holding at most <see cref="ServerConfig.LogBufferLines"/>.</summary>
    /// <remarks>Such a writer also flushes when the process exits (<see cref="AppDomain.ProcessExit"/>), in case the
    /// host is not disposed.</remarks>
    public LogLineWriter(ServerConfig config)
        : this(OpenOutput(config), config.LogFormat, config.LogBufferLines, ownsStream: config.LogFile is not null)
    {
        if (config.LogFile is null)
            _outputPages = LogPageCache.ForStandardOutput(); // standard output redirected to a file: the same care as LogFile
        _onProcessExit = (_, _) => Dispose();
        AppDomain.CurrentDomain.ProcessExit += _onProcessExit;
    }

    /// <summary>Creates a writer to <paramref name="stream"/> (tests, custom sinks).</summary>
    /// <param name="stream">Where lines go.</param>
    /// <param name="format">Format of every line.</param>
    /// <param name="capacity">Most lines queued before lines are dropped and counted.</param>
    /// <param name="ownsStream">Whether disposing the writer disposes the stream.</param>
    public LogLineWriter(Stream stream, LogFormat format, int capacity, bool ownsStream)
        : this(stream, format, capacity, ownsStream, Environment.ProcessorCount)
    {
    }

    /// <summary>A writer with <paramref name="queues"/> queues (tests; otherwise one per processor).</summary>
    internal LogLineWriter(Stream stream, LogFormat format, int capacity, bool ownsStream, int queues)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _stream = stream;
        _ownsStream = ownsStream;
        _capacity = capacity;
        _shards = new LogShard[Math.Clamp(queues, 1, 64)];
        for (var i = 0; i < _shards.Length; i++)
            _shards[i] = new LogShard();
        _linesPerShard = capacity / _shards.Length;
        Format = format;
        _thread = new Thread(Run) { IsBackground = true, Name = "Pounce log writer" };
        _thread.Start();
    }

    /// <summary>Format of every line this writer writes.</summary>
    public LogFormat Format { get; }

    /// <summary>Lines dropped because the buffer was full, since start (each also reported in a <c>LogLinesDropped</c> line).</summary>
    public long DroppedLines => Interlocked.Read(ref _totalDrops);

    /// <summary>Lines written to the output so far (not counting <c>LogLinesDropped</c> reports).</summary>
    public long WrittenLines => Interlocked.Read(ref _written);

    /// <summary>Lines queued and not yet written.</summary>
    public int QueuedLines
    {
        get
        {
            var lines = 0;
            foreach (var shard in _shards)
            {
                lock (shard.Gate)
                    lines += shard.QueuedLines;
            }
            return lines;
        }
    }

    /// <summary>Completes when the writer has stopped (after dispose, with everything written and flushed).</summary>
    public Task Completion => _stopped.Task;

    /// <summary>Formats a lifecycle event on the calling thread and queues its line.</summary>
    public bool WriteEvent(in LifecycleEvent e)
    {
        var buffer = LineBuffer.Rent();
        try
        {
            if (Format == LogFormat.Json)
                JsonLineFormatter.Write(buffer, in e);
            else
                TextLineFormatter.Write(buffer, in e);
            return TryEnqueue(buffer.WrittenSpan);
        }
        finally
        {
            LineBuffer.Return(buffer);
        }
    }

    /// <summary>Formats an access-log line for a completed request and queues it.</summary>
    public bool WriteAccess(DateTime timestampUtc, ConnectionInfo connection, RequestInfo request, double durationMs)
        => WriteAccess(timestampUtc, connection, request, durationMs, request.Status, abandoned: false);

    /// <summary>Formats an access-log line with the status to log (499 for a request the client abandoned, which
    /// <paramref name="abandoned"/> marks) and queues it.</summary>
    public bool WriteAccess(DateTime timestampUtc, ConnectionInfo connection, RequestInfo request, double durationMs, int status, bool abandoned)
        => WriteAccess(timestampUtc, connection, request, durationMs, status, abandoned, stamp: 0);

    /// <summary>
    /// As the public overload, with the line's place in the merged order given by <paramref name="stamp"/> (a
    /// <see cref="Stopwatch"/> timestamp the calling flow took before, with no line of its own queued since; 0: now).
    /// </summary>
    internal bool WriteAccess(DateTime timestampUtc, ConnectionInfo connection, RequestInfo request, double durationMs, int status,
        bool abandoned, long stamp)
    {
        if (stamp == 0)
            stamp = Stopwatch.GetTimestamp();
        // A text line with nothing to escape is queued as its record, which the writer thread formats.
        var length = Format == LogFormat.Text ? TextAccessLine.RecordLength(connection, request) : -1;
        if (length >= 0)
        {
            var entry = new AccessEntry(length, timestampUtc, connection, request, durationMs, status, abandoned);
            var queued = TryEnqueue(CurrentShard(), in entry, stamp);
            if (queued != Enqueued.Closed)
                return queued == Enqueued.Yes;
        }
        var buffer = LineBuffer.Rent();
        try
        {
            if (Format == LogFormat.Json)
                JsonLineFormatter.WriteAccess(buffer, timestampUtc, connection, request, durationMs, status, abandoned);
            else
                TextLineFormatter.WriteAccess(buffer, timestampUtc, connection, request, durationMs, status, abandoned);
            return TryEnqueue(CurrentShard(), buffer.WrittenSpan, stamp);
        }
        finally
        {
            LineBuffer.Return(buffer);
        }
    }

    /// <summary>Formats an <see cref="ILogger"/> message and queues its line, with the correlation fields
    /// (connection_id, request_id, trace_id, span_id) of the request in flight on the calling flow.</summary>
    public bool WriteLogMessage(DateTime timestampUtc, LogLevel level, string category, EventId eventId, string? message,
        IReadOnlyList<KeyValuePair<string, object?>>? state, Exception? exception)
        => WriteLogMessage(timestampUtc, level, category, eventId, message, state, exception, RequestLogContext.Capture());

    internal bool WriteLogMessage(DateTime timestampUtc, LogLevel level, string category, EventId eventId, string? message,
        IReadOnlyList<KeyValuePair<string, object?>>? state, Exception? exception, in LogCorrelation correlation)
    {
        var buffer = LineBuffer.Rent();
        try
        {
            if (Format == LogFormat.Json)
                JsonLineFormatter.WriteLogMessage(buffer, timestampUtc, level, category, eventId, message, state, exception, in correlation);
            else
                TextLineFormatter.WriteLogMessage(buffer, timestampUtc, level, category, message, exception, in correlation);
            return TryEnqueue(buffer.WrittenSpan);
        }
        finally
        {
            LineBuffer.Return(buffer);
        }
    }

    /// <summary>
    /// Queues one complete line (it must end with <c>\n</c>). Returns false when the buffer is full (the line is
    /// counted as dropped and reported) or the writer is disposed (the line is written synchronously if possible).
    /// </summary>
    public bool TryEnqueue(ReadOnlySpan<byte> line) => TryEnqueue(CurrentShard(), line, Stopwatch.GetTimestamp());

    /// <summary>Queues a line in the queue numbered <paramref name="queue"/> (tests: lines merged across queues).</summary>
    internal bool TryEnqueue(int queue, ReadOnlySpan<byte> line) => TryEnqueue(_shards[queue], line, Stopwatch.GetTimestamp());

    private LogShard CurrentShard()
    {
        var shards = _shards;
        return shards.Length == 1 ? shards[0] : shards[(uint)Thread.GetCurrentProcessorId() % (uint)shards.Length];
    }

    // The merge takes each queue's lines in the order they were appended. A line stamped before another of the same
    // queue but appended after it (its thread was preempted in between) waits behind it; that reorders only lines
    // queued concurrently, since a line queued after both was stamped after both.
    private bool TryEnqueue(LogShard shard, ReadOnlySpan<byte> line, long stamp)
    {
        var entry = new LineEntry(line);
        var queued = TryEnqueue(shard, in entry, stamp);
        return queued == Enqueued.Closed ? WriteLate(line) : queued == Enqueued.Yes;
    }

    private enum Enqueued
    {
        Yes,
        /// <summary>Dropped (the queues are full), counted and reported.</summary>
        Dropped,
        /// <summary>The writer has stopped: nothing queued, the caller writes the line itself.</summary>
        Closed,
    }

    private Enqueued TryEnqueue<TEntry>(LogShard shard, scoped in TEntry entry, long stamp)
        where TEntry : IQueuedEntry, allows ref struct
    {
        var wake = false;
        lock (shard.Gate)
        {
            if (_closed)
                return Enqueued.Closed;
            // Below its share of the capacity a queue need not look at the others (their lines cannot make up the rest).
            if (shard.QueuedLines >= _linesPerShard && QueuedLinesRacy() >= _capacity)
            {
                Interlocked.Increment(ref _pendingDrops);
                Interlocked.Increment(ref _totalDrops);
                return Enqueued.Dropped;
            }
            var chunk = shard.Current;
            var need = LogChunk.HeaderSize + entry.Length;
            if (chunk is null || chunk.Buffer.Length - chunk.Used < need)
            {
                if (chunk is not null)
                    shard.Full.Enqueue(chunk);
                chunk = shard.Current = RentChunk(need);
            }
            chunk.Commit(stamp, entry.WriteTo(chunk.Next), entry.IsRecord);
            shard.QueuedLines++;
            // Read under the shard's lock: the writer announces its sleep before it looks at the queues (under their
            // locks), so either it sees this line or this sees it asleep.
            var state = Volatile.Read(ref _writerState);
            if (state == Sleeping
                || (state == Gathering && (shard.Full.Count >= WakeAtFullChunks || shard.QueuedLines >= _linesPerShard / 2)))
                wake = Interlocked.CompareExchange(ref _writerState, Writing, state) == state;
        }
        if (wake)
            _wake.Set();
        return Enqueued.Yes;
    }

    /// <summary>What a producer queues: a formatted line, or a text access line's record.</summary>
    private interface IQueuedEntry
    {
        /// <summary>Bytes it takes in a chunk.</summary>
        int Length { get; }

        /// <summary>Whether it is an access record (formatted by the writer thread).</summary>
        bool IsRecord { get; }

        /// <summary>Writes it (<see cref="Length"/> bytes); returns <see cref="Length"/>.</summary>
        int WriteTo(Span<byte> destination);
    }

    private readonly ref struct LineEntry(ReadOnlySpan<byte> line) : IQueuedEntry
    {
        private readonly ReadOnlySpan<byte> _line = line;

        public int Length => _line.Length;

        public bool IsRecord => false;

        public int WriteTo(Span<byte> destination)
        {
            _line.CopyTo(destination);
            return _line.Length;
        }
    }

    private readonly ref struct AccessEntry(int length, DateTime timestampUtc, ConnectionInfo connection, RequestInfo request,
        double durationMs, int status, bool abandoned) : IQueuedEntry
    {
        public int Length => length;

        public bool IsRecord => true;

        public int WriteTo(Span<byte> destination)
            => TextAccessLine.WriteRecord(destination, timestampUtc, connection, request, durationMs, status, abandoned);
    }

    // The lines of every queue, read without their locks (a producer's capacity check): exact when no other producer runs.
    private int QueuedLinesRacy()
    {
        var lines = 0;
        foreach (var shard in _shards)
            lines += Volatile.Read(ref shard.QueuedLines);
        return lines;
    }

    // Chunks of the standard size are reused (at most MaxKeptChunks kept); a line longer than that gets a chunk of its
    // own from the shared pool.
    private LogChunk RentChunk(int length)
    {
        if (length > ChunkSize)
            return new LogChunk(ArrayPool<byte>.Shared.Rent(length));
        lock (_freeChunks)
        {
            if (_freeChunks.Count > 0)
                return _freeChunks.Pop();
        }
        return new LogChunk(new byte[ChunkSize]);
    }

    private void ReturnChunk(LogChunk chunk)
    {
        if (chunk.Buffer.Length != ChunkSize)
        {
            ArrayPool<byte>.Shared.Return(chunk.Buffer);
            return;
        }
        chunk.Clear();
        lock (_freeChunks)
        {
            if (_freeChunks.Count < MaxKeptChunks)
                _freeChunks.Push(chunk);
        }
    }

    /// <summary>Chunks kept for reuse now (at most <see cref="MaxKeptChunks"/>).</summary>
    internal int KeptChunks
    {
        get
        {
            lock (_freeChunks)
                return _freeChunks.Count;
        }
    }

    // A line logged after shutdown began (e.g. by a provider disposed late): written directly so it is not lost.
    private bool WriteLate(ReadOnlySpan<byte> line)
    {
        if (Volatile.Read(ref _disposed) == 2)
        {
            Interlocked.Increment(ref _totalDrops);
            return false;
        }
        lock (_stream)
        {
            try
            {
                _stream.Write(line);
                _stream.Flush();
                Interlocked.Increment(ref _written);
                return true;
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or NotSupportedException)
            {
                Interlocked.Increment(ref _totalDrops);
                return false;
            }
        }
    }
}
