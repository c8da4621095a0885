using System.Buffers;
using Microsoft.Net.Http.Headers;
using Pounce.Connections;
using Pounce.Http2;

namespace Pounce.Http1;

/// <summary>
/// The HTTP/1.1 side of the <c>Upgrade: h2c</c> mechanism (RFC 7540 3.2, deprecated by RFC 9113 3.1), behind
/// <see cref="ServerConfig.Http2CleartextUpgrade"/>. A qualifying request is not run here: it gets
/// <c>101 Switching Protocols</c>, is handed over as <see cref="H2cUpgrade"/>, and the connection then runs
/// <see cref="Http2Connection"/> with the request as stream 1 (half-closed remote).
/// </summary>
internal sealed partial class Http1Connection
{
    private static readonly byte[] SwitchingToH2c =
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"u8.ToArray();

    /// <summary>Set when the connection switched to HTTP/2 after a 101: the upgrading request, for stream 1.</summary>
    public H2cUpgradeRequest? H2cUpgrade { get; private set; }

    /// <summary>Whether the request's <c>Upgrade</c> header lists <c>h2c</c>.</summary>
    private bool UpgradeListsH2c =>
        RequestHeaders.TryGetValue(HeaderNames.Upgrade, out var upgrade) && HasToken(upgrade.ToString(), "h2c");

    /// <summary>
    /// Whether the request asks for an upgrade to anything other than h2c: <c>Upgrade: h2c</c> alone is never an
    /// application upgrade (<c>IHttpUpgradeFeature.IsUpgradableRequest</c> stays false for it, as in Kestrel).
    /// </summary>
    private bool UpgradeListsOtherThanH2c
    {
        get
        {
            if (!RequestHeaders.TryGetValue(HeaderNames.Upgrade, out var upgrade))
                return false;
            foreach (var value in upgrade)
            {
                foreach (var token in (value ?? "").Split(','))
                {
                    var t = token.Trim();
                    if (t.Length > 0 && !t.Equals("h2c", StringComparison.OrdinalIgnoreCase))
                        return true;
                }
            }
            return false;
        }
    }

    private static bool HasToken(string list, string token)
    {
        foreach (var part in list.Split(','))
        {
            if (part.Trim().Equals(token, StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }

    /// <summary>
    /// With the setting on: when the request just read is an acceptable h2c upgrade, sends the 101 and records the
    /// request in <see cref="H2cUpgrade"/>. Declined (served as HTTP/1.1, the <c>Upgrade</c> header ignored) when
    /// the request has a body, is not HTTP/1.1, lacks <c>Connection: Upgrade, HTTP2-Settings</c>, has not exactly one
    /// valid <c>HTTP2-Settings</c> header, or has an absolute-form or authority-form target.
    /// </summary>
    private async ValueTask<bool> TryUpgradeToH2cAsync()
    {
        if (!_config.Http2CleartextUpgrade || !_connection.ServesHttp2 || _version != HttpVersionKind.Http11
            || _bodyKind != BodyKind.None || !_connectionUpgrade || _connection.ShutdownRequested || !UpgradeListsH2c)
            return false;
        if (!RequestHeaders.TryGetValue(HeaderNames.Connection, out var connection) || !HasToken(connection.ToString(), "HTTP2-Settings"))
            return false;
        if (!RequestHeaders.TryGetValue("HTTP2-Settings", out var settingsHeader) || settingsHeader.Count != 1)
            return false;
        var settings = DecodeSettings(settingsHeader[0]);
        if (settings is null)
            return false;
        var target = RawTarget;
        if (target.Length == 0 || (target[0] != '/' && target != "*") || _absoluteHost is not null)
            return false;

        var headers = new List<KeyValuePair<string, string>>();
        foreach (var header in RequestHeaders)
        {
            foreach (var value in header.Value)
                headers.Add(new(header.Key, value ?? ""));
        }
        try
        {
            await _output.WriteAsync(SwitchingToH2c);
        }
        catch (Exception) when (_connection.Transport.PeerClose != Transport.PeerClose.None)
        {
            // The client left before the 101 went out: the request was never run.
            Connection.ReportEnd(_connection.Transport.PeerClose == Transport.PeerClose.Fin ? ConnectionEnd.ClientClosedInFlight : ConnectionEnd.PeerReset);
            return true;
        }
        H2cUpgrade = new H2cUpgradeRequest(Method, target, headers, settings);
        return true;
    }

    /// <summary>The <c>HTTP2-Settings</c> value: base64url (RFC 7540 3.2.1, padding optional) of a SETTINGS payload
    /// the codec accepts; null when it is not one.</summary>
    private static byte[]? DecodeSettings(string? value)
    {
        if (value is null)
            return null;
        var text = value.Trim().Replace('-', '+').Replace('_', '/').TrimEnd('=');
        if (text.Length % 4 == 1)
            return null;
        text = text.PadRight(text.Length + (4 - text.Length % 4) % 4, '=');
        byte[] payload;
        try
        {
            payload = Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            return null;
        }
        try
        {
            var frame = new Http2Frame(new Http2FrameHeader(payload.Length, Http2FrameType.Settings, Http2FrameFlags.None, 0), new ReadOnlySequence<byte>(payload));
            Http2SettingsFrame.Parse(frame);
        }
        catch (Http2ProtocolException)
        {
            return null;
        }
        return payload;
    }
}

/// <summary>An HTTP/1.1 request that upgraded to h2c: what stream 1 is made of.</summary>
internal sealed record H2cUpgradeRequest(string Method, string Target, List<KeyValuePair<string, string>> Headers, byte[] Settings);
