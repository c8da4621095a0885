namespace Pounce.WebSockets;

/// <summary>
/// Follows the frame boundaries of one direction of a WebSocket (RFC 6455 5.2) without buffering or decoding
/// payloads: the server does not own the WebSocket (the application does, through ASP.NET Core's middleware), but the
/// lifecycle contract needs to know whether the close handshake happened and with which status, and the server must
/// refuse unmasked client frames (RFC 6455 5.1), which the BCL's framer accepts.
/// </summary>
internal struct WebSocketFrameScanner
{
    private enum State : byte { First, Length, ExtendedLength, Mask, Payload }

    private State _state;
    private bool _masked;
    private bool _isClose;
    private int _remainingHeader;
    private long _length;
    private long _payloadRemaining;
    private long _payloadSeen;
    private uint _mask;
    private int _closeCode;
    private byte _closeHigh;
    private int _frameStart;

    /// <summary>A Close frame (opcode 8) started in this direction.</summary>
    public bool SawClose { get; private set; }

    /// <summary>The status code of the first Close frame, once its two bytes went by; 0 before, or when it has none.</summary>
    public readonly int CloseCode => _closeCode;

    /// <summary>Between frames: nothing of a frame has been seen without its end.</summary>
    public readonly bool AtFrameStart => _state == State.First && !Invalid;

    /// <summary>Something that is not a WebSocket frame went by, or an unmasked frame where masks are required; scanning stopped.</summary>
    public bool Invalid { get; private set; }

    /// <summary>A frame without a mask went by where <c>requireMasked</c> was asked (a client's frame, RFC 6455 5.1).</summary>
    public bool SawUnmasked { get; private set; }

    /// <summary>
    /// Where, in the data of the <see cref="Scan"/> call that set <see cref="SawUnmasked"/>, the unmasked frame starts;
    /// -1 when its first byte came in an earlier call.
    /// </summary>
    public readonly int UnmaskedFrameStart => _frameStart;

    /// <summary>Follows <paramref name="data"/>; with <paramref name="requireMasked"/> an unmasked frame stops the scan.</summary>
    public void Scan(ReadOnlySpan<byte> data, bool requireMasked = false)
    {
        _frameStart = -1;
        var i = 0;
        while (i < data.Length && !Invalid)
        {
            switch (_state)
            {
                case State.Payload:
                    var skip = (int)Math.Min(_payloadRemaining, data.Length - i);
                    if (_isClose && _payloadSeen < 2)
                        ReadCloseCode(data.Slice(i, skip));
                    i += skip;
                    _payloadRemaining -= skip;
                    _payloadSeen += skip;
                    if (_payloadRemaining == 0)
                        _state = State.First;
                    break;
                case State.First:
                    _frameStart = i;
                    _isClose = (data[i] & 0x0F) == 0x8;
                    if (_isClose && !SawClose)
                        SawClose = true;
                    else
                        _isClose = false; // only the first Close's status matters
                    i++;
                    _state = State.Length;
                    break;
                case State.Length:
                    var b = data[i++];
                    _masked = (b & 0x80) != 0;
                    if (!_masked && requireMasked)
                    {
                        SawUnmasked = true;
                        Invalid = true;
                        break;
                    }
                    var length = b & 0x7F;
                    _length = 0;
                    if (length >= 126)
                    {
                        _remainingHeader = length == 126 ? 2 : 8;
                        _state = State.ExtendedLength;
                    }
                    else
                    {
                        AfterLength(length);
                    }
                    break;
                case State.ExtendedLength:
                    if (_length > (long.MaxValue >> 8))
                    {
                        Invalid = true;
                        break;
                    }
                    _length = (_length << 8) | data[i++];
                    if (--_remainingHeader == 0)
                        AfterLength(_length);
                    break;
                case State.Mask:
                    _mask = (_mask << 8) | data[i++];
                    if (--_remainingHeader == 0)
                        _state = _payloadRemaining > 0 ? State.Payload : State.First;
                    break;
            }
        }
    }

    private void ReadCloseCode(ReadOnlySpan<byte> payload)
    {
        for (var k = 0; k < payload.Length && _payloadSeen + k < 2; k++)
        {
            var at = (int)(_payloadSeen + k);
            var b = payload[k];
            if (_masked)
                b ^= (byte)(_mask >> (8 * (3 - (at & 3))));
            if (at == 0)
                _closeHigh = b;
            else
                _closeCode = (_closeHigh << 8) | b;
        }
    }

    private void AfterLength(long length)
    {
        _payloadRemaining = length;
        _payloadSeen = 0;
        if (_masked)
        {
            _remainingHeader = 4;
            _mask = 0;
            _state = State.Mask;
        }
        else
        {
            _state = length > 0 ? State.Payload : State.First;
        }
    }
}
