namespace Pounce.Http2;

/// <summary>
/// One HTTP/2 flow-control window (RFC 9113 6.9): what may still be sent (our send windows, granted by the peer's
/// WINDOW_UPDATE) or received (our receive windows, granted by ours). A plain value: the connection's lock guards it.
/// It may go negative when SETTINGS_INITIAL_WINDOW_SIZE shrinks (6.9.2); it never exceeds 2^31-1 (6.9.1).
/// </summary>
internal struct Http2FlowWindow
{
    /// <summary>The largest window a peer may grant: 2^31-1.</summary>
    public const int MaxSize = int.MaxValue;

    /// <summary>Every window's size before SETTINGS change it: 65535.</summary>
    public const int ProtocolInitialSize = 65_535;

    private long _size;

    /// <summary>A window of <paramref name="size"/> bytes.</summary>
    public Http2FlowWindow(long size) => _size = size;

    /// <summary>The bytes the window allows now; negative after a SETTINGS that shrank it below what was in flight.</summary>
    public readonly long Size => _size;

    /// <summary>Whether at least one byte may be sent.</summary>
    public readonly bool IsOpen => _size > 0;

    /// <summary>
    /// A WINDOW_UPDATE: grows the window by <paramref name="increment"/>; false, and unchanged, when it would exceed
    /// 2^31-1 (a FLOW_CONTROL_ERROR, for the stream or the connection).
    /// </summary>
    public bool TryGrow(int increment)
    {
        var next = _size + increment;
        if (next > MaxSize)
            return false;
        _size = next;
        return true;
    }

    /// <summary>
    /// A change of SETTINGS_INITIAL_WINDOW_SIZE by <paramref name="delta"/> (6.9.2): the window may become negative;
    /// false, and unchanged, when it would exceed 2^31-1 (a connection FLOW_CONTROL_ERROR).
    /// </summary>
    public bool TryAdjust(long delta)
    {
        var next = _size + delta;
        if (next > MaxSize)
            return false;
        _size = next;
        return true;
    }

    /// <summary>DATA of <paramref name="length"/> flow-controlled bytes arrived; false, and unchanged, when it is more than the window allows.</summary>
    public bool TryConsume(int length)
    {
        if (length > _size)
            return false;
        _size -= length;
        return true;
    }

    /// <summary>Grows our own receive window by what we granted (WINDOW_UPDATE sent, or a larger initial size acknowledged).</summary>
    public void Grant(long count) => _size += count;

    /// <summary>
    /// Takes up to <paramref name="wanted"/> bytes from both <paramref name="stream"/> and <paramref name="connection"/>
    /// (a DATA frame counts against both); 0 when either is closed.
    /// </summary>
    public static int Take(ref Http2FlowWindow stream, ref Http2FlowWindow connection, int wanted)
    {
        var available = Math.Min(stream._size, connection._size);
        if (available <= 0 || wanted <= 0)
            return 0;
        var n = (int)Math.Min(wanted, available);
        stream._size -= n;
        connection._size -= n;
        return n;
    }
}

/// <summary>
/// Receive-side credit not yet returned to the peer: bytes consumed (read by the application, padding, discarded DATA)
/// are collected and handed back as one WINDOW_UPDATE once they reach a threshold (half a window), not per read.
/// </summary>
internal struct Http2WindowCredit
{
    private long _pending;

    /// <summary>Consumed bytes not yet returned.</summary>
    public readonly long Pending => _pending;

    /// <summary>
    /// Adds <paramref name="count"/> consumed bytes; when the total reaches <paramref name="threshold"/>, returns it (the
    /// WINDOW_UPDATE increment to send, also granted to <paramref name="window"/>) and starts again; otherwise 0.
    /// </summary>
    public int Release(long count, long threshold, ref Http2FlowWindow window)
    {
        _pending += count;
        if (_pending < threshold || _pending <= 0)
            return 0;
        var increment = (int)Math.Min(_pending, Http2FlowWindow.MaxSize);
        _pending -= increment;
        window.Grant(increment);
        return increment;
    }

    /// <summary>Adds consumed bytes without returning anything now (they go with the next increment).</summary>
    public void Defer(long count) => _pending += count;

    /// <summary>Forgets what was collected (the stream ended: nothing more is granted on it).</summary>
    public void Clear() => _pending = 0;
}
