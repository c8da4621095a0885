using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace Pounce.Http1;

/// <summary>Writes HTTP/1.1 head bytes straight into the connection's output pipe.</summary>
internal ref struct HeadWriter
{
    private static readonly byte[]?[] StatusLines = new byte[]?[600];

    private readonly PipeWriter _output;
    private Span<byte> _span;
    private int _buffered;

    public HeadWriter(PipeWriter output)
    {
        _output = output;
        _span = output.GetSpan(512);
        _buffered = 0;
    }

    public void WriteStatusLine(int status, string? reasonPhrase)
    {
        if (reasonPhrase is null && status < StatusLines.Length)
        {
            var line = StatusLines[status];
            if (line is null)
            {
                var phrase = ReasonPhrases.GetReasonPhrase(status);
                line = Encoding.ASCII.GetBytes($"HTTP/1.1 {status} {phrase}\r\n");
                StatusLines[status] = line;
            }
            Write(line);
            return;
        }
        Write("HTTP/1.1 "u8);
        WriteNumber(status);
        Write(" "u8);
        WriteLatin1(reasonPhrase ?? "");
        Write("\r\n"u8);
    }

    public void WriteHeader(string name, string value)
    {
        WriteLatin1(name);
        Write(": "u8);
        WriteLatin1(value);
        Write("\r\n"u8);
    }

    public void Write(scoped ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length <= _span.Length - _buffered)
        {
            bytes.CopyTo(_span[_buffered..]);
            _buffered += bytes.Length;
            return;
        }
        WriteSlow(bytes);
    }

    private void WriteSlow(scoped ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            if (_buffered == _span.Length)
                Grow(1);
            var n = Math.Min(bytes.Length, _span.Length - _buffered);
            bytes[..n].CopyTo(_span[_buffered..]);
            _buffered += n;
            bytes = bytes[n..];
        }
    }

    public void WriteLatin1(string text)
    {
        if (text.Length <= _span.Length - _buffered)
        {
            _buffered += Encoding.Latin1.GetBytes(text, _span[_buffered..]);
            return;
        }
        Grow(text.Length);
        _buffered += Encoding.Latin1.GetBytes(text, _span[_buffered..]);
    }

    public void WriteNumber(long value)
    {
        if (_span.Length - _buffered < 20)
            Grow(20);
        Utf8Formatter.TryFormat(value, _span[_buffered..], out var written);
        _buffered += written;
    }

    public void WriteHex(long value)
    {
        if (_span.Length - _buffered < 16)
            Grow(16);
        Utf8Formatter.TryFormat(value, _span[_buffered..], out var written, new StandardFormat('x'));
        _buffered += written;
    }

    private void Grow(int atLeast)
    {
        _output.Advance(_buffered);
        _buffered = 0;
        _span = _output.GetSpan(Math.Max(atLeast, 512));
    }

    /// <summary>Hands the written bytes to the pipe (not flushed).</summary>
    public void Commit()
    {
        _output.Advance(_buffered);
        _buffered = 0;
        _span = default;
    }
}
