namespace Pounce.WebSockets;

/// <summary>
/// Follows the frame boundaries of one direction of a WebSocket (RFC 6455 5.2) without buffering or decoding
/// payloads: the server does not own the WebSocket (the application does, through ASP.NET Core's middleware), but the
/// lifecycle contract needs to know whether the close handshake happened and with which status, and the server must
/// refuse unmasked client frames (RFC 6455 5.1), which the BCL's framer accepts. On request it also checks the UTF-8
/// of text messages byte by byte (unmasking as it goes, keeping nothing), so an invalid sequence fails the WebSocket as
/// soon as its byte arrives (RFC 6455 8.1), not when its frame or message ends.
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

    // UTF-8 of text messages (RFC 6455 8.1, RFC 3629): whether the current data message is text (uncompressed), whether
    // the current frame's payload is part of it, whether the current frame ends its message, and the decoder's state.
    private bool _inText;
    private bool _validating;
    private bool _fin;
    private int _utf8Needed;
    private byte _utf8Lower;
    private byte _utf8Upper;

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

    /// <summary>A text message held invalid UTF-8 (checked only where <c>validateUtf8</c> was asked); scanning stopped.</summary>
    public bool SawInvalidUtf8 { get; private set; }

    /// <summary>
    /// Where, in the data of the <see cref="Scan"/> call that set <see cref="SawInvalidUtf8"/>, the frame with the bad
    /// byte starts; -1 when it started in an earlier call.
    /// </summary>
    public readonly int InvalidFrameStart => _frameStart;

    /// <summary>
    /// Follows <paramref name="data"/>; with <paramref name="requireMasked"/> an unmasked frame stops the scan, with
    /// <paramref name="validateUtf8"/> so does the first byte that makes a text message invalid UTF-8 (messages
    /// compressed by an extension, RSV1 set, are not checked).
    /// </summary>
    public void Scan(ReadOnlySpan<byte> data, bool requireMasked = false, bool validateUtf8 = false)
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
                    if (_validating && !ValidateUtf8(data.Slice(i, skip)))
                    {
                        SawInvalidUtf8 = true;
                        Invalid = true;
                        break;
                    }
                    i += skip;
                    _payloadRemaining -= skip;
                    _payloadSeen += skip;
                    if (_payloadRemaining == 0)
                        EndFrame();
                    break;
                case State.First:
                    _frameStart = i;
                    if (validateUtf8)
                        StartFrame(data[i]);
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
                    {
                        if (_payloadRemaining > 0)
                            _state = State.Payload;
                        else
                            EndFrame();
                    }
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
        else if (length > 0)
        {
            _state = State.Payload;
        }
        else
        {
            EndFrame();
        }
    }

    /// <summary>A frame's first byte: which message its payload belongs to, for the UTF-8 check.</summary>
    private void StartFrame(byte first)
    {
        var opcode = first & 0x0F;
        _fin = (first & 0x80) != 0;
        if (opcode == 0x1)
        {
            _inText = (first & 0x40) == 0; // RSV1: compressed (permessage-deflate), not checked here
            _utf8Needed = 0;
            _validating = _inText;
        }
        else if (opcode == 0x2)
        {
            _inText = false;
            _validating = false;
        }
        else
        {
            // A continuation goes on with the current message; a control frame (8-15) is no part of it.
            _validating = opcode == 0x0 && _inText;
        }
    }

    /// <summary>The end of a frame's payload: a text message that ends in the middle of a UTF-8 sequence is invalid.</summary>
    private void EndFrame()
    {
        _state = State.First;
        if (!_validating)
            return;
        _validating = false;
        if (!_fin)
            return;
        _inText = false;
        if (_utf8Needed != 0)
        {
            SawInvalidUtf8 = true;
            Invalid = true;
        }
    }

    /// <summary>Feeds (masked) payload bytes to the UTF-8 decoder; false at the first byte no valid text can have.</summary>
    private bool ValidateUtf8(ReadOnlySpan<byte> payload)
    {
        var at = _payloadSeen;
        for (var k = 0; k < payload.Length; k++, at++)
        {
            var b = payload[k];
            if (_masked)
                b ^= (byte)(_mask >> (8 * (3 - (int)(at & 3))));
            if (_utf8Needed == 0)
            {
                if (b < 0x80)
                    continue;
                (_utf8Needed, _utf8Lower, _utf8Upper) = b switch
                {
                    >= 0xC2 and <= 0xDF => (1, (byte)0x80, (byte)0xBF),
                    0xE0 => (2, (byte)0xA0, (byte)0xBF), // no overlong 3-byte form
                    0xED => (2, (byte)0x80, (byte)0x9F), // no UTF-16 surrogate
                    >= 0xE1 and <= 0xEF => (2, (byte)0x80, (byte)0xBF),
                    0xF0 => (3, (byte)0x90, (byte)0xBF), // no overlong 4-byte form
                    >= 0xF1 and <= 0xF3 => (3, (byte)0x80, (byte)0xBF),
                    0xF4 => (3, (byte)0x80, (byte)0x8F), // nothing above U+10FFFF
                    _ => (-1, (byte)0, (byte)0),
                };
                if (_utf8Needed < 0)
                {
                    _utf8Needed = 0;
                    return false;
                }
                continue;
            }
            if (b < _utf8Lower || b > _utf8Upper)
                return false;
            _utf8Needed--;
            _utf8Lower = 0x80;
            _utf8Upper = 0xBF;
        }
        return true;
    }
}
