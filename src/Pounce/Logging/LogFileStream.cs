using System.Globalization;
using System.Runtime.InteropServices;

namespace Pounce.Logging;

/// <summary>
/// The log file (<see cref="ServerConfig.LogFile"/>) as a write-only stream of whole lines, which can be rotated:
/// reopened by path on <c>SIGHUP</c> (what logrotate's <c>postrotate</c> sends after renaming the file) or
/// <see cref="Reopen"/>, and, when <see cref="MaxSize"/> is set, rotated by size (<c>app.log</c> → <c>app.log.1</c>
/// → <c>app.log.2</c> ..., keeping <see cref="MaxFiles"/> rotated files).
/// </summary>
/// <remarks>
/// The log writer hands it whole lines only (a batch of lines, or one line), so a rotation happens between two
/// lines: a batch that would cross <see cref="MaxSize"/> is cut after its last line that fits, and a line longer
/// than <see cref="MaxSize"/> gets a file of its own. A reopen takes the same lock as a write, so a line lands
/// entirely in the old file or entirely in the new one, never in both and never lost.
/// </remarks>
public sealed class LogFileStream : Stream
{
    private readonly object _gate = new();
    private readonly PosixSignalRegistration? _hangup;
    private FileStream _file;
    private LogPageCache? _pages;
    private long _size;
    private int _reopenRequested;
    private bool _disposed;

    /// <summary>Opens (appends to) <paramref name="path"/>.</summary>
    /// <param name="path">The log file.</param>
    /// <param name="maxSize">Bytes after which the file is rotated; 0 for no size rotation.</param>
    /// <param name="maxFiles">Rotated files kept (<c>path.1</c> ... <c>path.N</c>) when rotating by size.</param>
    /// <param name="reopenOnHangup">Reopen the file on <c>SIGHUP</c> (ignored where there are no POSIX signals).</param>
    public LogFileStream(string path, long maxSize = 0, int maxFiles = 5, bool reopenOnHangup = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegative(maxSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFiles, 1);
        Path = System.IO.Path.GetFullPath(path);
        MaxSize = maxSize;
        MaxFiles = maxFiles;
        _file = OpenFile(Path);
        _pages = PagesOf(_file);
        _size = _file.Length;
        if (reopenOnHangup && !OperatingSystem.IsWindows() && !OperatingSystem.IsBrowser())
        {
            try
            {
                _hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
                {
                    // Not a termination request: the file is reopened, the process goes on.
                    context.Cancel = true;
                    RequestReopen();
                });
            }
            catch (PlatformNotSupportedException)
            {
            }
        }
    }

    /// <summary>Opens the file a server's settings ask for, with their rotation settings.</summary>
    public static LogFileStream Open(ServerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(config.LogFile);
        return new LogFileStream(config.LogFile, config.LogFileMaxSize, config.LogFileMaxFiles);
    }

    /// <summary>The file's full path.</summary>
    public string Path { get; }

    /// <summary>Bytes after which the file is rotated; 0 for none.</summary>
    public long MaxSize { get; }

    /// <summary>Rotated files kept when rotating by size.</summary>
    public int MaxFiles { get; }

    /// <summary>Times the file was reopened (on <c>SIGHUP</c> or <see cref="Reopen"/>) or rotated by size.</summary>
    public int Reopens { get; private set; }

    /// <summary>
    /// Closes the file and opens <see cref="Path"/> again (creating it when it was renamed away): what
    /// <c>SIGHUP</c> does. Lines written before it are in the old file, lines after it in the new one.
    /// </summary>
    public void Reopen()
    {
        lock (_gate)
        {
            Interlocked.Exchange(ref _reopenRequested, 0);
            if (_disposed)
                return;
            ReopenLocked();
        }
    }

    /// <summary>Asks for a reopen before the next write, without waiting for the lock (signal handlers).</summary>
    public void RequestReopen()
    {
        Interlocked.Exchange(ref _reopenRequested, 1);
        // Also reopen at once when no write is in progress, so an idle server lets go of a renamed file promptly
        // (logrotate may compress it right after postrotate).
        if (Monitor.TryEnter(_gate))
        {
            try
            {
                if (!_disposed && Interlocked.Exchange(ref _reopenRequested, 0) != 0)
                    ReopenLocked();
            }
            finally
            {
                Monitor.Exit(_gate);
            }
        }
    }

    private void ReopenLocked()
    {
        FileStream next;
        try
        {
            next = OpenFile(Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The path cannot be opened now (its folder is gone, permissions): keep writing to the open file.
            return;
        }
        try
        {
            _file.Flush();
        }
        catch (IOException)
        {
        }
        _file.Dispose();
        _file = next;
        _pages = PagesOf(next);
        _size = next.Length;
        Reopens++;
    }

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (Interlocked.Exchange(ref _reopenRequested, 0) != 0)
                ReopenLocked();
            while (!buffer.IsEmpty)
            {
                var take = buffer.Length;
                if (MaxSize > 0 && _size + buffer.Length > MaxSize)
                {
                    // The lines that still fit in this file; none fit: rotate first (unless the file is empty, when
                    // a line longer than MaxSize gets the file to itself).
                    var room = (int)Math.Clamp(MaxSize - _size, 0, buffer.Length);
                    var lastNewline = buffer[..room].LastIndexOf((byte)'\n');
                    if (lastNewline >= 0)
                    {
                        take = lastNewline + 1;
                    }
                    else if (_size > 0)
                    {
                        RotateLocked();
                        continue;
                    }
                    else
                    {
                        var firstNewline = buffer.IndexOf((byte)'\n');
                        take = firstNewline >= 0 ? firstNewline + 1 : buffer.Length;
                    }
                }
                _file.Write(buffer[..take]);
                _pages?.Written(take);
                _size += take;
                buffer = buffer[take..];
                if (!buffer.IsEmpty)
                    RotateLocked();
            }
        }
    }

    /// <summary>Renames <c>path.N-1</c> → <c>path.N</c> ... <c>path</c> → <c>path.1</c> (dropping the oldest) and starts a new file.</summary>
    private void RotateLocked()
    {
        _file.Flush();
        _file.Dispose();
        try
        {
            File.Delete(Rotated(MaxFiles));
            for (var i = MaxFiles - 1; i >= 1; i--)
            {
                var from = Rotated(i);
                if (File.Exists(from))
                    File.Move(from, Rotated(i + 1), overwrite: true);
            }
            File.Move(Path, Rotated(1), overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Could not rename (permissions, a file in the way): keep appending to the same file rather than lose lines.
        }
        _file = OpenFile(Path);
        _pages = PagesOf(_file);
        _size = _file.Length;
        Reopens++;
    }

    private string Rotated(int n) => Path + "." + n.ToString(CultureInfo.InvariantCulture);

    // The file is open whenever _pages is used (under _gate); a reopened or rotated file gets its own.
    private static LogPageCache? PagesOf(FileStream file) => LogPageCache.For(file.SafeFileHandle);

    private static FileStream OpenFile(string path)
        => new(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <inheritdoc />
    public override void Flush()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            if (Interlocked.Exchange(ref _reopenRequested, 0) != 0)
                ReopenLocked();
            _file.Flush();
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hangup?.Dispose();
            lock (_gate)
            {
                if (!_disposed)
                {
                    _disposed = true;
                    _file.Dispose();
                }
            }
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override bool CanRead => false;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => !_disposed;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();
}
