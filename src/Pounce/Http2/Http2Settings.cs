using System.Buffers;

namespace Pounce.Http2;

/// <summary>The setting identifiers of RFC 9113 6.5.2 (and RFC 8441). Other identifiers are ignored.</summary>
internal enum Http2SettingId : ushort
{
    /// <summary>SETTINGS_HEADER_TABLE_SIZE (0x1): largest HPACK dynamic table the sender's decoder allows.</summary>
    HeaderTableSize = 0x1,

    /// <summary>SETTINGS_ENABLE_PUSH (0x2): 0 or 1.</summary>
    EnablePush = 0x2,

    /// <summary>SETTINGS_MAX_CONCURRENT_STREAMS (0x3).</summary>
    MaxConcurrentStreams = 0x3,

    /// <summary>SETTINGS_INITIAL_WINDOW_SIZE (0x4): at most 2^31-1.</summary>
    InitialWindowSize = 0x4,

    /// <summary>SETTINGS_MAX_FRAME_SIZE (0x5): 16384..16777215.</summary>
    MaxFrameSize = 0x5,

    /// <summary>SETTINGS_MAX_HEADER_LIST_SIZE (0x6): advisory.</summary>
    MaxHeaderListSize = 0x6,

    /// <summary>SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8, RFC 8441): 0 or 1.</summary>
    EnableConnectProtocol = 0x8,
}

/// <summary>One setting: identifier and value.</summary>
internal readonly struct Http2Setting
{
    /// <summary>Size of a setting on the wire.</summary>
    public const int Size = 6;

    /// <summary>Creates a setting.</summary>
    public Http2Setting(Http2SettingId id, uint value)
    {
        Id = id;
        Value = value;
    }

    /// <summary>The identifier (possibly unknown to <see cref="Http2SettingId"/>).</summary>
    public Http2SettingId Id { get; }

    /// <summary>The value.</summary>
    public uint Value { get; }

    /// <summary>Checks a known setting's value (RFC 9113 6.5.2); unknown settings always pass.</summary>
    /// <exception cref="Http2ProtocolException">
    /// ENABLE_PUSH / ENABLE_CONNECT_PROTOCOL not 0 or 1, or MAX_FRAME_SIZE outside 16384..16777215: connection PROTOCOL_ERROR;
    /// INITIAL_WINDOW_SIZE above 2^31-1: connection FLOW_CONTROL_ERROR.
    /// </exception>
    public void Validate()
    {
        switch (Id)
        {
            case Http2SettingId.EnablePush when Value > 1:
                throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, $"SETTINGS_ENABLE_PUSH must be 0 or 1, got {Value}.");
            case Http2SettingId.EnableConnectProtocol when Value > 1:
                throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, $"SETTINGS_ENABLE_CONNECT_PROTOCOL must be 0 or 1, got {Value}.");
            case Http2SettingId.InitialWindowSize when Value > int.MaxValue:
                throw Http2ProtocolException.Connection(Http2ErrorCode.FlowControlError, $"SETTINGS_INITIAL_WINDOW_SIZE {Value} exceeds 2^31-1.");
            case Http2SettingId.MaxFrameSize when Value < Http2FrameReader.DefaultMaxFrameSize || Value > Http2FrameHeader.MaxLength:
                throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, $"SETTINGS_MAX_FRAME_SIZE {Value} is outside 16384..16777215.");
        }
    }
}

