namespace Pounce.Http2;

/// <summary>The peer's SETTINGS: applied (stream windows, frame size, header table), acknowledged, and ours acknowledged.</summary>
internal sealed partial class Http2Connection
{
    private void OnSettings(in Http2Frame frame)
    {
        var settings = Http2SettingsFrame.Parse(frame);
        if (settings.IsAck)
        {
            if (!_ourSettingsAcknowledged)
            {
                // RFC 9113 6.9.2: the client used the default stream window (65535) until it applied our SETTINGS.
                // Streams opened before the ACK move up to a larger window of ours; a smaller one is not applied
                // to them (clients differ in how they shrink the windows of open streams; 65535 bounds them).
                _ourSettingsAcknowledged = true;
                var delta = (long)_config.Http2InitialWindowSize - Http2FlowWindow.ProtocolInitialSize;
                lock (_sync)
                {
                    if (delta > 0)
                    {
                        foreach (var stream in _table.Streams)
                            stream.ReceiveWindow.Grant(delta);
                        _headerBlockStream?.ReceiveWindow.Grant(delta);
                    }
                    _receiveInitialWindow = _config.Http2InitialWindowSize;
                }
            }
            return;
        }
        if (_settingsReceived)
            _flood.OnSettings();
        _settingsReceived = true;
        ApplyPeerSettings(settings);
        Http2FrameWriter.WriteSettingsAck(_control);
    }

    /// <summary>
    /// Read loop, once the ACK of a SETTINGS that grew the stream send windows is in the output: the open streams get the
    /// larger windows and their writers are woken. Grown before, a stream could send the DATA the larger window allows
    /// ahead of the ACK (legal, but a peer that waits for the ACK before it reads DATA, as h2spec 6.9.2/1 does, misses
    /// that DATA); nothing is read in between, so no stream opens meanwhile.
    /// </summary>
    private void GrowStreamWindows()
    {
        var delta = _deferredWindowGrowth;
        _deferredWindowGrowth = 0;
        lock (_sync)
        {
            foreach (var stream in _table.Streams)
            {
                stream.SendWindow.TryAdjust(delta); // checked when the SETTINGS came (only sends shrank it since)
                stream.WakeWindowWaiter();
            }
        }
    }

    private void ApplyPeerSettings(in Http2SettingsFrame settings)
    {
        foreach (var setting in settings)
        {
            switch (setting.Id)
            {
                case Http2SettingId.InitialWindowSize:
                    var delta = (long)setting.Value - _peerInitialWindow;
                    lock (_sync)
                    {
                        foreach (var stream in _table.Streams)
                        {
                            // A larger window is given once the ACK is in the output (GrowStreamWindows); checked now.
                            var grown = delta > 0 ? _deferredWindowGrowth + delta : 0;
                            if (grown > 0 ? stream.SendWindow.Size + grown > Http2FlowWindow.MaxSize : !stream.SendWindow.TryAdjust(delta))
                                throw Http2ProtocolException.Connection(Http2ErrorCode.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window.");
                        }
                        if (delta > 0)
                            _deferredWindowGrowth += delta;
                        _peerInitialWindow = (int)setting.Value;
                    }
                    break;
                case Http2SettingId.MaxFrameSize:
                    _writer.PeerMaxFrameSize = (int)setting.Value;
                    break;
                case Http2SettingId.HeaderTableSize:
                    _writer.Encoder.SetPeerTableSize(setting.Value);
                    break;
            }
            _peerSettings.Apply(setting);
        }
    }
}
