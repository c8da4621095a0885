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
/// Callers format a line on their own thread (into a per-thread buffer), copy it into a pooled block and enqueue
/// it on a lock-free queue; a dedicated background thread writes the queued lines in batches. The queue holds at
/// most <see cref="ServerConfig.LogBufferLines"/> lines. When it is full the request path is not blocked: the line
/// is dropped and counted, and the writer thread writes a <c>LogLinesDropped</c> line with the count after its next
/// batch (and at shutdown), so a loss is never silent. <see cref="DisposeAsync"/>/<see cref="Dispose"/> write
/// everything still queued and flush, so no line is lost at exit.
/// </remarks>
public sealed class LogLineWriter : IDisposable, IAsyncDisposable
{
    private const int BlockSize = 512;
    private const int BatchBytes = 64 * 1024;

    /// <summary>
    /// Most line blocks kept for reuse (2 MiB of 512-byte blocks). The writer drains every millisecond or so, so under
    /// load a few hundred lines are queued at a time and their blocks come back; only a burst deeper than this (the
    /// writer thread held up, the output slow) allocates, and what it allocated is garbage once written. Keeping the
    /// queue's whole high-water mark instead held up to <c>LogBufferLines</c> blocks (34 MiB at the default) for the
    /// process's life: the fault soak's RSS grew with its length (+31 MiB of blocks after a 60 s run).
    /// </summary>
    internal const int MaxKeptBlocks = 4096;

    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly int _capacity;
    private readonly BoundedRing<Line> _queue;
    private readonly BoundedRing<byte[]> _freeBlocks;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _count;
    private int _readerSleeping;
    private long _pendingDrops;
    private long _totalDrops;
    private long _written;
    private int _stopping;
    private int _disposed;
    private readonly EventHandler? _onProcessExit;

    private readonly record struct Line(byte[] Buffer, int Length);

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
        _queue = new BoundedRing<Line>(capacity);
        _freeBlocks = new BoundedRing<byte[]>(Math.Min(capacity, MaxKeptBlocks));
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
    public int QueuedLines => Volatile.Read(ref _count);

    /// <summary>Line blocks kept for reuse now (at most <see cref="MaxKeptBlocks"/>).</summary>
    internal long KeptBlocks => _freeBlocks.Count;

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
        // _count is raised before _stopping is read, and the writer thread sets _stopping before it waits for
        // _count to reach 0: a line is either seen by the final drain or written directly, never lost.
        var queued = Interlocked.Increment(ref _count);
        if (Volatile.Read(ref _stopping) != 0)
        {
            Interlocked.Decrement(ref _count);
            return WriteLate(line);
        }
        if (queued > _capacity)
        {
            Interlocked.Decrement(ref _count);
            Interlocked.Increment(ref _pendingDrops);
            Interlocked.Increment(ref _totalDrops);
            return false;
        }
        byte[] block;
        if (line.Length <= BlockSize)
        {
            if (!_freeBlocks.TryDequeue(out block))
                block = new byte[BlockSize];
        }
        else
        {
            block = ArrayPool<byte>.Shared.Rent(line.Length);
        }
        line.CopyTo(block);
        if (!_queue.TryEnqueue(new Line(block, line.Length)))
        {
            // Cannot happen while _count bounds the queue below the ring's size; counted rather than lost silently.
            Recycle(block);
            Interlocked.Decrement(ref _count);
            Interlocked.Increment(ref _pendingDrops);
            Interlocked.Increment(ref _totalDrops);
            return false;
        }
        // Publishing the line was a full fence, so this read cannot miss a writer thread that went to sleep.
        if (Volatile.Read(ref _readerSleeping) != 0 && Interlocked.Exchange(ref _readerSleeping, 0) != 0)
            _wake.Release();
        return true;
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

    private void Run()
    {
        var batch = new byte[BatchBytes];
        var report = new LineBuffer(256);
        try
        {
            while (true)
            {
                // Drain until the queue is empty (lines queued while a batch was being written included), so a drop
                // report follows the lines queued before the drops; bounded so that under overload it still appears.
                var busy = false;
                for (var rounds = 0; rounds < 8 && Drain(batch) > 0; rounds++)
                    busy = true;
                ReportDrops(report);
                Flush();
                if (Volatile.Read(ref _stopping) != 0 && _queue.IsEmpty)
                    break;
                if (busy)
                {
                    // Lines are flowing: gather them for a millisecond rather than sleeping and being woken for each
                    // one (a wake-up per line cost the request threads a semaphore release each and this thread a
                    // spin each: about a fifth of the CPU at debug level under load). A line waits at most ~1 ms.
                    Thread.Sleep(1);
                    continue;
                }
                Interlocked.Exchange(ref _readerSleeping, 1);
                if (!_queue.IsEmpty || Volatile.Read(ref _stopping) != 0)
                {
                    Interlocked.Exchange(ref _readerSleeping, 0);
                    continue;
                }
                _wake.Wait(TimeSpan.FromSeconds(1));
                Interlocked.Exchange(ref _readerSleeping, 0);
            }
            lock (_stream)
            {
                // Lines whose producer raised _count before it saw _stopping may still be on their way in.
                var spin = new SpinWait();
                while (Volatile.Read(ref _count) > 0)
                {
                    if (!_queue.IsEmpty)
                        Drain(batch);
                    else
                        spin.SpinOnce();
                }
                Drain(batch);
                ReportDrops(report);
                Flush();
            }
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    private int Drain(byte[] batch)
    {
        var used = 0;
        var lines = 0;
        while (_queue.TryDequeue(out var line))
        {
            lines++;
            Interlocked.Decrement(ref _count);
            if (used + line.Length > batch.Length)
            {
                Output(batch.AsSpan(0, used));
                used = 0;
            }
            if (line.Length > batch.Length)
            {
                Output(line.Buffer.AsSpan(0, line.Length));
            }
            else
            {
                line.Buffer.AsSpan(0, line.Length).CopyTo(batch.AsSpan(used));
                used += line.Length;
            }
            Recycle(line.Buffer);
            Interlocked.Increment(ref _written);
        }
        if (used > 0)
            Output(batch.AsSpan(0, used));
        return lines;
    }

    private void ReportDrops(LineBuffer report)
    {
        var dropped = Interlocked.Exchange(ref _pendingDrops, 0);
        if (dropped == 0)
            return;
        report.Clear();
        if (Format == LogFormat.Json)
            JsonLineFormatter.WriteDropped(report, DateTime.UtcNow, dropped);
        else
            TextLineFormatter.WriteDropped(report, DateTime.UtcNow, dropped);
        Output(report.WrittenSpan);
    }

    private void Recycle(byte[] block)
    {
        if (block.Length == BlockSize)
        {
            // Kept for reuse while there is room (MaxKeptBlocks); past that a block is left to the GC.
            _freeBlocks.TryEnqueue(block);
        }
        else
        {
            ArrayPool<byte>.Shared.Return(block);
        }
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
        Interlocked.Exchange(ref _stopping, 1);
        _wake.Release();
        _thread.Join(TimeSpan.FromSeconds(30));
        Close();
    }

    /// <summary>Writes everything queued, flushes and stops the writer thread.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.CompareExchange(ref _disposed, 1, 0) != 0)
            return;
        Interlocked.Exchange(ref _stopping, 1);
        _wake.Release();
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
