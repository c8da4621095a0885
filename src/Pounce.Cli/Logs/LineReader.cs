namespace Pounce.Cli.Logs;

/// <summary>What <see cref="LineReader.Next"/> found.</summary>
internal enum LineStatus
{
    /// <summary>A whole line (without its <c>\n</c>).</summary>
    Line,
    /// <summary>The last bytes of the input, not ended by <c>\n</c> (perhaps cut short).</summary>
    LastLine,
    /// <summary>A line longer than <see cref="LineReader.MaxLineBytes"/>, skipped.</summary>
    TooLong,
    /// <summary>No more lines for now (end of input; when following, more may come).</summary>
    End,
}

/// <summary>
/// Splits a stream into lines over one reusable buffer (1 MiB, grown up to <see cref="MaxLineBytes"/> for a long
/// line): no allocation per line, a line is a slice of the buffer valid until the next call. Counts line numbers.
/// </summary>
internal sealed class LineReader(Stream stream, bool following = false)
{
    public const int MaxLineBytes = 16 << 20;
    private Stream _stream = stream;
    private byte[] _buffer = new byte[1 << 20];
    private int _start;
    private int _end;
    private bool _eof;
    private bool _skipping;

    /// <summary>Number of the last line returned, from 1.</summary>
    public long LineNumber { get; private set; }

    /// <summary>Bytes read from the stream so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>Keeps reading past the end (for <c>--follow</c>): an unfinished last line waits for its <c>\n</c>.</summary>
    public bool Following { get; set; } = following;

    /// <summary>The next line, or why there is none.</summary>
    public LineStatus Next(out ReadOnlySpan<byte> line)
    {
        while (true)
        {
            var pending = _buffer.AsSpan(_start, _end - _start);
            var newline = pending.IndexOf((byte)'\n');
            if (newline >= 0)
            {
                _start += newline + 1;
                LineNumber++;
                if (_skipping)
                {
                    _skipping = false;
                    line = default;
                    continue;
                }
                line = pending[..newline];
                if (!line.IsEmpty && line[^1] == '\r')
                    line = line[..^1];
                return LineStatus.Line;
            }
            if (_eof && !Following)
            {
                if (pending.IsEmpty || _skipping)
                {
                    _skipping = false;
                    line = default;
                    return LineStatus.End;
                }
                _start = _end;
                LineNumber++;
                line = pending;
                return LineStatus.LastLine;
            }
            // Make room: move the unfinished line to the front, grow for a long one, give up on one too long.
            if (_start > 0)
            {
                pending.CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length)
            {
                if (_skipping || _buffer.Length >= MaxLineBytes)
                {
                    var wasSkipping = _skipping;
                    _skipping = true;
                    _end = 0;
                    if (!wasSkipping)
                    {
                        line = default;
                        return LineStatus.TooLong;
                    }
                }
                else
                {
                    Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, MaxLineBytes));
                }
            }
            var read = _stream.Read(_buffer, _end, _buffer.Length - _end);
            if (read == 0)
            {
                _eof = true;
                if (Following)
                {
                    line = default;
                    return LineStatus.End;
                }
                continue;
            }
            _eof = false;
            _end += read;
            BytesRead += read;
        }
    }

    /// <summary>The bytes of an unfinished line waiting for its end.</summary>
    public int Unfinished => _end - _start;

    /// <summary>Continues from another stream (a rotated file's successor); an unfinished line of the old one is dropped.</summary>
    public void SwitchTo(Stream next)
    {
        _stream = next;
        _start = _end = 0;
        _eof = false;
        _skipping = false;
    }
}
