using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Pounce.Logging;

/// <summary>
/// Keeps a log file from filling the page cache. After each MiB written it starts the write-back of that MiB
/// (<c>sync_file_range</c>, without waiting) and asks the kernel to drop the file's pages that lie more than 4 MiB
/// behind its end (<c>posix_fadvise(POSIX_FADV_DONTNEED)</c>), written back by then. A log is written once and read, if ever, much later: gigabytes of it kept in memory evict what the
/// application reads, and every new page the log takes is memory the kernel has to find. On a virtual machine the
/// first touch of a guest page also costs the host a fault: writing 1 GiB into never-used pages took 1.8 s of system
/// time on the 2-core bench VM, into recycled pages 0.1 s; an access log at 300,000 lines a second writes 60 MB a
/// second. The last 4 MiB stay cached, so <c>tail -f</c> and a reader close behind read from memory.
/// </summary>
/// <remarks>Linux (64-bit) only; elsewhere <see cref="For"/> returns null. Advice only: a descriptor that is not a
/// regular file (a pipe, a terminal) turns it off at the first refusal, and a page still being written when its range
/// is advised is dropped by one of the next calls, whose ranges overlap.</remarks>
internal sealed partial class LogPageCache
{
    private const long Step = 1L << 20;
    private const long Keep = 4L << 20;
    private const long Reach = 4 * Step;
    private const int PosixFadvDontNeed = 4;

    private const uint SyncFileRangeWrite = 2;

    private readonly SafeFileHandle _file;
    private long _sinceLast;
    private long _lastEnd = -1;
    private bool _off;

    private LogPageCache(SafeFileHandle file) => _file = file;

    /// <summary>The page-cache release for <paramref name="file"/> (which must stay open while this is used), or null
    /// where it does not apply.</summary>
    public static LogPageCache? For(SafeFileHandle file)
        => !file.IsInvalid && OperatingSystem.IsLinux() && Environment.Is64BitProcess ? new LogPageCache(file) : null;

    /// <summary>The release for standard output, when it is redirected to a file (see <see cref="For(SafeFileHandle)"/>).</summary>
    public static LogPageCache? ForStandardOutput() => For(new SafeFileHandle(1, ownsHandle: false));

    /// <summary>Counts <paramref name="bytes"/> just written (under the caller's write lock); every MiB, releases
    /// the pages behind the last 4 MiB.</summary>
    public void Written(int bytes)
    {
        if (_off)
            return;
        _sinceLast += bytes;
        if (_sinceLast < Step)
            return;
        _sinceLast = 0;
        long end;
        try
        {
            end = RandomAccess.GetLength(_file); // the file's size (fstat): appended to, its end is where lines go
        }
        catch (Exception ex) when (ex is NotSupportedException or IOException or UnauthorizedAccessException)
        {
            _off = true; // a pipe, a socket or a terminal: no file behind it
            return;
        }
        var written = _lastEnd >= 0 ? _lastEnd : Math.Max(0, end - Step);
        if (end > written)
            _ = sync_file_range(Fd, written, end - written, SyncFileRangeWrite);
        _lastEnd = end;
        var to = end - Keep;
        if (to <= 0)
            return;
        var from = Math.Max(0, to - Reach);
        if (posix_fadvise(Fd, from, to - from, PosixFadvDontNeed) != 0)
            _off = true;
    }

    private int Fd => (int)_file.DangerousGetHandle();

    [LibraryImport("libc")]
    private static partial int sync_file_range(int fd, long offset, long nbytes, uint flags);

    [LibraryImport("libc")]
    private static partial int posix_fadvise(int fd, long offset, long len, int advice);
}
