using System.Diagnostics;

namespace Pounce.Cli.Logs;

/// <summary>
/// <c>--follow</c>: reads a file as it grows (as <c>tail -F</c>), and when it is rotated (renamed or deleted and
/// created again, or truncated) goes on with the new file at the same path, after draining what was still written to
/// the old one. Calls <c>update</c> at most once a second while new lines arrive.
/// </summary>
internal sealed class LogFollower(string path, LogStats stats, Action update)
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan OldFileGrace = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan UpdateEvery = TimeSpan.FromSeconds(1);

    private FileStream? _file;
    private LineReader? _reader;
    private FileStream? _oldFile;
    private LineReader? _oldReader;
    private Stopwatch? _oldSince;
    private long _linesAtUpdate = -1;
    private readonly Stopwatch _sinceUpdate = Stopwatch.StartNew();

    public async Task RunAsync(CancellationToken cancel)
    {
        stats.Sources.Add(path);
        while (!cancel.IsCancellationRequested)
        {
            if (_reader is null)
                TryOpen();
            if (_oldReader is not null)
            {
                Drain(_oldReader);
                if (_oldSince!.Elapsed > OldFileGrace)
                    CloseOld();
            }
            if (_reader is not null)
            {
                Drain(_reader);
                CheckRotation();
            }
            MaybeUpdate(force: _linesAtUpdate < 0);
            try
            {
                await Task.Delay(Poll, cancel);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        MaybeUpdate(force: true);
        CloseOld();
        _file?.Dispose();
    }

    private void MaybeUpdate(bool force)
    {
        if (force || (stats.Lines != _linesAtUpdate && _sinceUpdate.Elapsed >= UpdateEvery))
        {
            _linesAtUpdate = stats.Lines;
            _sinceUpdate.Restart();
            update();
        }
    }

    private void TryOpen()
    {
        try
        {
            _file = LogInput.OpenShared(path);
            _reader = new LineReader(_file, following: true);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException)
        {
            _file = null;
            _reader = null; // not there yet (between a rename and the writer's reopen): try again later
        }
    }

    private void Drain(LineReader reader)
    {
        while (true)
        {
            var status = reader.Next(out var line);
            if (status == LineStatus.End)
            {
                stats.Bytes = Math.Max(stats.Bytes, reader.BytesRead);
                return;
            }
            if (status == LineStatus.TooLong)
                stats.AddMalformed(path, reader.LineNumber + 1);
            else
                stats.AddLine(line, path, reader.LineNumber);
            if (_sinceUpdate.Elapsed >= UpdateEvery)
                MaybeUpdate(force: false);
        }
    }

    /// <summary>Has the path been given to a new file (rename + create, delete + create) or was ours truncated?</summary>
    private void CheckRotation()
    {
        if (_file is null || _reader is null)
            return;
        long length;
        try
        {
            length = _file.Length;
        }
        catch (IOException)
        {
            length = -1;
        }
        if (length >= 0 && length < _file.Position)
        {
            // copytruncate: the same file, emptied; read it again from the start.
            _file.Position = 0;
            _reader.SwitchTo(_file);
            return;
        }
        if (!File.Exists(path) || IsSameFile(_file, path))
            return;
        CloseOld();
        _oldFile = _file;
        _oldReader = _reader;
        _oldSince = Stopwatch.StartNew();
        _file = null;
        _reader = null;
        TryOpen();
        if (_reader is not null)
            Drain(_reader);
    }

    private void CloseOld()
    {
        _oldFile?.Dispose();
        _oldFile = null;
        _oldReader = null;
    }

    /// <summary>Whether the open file is still the one at <paramref name="path"/> (on Linux through <c>/proc/self/fd</c>, elsewhere by comparing the first bytes).</summary>
    private static bool IsSameFile(FileStream open, string path)
    {
        var full = Path.GetFullPath(path);
        if (OperatingSystem.IsLinux())
        {
            try
            {
                var fd = open.SafeFileHandle.DangerousGetHandle().ToInt64();
                var target = new FileInfo("/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture)).LinkTarget;
                if (target is not null)
                    return target == full;
            }
            catch (IOException)
            {
            }
        }
        try
        {
            using var other = LogInput.OpenShared(path);
            Span<byte> a = stackalloc byte[256];
            Span<byte> b = stackalloc byte[256];
            var position = open.Position;
            open.Position = 0;
            var n = open.Read(a);
            open.Position = position;
            var m = other.Read(b);
            return m >= n && a[..n].SequenceEqual(b[..n]);
        }
        catch (IOException)
        {
            return true;
        }
    }
}
