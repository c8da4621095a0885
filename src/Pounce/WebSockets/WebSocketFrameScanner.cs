namespace Pounce.WebSockets;

/// <summary>
/// Follows the frame boundaries of one direction of a WebSocket (RFC 6455 5.2) without buffering or decoding
/// payloads, only to learn whether a Close frame went by: the server does not own the WebSocket (the application
/// does, through ASP.NET Core's middleware), but the lifecycle contract needs to know whether the close handshake
/// happened.
/// </summary>
internal struct WebSocketFrameScanner
{
    private enum State : byte { First, Length, ExtendedLength, Mask, Payload }

    private State _state;
    private bool _masked;
    private int _remainingHeader;
    private long _length;
    private long _payloadRemaining;

    /// <summary>A Close frame (opcode 8) started in this direction.</summary>
    public bool SawClose { get; private set; }

    /// <summary>Between frames: nothing of a frame has been seen without its end.</summary>
    public readonly bool AtFrameStart => _state == State.First && !Invalid;

    /// <summary>Something that is not a WebSocket frame went by; scanning stopped.</summary>
    public bool Invalid { get; private set; }

    public void Scan(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length && !Invalid)
        {
            switch (_state)
            {
                case State.Payload:
                    var skip = (int)Math.Min(_payloadRemaining, data.Length - i);
                    i += skip;
                    _payloadRemaining -= skip;
                    if (_payloadRemaining == 0)
                        _state = State.First;
                    break;
                case State.First:
                    if ((data[i] & 0x0F) == 0x8)
                        SawClose = true;
                    i++;
                    _state = State.Length;
                    break;
                case State.Length:
                    var b = data[i++];
                    _masked = (b & 0x80) != 0;
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
                    i++;
                    if (--_remainingHeader == 0)
                        _state = _payloadRemaining > 0 ? State.Payload : State.First;
                    break;
            }
        }
    }

    private void AfterLength(long length)
    {
        _payloadRemaining = length;
        if (_masked)
        {
            _remainingHeader = 4;
            _state = State.Mask;
        }
        else
        {
            _state = length > 0 ? State.Payload : State.First;
        }
    }
}
