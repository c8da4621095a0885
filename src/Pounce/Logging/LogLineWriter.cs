using System.Buffers;
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
/// chunk being filled (64 KiB, reused); a dedicated background thread takes whole chunks and writes each with one call,
/// so a line costs its producer one uncontended lock and one copy, and the writer one system call per chunk. The
/// chunks hold at most <see cref="ServerConfig.LogBufferLines"/> lines. When they are full the request path is not
/// blocked: the line is dropped and counted, and the writer thread writes a <c>LogLinesDropped</c> line with the count
/// after its next batch (and at shutdown), so a loss is never silent. <see cref="DisposeAsync"/>/<see cref="Dispose"/>
/// write everything still queued and flush, so no line is lost at exit. Lines keep the order in which their producers
/// queued them.
/// </remarks>
public sealed class LogLineWriter : IDisposable, IAsyncDisposable
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

    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly int _capacity;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Everything below up to _totalDrops is guarded by _gate.
    private readonly Lock _gate = new();
    private readonly Queue<Chunk> _full = new();
    private readonly Stack<Chunk> _free = new();
    private Chunk? _current;
    private int _queuedLines;
    private bool _writerSleeping;
    private bool _writerGathering;
    private bool _stopping;
    private bool _closed;
    private long _pendingDrops;
    private long _totalDrops;

    private long _written;
    private int _disposed;
    private readonly EventHandler? _onProcessExit;

    /// <summary>Queued lines, back to back, in one buffer the writer thread writes with one call.</summary>
    private sealed class Chunk(byte[] buffer)
    {
        public readonly byte[] Buffer = buffer;
        public int Used;
        public int Lines;
    }

    /// <summary>Creates the writer a server's settings ask for: <see cref="ServerConfig.LogFile"/> (appended to) or
    /// standard output, in <see cref="ServerConfig.LogFormat"/>, holding at most <see cref="ServerConfig.LogBufferLines"/>.</summary>
    /// <remarks>Such a writer also flushes when the process exits (<see cref="AppDomain.ProcessExit"/>), in case the
    /// host is not disposed.</remarks>
    public LogLineWriter(ServerConfig config)
        : this(OpenOutput(config), config.LogFormat, config.LogBufferLines, ownsStream: config.LogFile is not null)
    {
        _onProcessExit = (_, _) => Dispose();
        AppDomain.CurrentDomain.ProcessExit += _onProcessExit;
    }

    /// <summary>Creates a writer to <paramref name="stream"/> (tests, custom sinks).</summary>
    /// <param name="stream">Where lines go.</param>
    /// <param name="format">Format of every line.</param>
    /// <param name="capacity">Most lines queued before lines are dropped and counted.</param>
    /// <param name="ownsStream">Whether disposing the writer disposes the stream.</param>
    public LogLineWriter(Stream stream, LogFormat format, int capacity, bool ownsStream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _stream = stream;
        _ownsStream = ownsStream;
        _capacity = capacity;
        Format = format;
        _thread = new Thread(Run) { IsBackground = true, Name = "Pounce log writer" };
        _thread.Start();
    }

    /// <summary>Format of every line this writer writes.</summary>
    public LogFormat Format { get; }

    /// <summary>Lines dropped because the buffer was full, since start (each also reported in a <c>LogLinesDropped</c> line).</summary>
    public long DroppedLines
    {
        get
        {
            lock (_gate)
                return _totalDrops;
        }
    }

    /// <summary>Lines written to the output so far (not counting <c>LogLinesDropped</c> reports).</summary>
    public long WrittenLines => Interlocked.Read(ref _written);

    /// <summary>Lines queued and not yet written.</summary>
    public int QueuedLines
    {
        get
        {
            lock (_gate)
                return _queuedLines;
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
    {
        var buffer = LineBuffer.Rent();
        try
        {
            if (Format == LogFormat.Json)
                JsonLineFormatter.WriteAccess(buffer, timestampUtc, connection, request, durationMs, status, abandoned);
            else
                TextLineFormatter.WriteAccess(buffer, timestampUtc, connection, request, durationMs, status, abandoned);
            return TryEnqueue(buffer.WrittenSpan);
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
    public bool TryEnqueue(ReadOnlySpan<byte> line)
    {
        bool wake;
        lock (_gate)
        {
            if (_closed)
                goto late;
            if (_queuedLines >= _capacity)
            {
                _pendingDrops++;
                _totalDrops++;
                return false;
            }
            var chunk = _current;
            if (chunk is null || chunk.Buffer.Length - chunk.Used < line.Length)
            {
                if (chunk is not null)
                    _full.Enqueue(chunk);
                chunk = _current = RentChunk(line.Length);
            }
            line.CopyTo(chunk.Buffer.AsSpan(chunk.Used));
            chunk.Used += line.Length;
            chunk.Lines++;
            _queuedLines++;
            // The writer is asleep, or gathering while a burst fills chunks (or half the line budget): wake it.
            wake = _writerSleeping
                || (_writerGathering && (_full.Count >= WakeAtFullChunks || _queuedLines >= _capacity / 2));
            if (wake)
            {
                _writerSleeping = false;
                _writerGathering = false;
            }
        }
        if (wake)
            _wake.Release();
        return true;
    late:
        return WriteLate(line);
    }

    // Under _gate. Chunks of the standard size are reused (only the high-water mark is ever allocated); a line
    // longer than that gets a chunk of its own from the shared pool.
    private Chunk RentChunk(int length)
    {
        if (length > ChunkSize)
            return new Chunk(ArrayPool<byte>.Shared.Rent(length));
        return _free.Count > 0 ? _free.Pop() : new Chunk(new byte[ChunkSize]);
    }

    // Takes the oldest chunk with lines in it (the one being filled last), or null when nothing is queued.
    private Chunk? TakeChunk()
    {
        lock (_gate)
        {
            Chunk? chunk;
            if (_full.Count > 0)
            {
                chunk = _full.Dequeue();
            }
            else
            {
                chunk = _current;
                if (chunk is null || chunk.Lines == 0)
                    return null;
                _current = null;
            }
            _queuedLines -= chunk.Lines;
            return chunk;
        }
    }

    private void ReturnChunk(Chunk chunk)
    {
        chunk.Used = 0;
        chunk.Lines = 0;
        if (chunk.Buffer.Length != ChunkSize)
        {
            ArrayPool<byte>.Shared.Return(chunk.Buffer);
            return;
        }
        lock (_gate)
        {
            if (_free.Count < MaxKeptChunks)
                _free.Push(chunk);
        }
    }

    /// <summary>Chunks kept for reuse now (at most <see cref="MaxKeptChunks"/>).</summary>
    internal int KeptChunks
    {
        get
        {
            lock (_gate)
                return _free.Count;
        }
    }

    // A line logged after shutdown began (e.g. by a provider disposed late): written directly so it is not lost.
    private bool WriteLate(ReadOnlySpan<byte> line)
    {
        if (Volatile.Read(ref _disposed) == 2)
        {
            CountLateDrop();
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
                CountLateDrop();
                return false;
            }
        }
    }

    private void CountLateDrop()
    {
        lock (_gate)
            _totalDrops++;
    }

    private void Run()
    {
        var report = new LineBuffer(256);
        try
        {
            while (true)
            {
                // Write until nothing is queued (lines queued while a chunk was being written included), so a drop
                // report follows the lines queued before the drops; bounded so that under overload it still appears.
                var busy = false;
                for (var rounds = 0; rounds < 8 && WriteQueued(); rounds++)
                    busy = true;
                ReportDrops(report);
                Flush();
                if (busy)
                {
                    // Lines are flowing: gather them (see BusyGatherMilliseconds) rather than writing each batch at once
                    // or being woken for each line (a wake-up per line would cost the request threads a semaphore
                    // release each); a burst that fills chunks wakes the writer early.
                    lock (_gate)
                        _writerGathering = true;
                    _wake.Wait(BusyGatherMilliseconds);
                    lock (_gate)
                        _writerGathering = false;
                    continue;
                }
                lock (_gate)
                {
                    if (_queuedLines > 0)
                        continue;
                    if (_stopping)
                    {
                        // Nothing queued and no producer can queue any more: later lines are written directly.
                        _closed = true;
                        break;
                    }
                    _writerSleeping = true;
                }
                _wake.Wait(TimeSpan.FromSeconds(1));
                lock (_gate)
                    _writerSleeping = false;
            }
            ReportDrops(report);
            Flush();
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    /// <summary>Writes one queued chunk; false when nothing was queued.</summary>
    private bool WriteQueued()
    {
        var chunk = TakeChunk();
        if (chunk is null)
            return false;
        Interlocked.Add(ref _written, chunk.Lines); // handed to the output (as the metric counts them)
        Output(chunk.Buffer.AsSpan(0, chunk.Used));
        ReturnChunk(chunk);
        return true;
    }

    private void ReportDrops(LineBuffer report)
    {
        long dropped;
        lock (_gate)
        {
            dropped = _pendingDrops;
            _pendingDrops = 0;
        }
        if (dropped == 0)
            return;
        report.Clear();
        if (Format == LogFormat.Json)
            JsonLineFormatter.WriteDropped(report, DateTime.UtcNow, dropped);
        else
            TextLineFormatter.WriteDropped(report, DateTime.UtcNow, dropped);
        Output(report.WrittenSpan);
    }

    private void Output(ReadOnlySpan<byte> bytes)
    {
        try
        {
            lock (_stream)
                _stream.Write(bytes);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or NotSupportedException)
        {
            // The output is gone (closed pipe, full disk): nothing sensible to write the error to.
        }
    }

    private void Flush()
    {
        try
        {
            lock (_stream)
                _stream.Flush();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or NotSupportedException)
        {
        }
    }

    private static Stream OpenOutput(ServerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        // The writer is created with the first logger, before the server validates its settings: check ours here
        // with the same message ServerConfig.Validate gives.
        if (config.LogBufferLines < 16)
            throw new InvalidOperationException($"Invalid Pounce setting LogBufferLines = {config.LogBufferLines}: expected at least 16.");
        if (config.LogFile is { Length: 0 })
            throw new InvalidOperationException("Invalid Pounce setting LogFile = '': expected a file path, or unset for standard output.");
        if (config.LogFile is null)
            return Console.OpenStandardOutput();
        if (config.LogFileMaxSize is < 0 or (> 0 and < 4096))
            throw new InvalidOperationException($"Invalid Pounce setting LogFileMaxSize = {config.LogFileMaxSize}: expected 0 (no size rotation) or at least 4096 bytes, given together with LogFile.");
        if (config.LogFileMaxFiles is < 1 or > 1000)
            throw new InvalidOperationException($"Invalid Pounce setting LogFileMaxFiles = {config.LogFileMaxFiles}: expected 1 to 1000.");
        try
        {
            return LogFileStream.Open(config); // reopened on SIGHUP, rotated by LogFileMaxSize
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InvalidOperationException(
                $"Invalid Pounce setting LogFile = '{config.LogFile}': expected a file that can be opened for appending ({ex.Message}).", ex);
        }
    }

    /// <summary>Writes everything queued, flushes and stops the writer thread (waits up to 30 s for a stuck output).</summary>
    public void Dispose()
    {
        if (Interlocked.CompareExchange(ref _disposed, 1, 0) != 0)
            return;
        Stop();
        _thread.Join(TimeSpan.FromSeconds(30));
        Close();
    }

    /// <summary>Writes everything queued, flushes and stops the writer thread.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.CompareExchange(ref _disposed, 1, 0) != 0)
            return;
        Stop();
        try
        {
            await _stopped.Task.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The output is stuck (a blocked pipe): give up rather than hang the host's shutdown.
        }
        Close();
    }

    private void Stop()
    {
        lock (_gate)
            _stopping = true;
        _wake.Release();
    }

    private void Close()
    {
        if (_onProcessExit is not null)
            AppDomain.CurrentDomain.ProcessExit -= _onProcessExit;
        if (!_ownsStream)
            return;
        lock (_stream)
        {
            Volatile.Write(ref _disposed, 2);
            _stream.Dispose();
        }
    }
}