/// <summary>A SETTINGS frame (RFC 9113 6.5). Enumerate it for its settings, in order, each already validated.</summary>
internal readonly struct Http2SettingsFrame
{
    private readonly ReadOnlySequence<byte> _payload;

    private Http2SettingsFrame(bool isAck, ReadOnlySequence<byte> payload)
    {
        IsAck = isAck;
        _payload = payload;
    }

    /// <summary>ACK flag: the peer acknowledges our SETTINGS.</summary>
    public bool IsAck { get; }

    /// <summary>Number of settings (including unknown ones).</summary>
    public int Count => (int)(_payload.Length / Http2Setting.Size);

    /// <summary>Parses and validates a SETTINGS frame.</summary>
    /// <exception cref="Http2ProtocolException">
    /// Stream other than 0: connection PROTOCOL_ERROR; ACK with a payload, or a length not a multiple of 6:
    /// connection FRAME_SIZE_ERROR; a bad value: see <see cref="Http2Setting.Validate"/>.
    /// </exception>
    public static Http2SettingsFrame Parse(in Http2Frame frame)
    {
        Http2FramePayload.CheckType(frame, Http2FrameType.Settings);
        Http2FramePayload.RequireConnection(frame);
        bool isAck = frame.Header.HasFlag(Http2FrameFlags.Ack);
        if (isAck && frame.Header.Length != 0)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.FrameSizeError, "SETTINGS ACK frame with a payload.");
        }

        if (frame.Header.Length % Http2Setting.Size != 0)
        {
            throw Http2ProtocolException.Connection(Http2ErrorCode.FrameSizeError, "SETTINGS frame length is not a multiple of 6.");
        }

        var settings = new Http2SettingsFrame(isAck, frame.Payload);
        foreach (Http2Setting setting in settings)
        {
            setting.Validate();
        }

        return settings;
    }

    /// <summary>Returns an enumerator over the settings.</summary>
    public Enumerator GetEnumerator() => new(_payload);

    /// <summary>Enumerates settings without allocating.</summary>
    public ref struct Enumerator
    {
        private SequenceReader<byte> _reader;

        internal Enumerator(ReadOnlySequence<byte> payload)
        {
            _reader = new SequenceReader<byte>(payload);
            Current = default;
        }

        /// <summary>The current setting.</summary>
        public Http2Setting Current { get; private set; }

        /// <summary>Moves to the next setting.</summary>
        public bool MoveNext()
        {
            if (_reader.Remaining < Http2Setting.Size
                || !_reader.TryReadBigEndian(out short id)
                || !_reader.TryReadBigEndian(out int value))
            {
                return false;
            }

            Current = new Http2Setting((Http2SettingId)(ushort)id, (uint)value);
            return true;
        }
    }
}

/// <summary>
/// The values of the settings of one endpoint, starting at the RFC 9113 6.5.2 initial values; "unlimited"
/// is <see cref="uint.MaxValue"/>.
/// </summary>
internal sealed class Http2Settings
{
    /// <summary>SETTINGS_HEADER_TABLE_SIZE, initially 4096.</summary>
    public uint HeaderTableSize { get; set; } = 4096;

    /// <summary>SETTINGS_ENABLE_PUSH, initially true.</summary>
    public bool EnablePush { get; set; } = true;

    /// <summary>SETTINGS_MAX_CONCURRENT_STREAMS, initially unlimited.</summary>
    public uint MaxConcurrentStreams { get; set; } = uint.MaxValue;

    /// <summary>SETTINGS_INITIAL_WINDOW_SIZE, initially 65535.</summary>
    public uint InitialWindowSize { get; set; } = 65_535;

    /// <summary>SETTINGS_MAX_FRAME_SIZE, initially 16384.</summary>
    public uint MaxFrameSize { get; set; } = Http2FrameReader.DefaultMaxFrameSize;

    /// <summary>SETTINGS_MAX_HEADER_LIST_SIZE, initially unlimited.</summary>
    public uint MaxHeaderListSize { get; set; } = uint.MaxValue;

    /// <summary>SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), initially false.</summary>
    public bool EnableConnectProtocol { get; set; }

    /// <summary>
    /// Applies the settings of a parsed (so validated) frame in order; unknown identifiers are ignored. Effects on
    /// flow-control windows (a changed INITIAL_WINDOW_SIZE) and on HPACK are the connection's to carry out.
    /// </summary>
    public void Apply(in Http2SettingsFrame frame)
    {
        foreach (Http2Setting setting in frame)
        {
            Apply(setting);
        }
    }

    /// <summary>Applies one setting; unknown identifiers are ignored. The value must have been validated.</summary>
    public void Apply(Http2Setting setting)
    {
        switch (setting.Id)
        {
            case Http2SettingId.HeaderTableSize:
                HeaderTableSize = setting.Value;
                break;
            case Http2SettingId.EnablePush:
                EnablePush = setting.Value == 1;
                break;
            case Http2SettingId.MaxConcurrentStreams:
                MaxConcurrentStreams = setting.Value;
                break;
            case Http2SettingId.InitialWindowSize:
                InitialWindowSize = setting.Value;
                break;
            case Http2SettingId.MaxFrameSize:
                MaxFrameSize = setting.Value;
                break;
            case Http2SettingId.MaxHeaderListSize:
                MaxHeaderListSize = setting.Value;
                break;
            case Http2SettingId.EnableConnectProtocol:
                EnableConnectProtocol = setting.Value == 1;
                break;
        }
    }
}
