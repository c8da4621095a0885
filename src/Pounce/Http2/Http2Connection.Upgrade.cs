using System.Buffers;
using System.Text;
using Microsoft.Net.Http.Headers;
using Pounce.Connections;
using Pounce.Http1;

namespace Pounce.Http2;

/// <summary>h2c Upgrade (RFC 7540 3.2): the upgrading HTTP/1.1 request becomes stream 1 (see README, "h2c Upgrade").</summary>
internal sealed partial class Http2Connection
{
    /// <summary>
    /// h2c Upgrade: the <c>HTTP2-Settings</c> payload (checked before the 101) is applied as the client's first
    /// SETTINGS, without an ACK (RFC 7540 3.2.1: the 101 acknowledges it implicitly; nghttp2 treats an ACK here as
    /// unsolicited), then the upgrading request becomes stream 1, half-closed (remote), and its application starts.
    /// </summary>
    private void StartUpgradedStream(H2cUpgradeRequest upgrade)
    {
        var payload = upgrade.Settings;
        var frame = new Http2Frame(new Http2FrameHeader(payload.Length, Http2FrameType.Settings, Http2FrameFlags.None, 0), new ReadOnlySequence<byte>(payload));
        ApplyPeerSettings(Http2SettingsFrame.Parse(frame));
        _deferredWindowGrowth = 0; // no stream is open yet to grow: stream 1 starts with the new initial window

        const int id = 1;
        _lastClientStreamId = id;
        Http2Stream stream;
        lock (_sync)
        {
            stream = _table.Rent() ?? new Http2Stream(this, _server);
            stream.Start(id, ++_sequence, _peerInitialWindow, _receiveInitialWindow);
        }
        _headerHandler.Begin(stream, trailers: false);
        Field(":method", upgrade.Method);
        Field(":scheme", "http");
        Field(":path", upgrade.Target);
        var host = upgrade.Headers.FirstOrDefault(h => h.Key.Equals(HeaderNames.Host, StringComparison.OrdinalIgnoreCase)).Value;
        if (!string.IsNullOrEmpty(host))
            Field(":authority", host);
        foreach (var (name, value) in upgrade.Headers)
        {
            var lower = name.ToLowerInvariant();
            // Connection-specific fields of the HTTP/1.1 request (RFC 9113 8.2.2) and Host (now :authority).
            if (lower is "host" or "connection" or "upgrade" or "http2-settings" or "keep-alive" or "proxy-connection" or "transfer-encoding"
                || (lower == "te" && !value.Equals("trailers", StringComparison.OrdinalIgnoreCase)))
                continue;
            Field(lower, value);
        }
        if (!_headerHandler.Complete())
        {
            ResetStreamFromReadLoop(id, Http2ErrorCode.ProtocolError);
            return;
        }
        stream.OnHeadComplete(endStream: true);
        stream.MarkRequestEnded();
        stream.CompleteBody();
        StartStream(id, stream);

        void Field(string name, string value) =>
            _headerHandler.OnHeader(Encoding.Latin1.GetBytes(name), Encoding.Latin1.GetBytes(value));
    }

    /// <summary>
    /// The 101 went out (Upgrade: h2c): the contract's <c>ConnectionUpgraded</c>, with <c>protocol</c> <c>h2</c> (what
    /// the connection now is, as <c>ConnectionCompleted</c> will say) and the request id of the upgrading request, which
    /// stream 1 carries once the client preface has come.
    /// </summary>
    private void ReportUpgrade(H2cUpgradeRequest upgrade)
    {
        var request = new RequestInfo();
        request.Reset(Info.ConnectionId, sequence: 1, streamId: 1);
        request.Method = upgrade.Method;
        var target = upgrade.Target;
        var query = target.IndexOf('?', StringComparison.Ordinal);
        request.Path = target[0] == '/' ? RequestTarget.DecodePath(Encoding.Latin1.GetBytes(query < 0 ? target : target[..query])) : "";
        request.Version = HttpVersionKind.Http2;
        _server.Emitter.ConnectionUpgraded(Info, request);
    }

}
