using System.Buffers;

namespace Pounce.Logging;

/// <summary>
/// A growable, reusable <see cref="IBufferWriter{T}"/> of bytes: one per thread holds the line being formatted, so
/// formatting allocates nothing once it has grown to the longest line seen.
/// </summary>
internal sealed class LineBuffer : IBufferWriter<byte>
{
    private byte[] _buffer;
    private int _length;

    /// <summary>Creates a buffer with this initial capacity.</summary>
    public LineBuffer(int capacity = 1024) => _buffer = new byte[capacity];

    [ThreadStatic]
    private static LineBuffer? t_cached;

    /// <summary>
    /// This thread's buffer, emptied, taken until <see cref="Return"/>; a fresh one when it is already taken (a value's
    /// <c>ToString()</c> that logs while a line is being formatted), so nested use cannot corrupt a line.
    /// </summary>
    public static LineBuffer Rent()
    {
        var b = t_cached ?? new LineBuffer();
        t_cached = null;
        b._length = 0;
        return b;
    }

    /// <summary>Gives a buffer from <see cref="Rent"/> back to this thread.</summary>
    public static void Return(LineBuffer buffer)
    {
        if (buffer._buffer.Length <= 64 * 1024)
            t_cached = buffer;
    }

    /// <summary>The bytes written so far.</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);

    /// <summary>Number of bytes written so far.</summary>
    public int Length => _length;

    /// <summary>Forgets what was written.</summary>
    public void Clear() => _length = 0;

    /// <inheritdoc />
    public void Advance(int count)
    {
        if ((uint)count > (uint)(_buffer.Length - _length))
            throw new ArgumentOutOfRangeException(nameof(count));
        _length += count;
    }

    /// <inheritdoc />
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_length);
    }

    /// <inheritdoc />
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_length);
    }

    /// <summary>Appends bytes.</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    /// <summary>Appends one byte.</summary>
    public void Write(byte b)
    {
        Ensure(1);
        _buffer[_length++] = b;
    }

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1)
            sizeHint = 1;
        if (_buffer.Length - _length >= sizeHint)
            return;
        var size = Math.Max(_buffer.Length * 2, _length + sizeHint);
        Array.Resize(ref _buffer, size);
    }
}
