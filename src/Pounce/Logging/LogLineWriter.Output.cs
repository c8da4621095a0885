using System.Diagnostics;

namespace Pounce.Logging;

/// <summary>The writer thread: takes the queues' chunks, merges their lines by stamp, writes and flushes; and shutdown.</summary>
public sealed partial class LogLineWriter
{
    /// <summary>Merged lines gathered for one write call.</summary>
    private const int OutputSize = 256 * 1024;

    private byte[]? _output;
    private int _outputUsed;
    private LogShard[]? _active;
    private int _outputLines;

    private void Run()
    {
        var report = new LineBuffer(256);
        try
        {
            while (true)
            {
                // Write until nothing is queued (lines queued while a batch was being written included), so a drop
                // report follows the lines queued before the drops; bounded so that under overload it still appears.
                var busy = false;
                for (var rounds = 0; rounds < 8 && WriteQueued(Stopwatch.GetTimestamp()); rounds++)
                    busy = true;
                ReportDrops(report);
                Flush();
                if (busy)
                {
                    // Lines are flowing: gather them (see BusyGatherMilliseconds) rather than writing each batch at once
                    // or being woken for each line (a wake-up per line would cost the request threads a signal each);
                    // a burst that fills chunks wakes the writer early.
                    _wake.Reset(); // before the announcement: a producer's wake-up after it is not lost
                    Volatile.Write(ref _writerState, Gathering);
                    _wake.Wait(BusyGatherMilliseconds);
                    Volatile.Write(ref _writerState, Writing);
                    continue;
                }
                // Announce the sleep first, then look (under the queues' locks): a producer that queues a line after
                // the look sees the announcement and wakes the writer.
                _wake.Reset();
                Interlocked.Exchange(ref _writerState, Sleeping);
                if (AnythingQueued())
                {
                    Volatile.Write(ref _writerState, Writing);
                    continue;
                }
                if (_stopping)
                {
                    // From now on producers write their lines directly; the lines they queued before saw this are
                    // taken here, all of them (no stamp is too recent any more).
                    _closed = true;
                    WriteQueued(long.MaxValue);
                    break;
                }
                _wake.Wait(TimeSpan.FromSeconds(1));
                Volatile.Write(ref _writerState, Writing);
            }
            ReportDrops(report);
            Flush();
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    private bool AnythingQueued()
    {
        foreach (var shard in _shards)
        {
            if (shard.Pending.Count > 0)
                return true;
            lock (shard.Gate)
            {
                if (shard.QueuedLines > 0)
                    return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Takes every queue's chunks and writes, in stamp order, the lines queued up to <paramref name="cutoff"/>; false
    /// when there was none. A line stamped later waits for the next round: a line queued on a queue already taken, but
    /// stamped before the cutoff, could otherwise be written after a line another thread queued once it was done.
    /// </summary>
    private bool WriteQueued(long cutoff)
    {
        // The queues with lines to merge (on a many-core machine most are idle: the merge looks only at these).
        var active = _active ??= new LogShard[_shards.Length];
        var count = 0;
        foreach (var shard in _shards)
        {
            lock (shard.Gate)
                shard.TakeAll();
            if (shard.Pending.Count > 0)
                active[count++] = shard;
        }

        long lines = 0;
        while (count > 0)
        {
            // The queue whose next line is the oldest; its lines are in order (a queue's lines are appended under its lock).
            var next = -1;
            var oldest = long.MaxValue;
            for (var i = 0; i < count; i++)
            {
                var stamp = active[i].Pending.Peek().NextStamp;
                if (stamp <= cutoff && (next < 0 || stamp < oldest))
                {
                    next = i;
                    oldest = stamp;
                }
            }
            if (next < 0)
                break;
            var shard = active[next];
            var head = shard.Pending.Peek();
            var entry = head.TakeNext(out var record);
            if (record)
                GatherRecord(entry);
            else
                Gather(entry);
            lines++;
            if (!head.HasUnread)
            {
                ReturnChunk(shard.Pending.Dequeue());
                if (shard.Pending.Count == 0)
                    active[next] = active[--count];
            }
        }
        if (lines == 0)
            return false;
        WriteGathered();
        return true;
    }

    private void Gather(ReadOnlySpan<byte> line)
    {
        var output = _output ??= new byte[OutputSize];
        if (output.Length - _outputUsed < line.Length)
        {
            WriteGathered();
            if (line.Length > output.Length)
            {
                Interlocked.Increment(ref _written);
                Output(line);
                return;
            }
        }
        line.CopyTo(output.AsSpan(_outputUsed));
        _outputUsed += line.Length;
        _outputLines++;
    }

    // A text access line's record: formatted straight into the gathered output.
    private void GatherRecord(ReadOnlySpan<byte> record)
    {
        var output = _output ??= new byte[OutputSize];
        var most = record.Length + TextAccessLine.FixedMax;
        if (output.Length - _outputUsed < most)
        {
            WriteGathered();
            if (most > output.Length)
            {
                var line = new byte[most]; // a record of over 256 KiB: a path or agent that long is rare enough
                Interlocked.Increment(ref _written);
                Output(line.AsSpan(0, TextAccessLine.Format(record, line)));
                return;
            }
        }
        _outputUsed += TextAccessLine.Format(record, output.AsSpan(_outputUsed));
        _outputLines++;
    }

    private void WriteGathered()
    {
        if (_outputUsed == 0)
            return;
        Interlocked.Add(ref _written, _outputLines); // handed to the output (as the metric counts them)
        Output(_output.AsSpan(0, _outputUsed));
        _outputUsed = 0;
        _outputLines = 0;
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

    private void Output(ReadOnlySpan<byte> bytes)
    {
        try
        {
            lock (_stream)
            {
                _stream.Write(bytes);
                _outputPages?.Written(bytes.Length);
            }
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
        _stopping = true;
        _wake.Set();
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
