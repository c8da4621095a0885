using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Pounce.Http2;
using Pounce.Tests.Http2;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.Tls;

namespace Pounce.Tests.Endpoints;

/// <summary>
/// Per-endpoint protocols (Kestrel's ListenOptions.Protocols) and the handling of the HTTP/2 preface, with raw bytes.
/// </summary>
public sealed class EndpointProtocolTests
{
    private static Task<EndpointHost> StartAsync(string protocols, string section = "Kestrel")
        => EndpointHost.StartAsync(
        [
            new($"{section}:Endpoints:Main:Url", "http://127.0.0.1:0"),
            new($"{section}:Endpoints:Main:Protocols", protocols),
        ]);

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("PRI * HTTP/1.1\r\n\r\n")]
    [InlineData("\x16\x03\x01\x00\x05hello")]
    [InlineData("G")]
    public async Task Http2Only_AnyInvalidPreface_GetsGoAwayProtocolError_AndClose(string bytes)
    {
        await using var host = await StartAsync("Http2");
        await using var client = await Http2RawClient.ConnectAsync(host.Port, handshake: false);
        await client.SendAsync(Encoding.Latin1.GetBytes(bytes));
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        Assert.True(await client.WaitForCloseAsync(), "the connection should close after the GOAWAY");
    }

    [Fact]
    public async Task Http2Only_ValidPreface_IsServed()
    {
        await using var host = await StartAsync("Http2", section: "Pounce");
        await using var client = await Http2RawClient.ConnectAsync(host.Port);
        await client.AssertServesAsync(1);
    }

    [Fact]
    public async Task Shared_PriLineWithBadRemainder_IsHttp2GoAway_NotHttp11_505()
    {
        await using var host = await StartAsync("Http1AndHttp2");
        await using var client = await Http2RawClient.ConnectAsync(host.Port, handshake: false);
        await client.SendAsync(Encoding.Latin1.GetBytes("PRI * HTTP/2.0\r\n\r\nXY\r\n\r\n"));
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
        Assert.True(await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task Shared_PriLineArrivingByteByByte_CommitsToHttp2()
    {
        await using var host = await StartAsync("Http1AndHttp2");
        await using var client = await Http2RawClient.ConnectAsync(host.Port, handshake: false);
        foreach (var b in Encoding.Latin1.GetBytes("PRI * HTTP/2.0\r\nXX"))
            await client.SendAsync([b]);
        await client.ExpectGoAwayAsync(Http2ErrorCode.ProtocolError);
    }

    [Fact]
    public async Task Shared_Http11AndHttp2_BothServed()
    {
        await using var host = await StartAsync("Http1AndHttp2");
        await using (var h2 = await Http2RawClient.ConnectAsync(host.Port))
            await h2.AssertServesAsync(1);
        await using var h1 = await RawClient.ConnectAsync(host.Port);
        await h1.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var response = await h1.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        Assert.Equal("HTTP/1.1", response.BodyText);
    }

    [Fact]
    public async Task Http1Only_Preface_IsAnHttp11Request_NotHttp2()
    {
        await using var host = await StartAsync("Http1");
        await using var client = await RawClient.ConnectAsync(host.Port);
        await client.SendAsync(Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(Http2Connection.ClientPreface)));
        var response = await client.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 ", response.StatusLine);
        Assert.True(response.Status >= 400, response.StatusLine);
    }

    [Fact]
    public async Task Http1Only_IgnoresUpgradeH2c_EvenWithTheSettingOn()
    {
        await using var host = await EndpointHost.StartAsync(
        [
            new("Pounce:Endpoints:Main:Url", "http://127.0.0.1:0"),
            new("Pounce:Endpoints:Main:Protocols", "Http1"),
            new("Pounce:Http2CleartextUpgrade", "true"),
        ]);
        await using var client = await RawClient.ConnectAsync(host.Port);
        await client.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
        var response = await client.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        Assert.Equal("HTTP/1.1", response.BodyText);
    }

    [Theory]
    [InlineData("Kestrel")]
    [InlineData("Pounce")]
    public async Task Http3_IsAStartupError_NamingTheKey(string section)
    {
        var error = await Assert.ThrowsAsync<Pounce.Hosting.PounceConfigurationException>(() => StartAsync("Http1AndHttp2AndHttp3", section));
        Assert.Contains($"{section}:Endpoints:Main:Protocols", error.Message);
        Assert.Contains("HTTP/3", error.Message);
    }

    [Theory]
    [InlineData("Http1", "http/1.1")]
    [InlineData("Http2", "h2")]
    [InlineData("Http1AndHttp2", "h2")]
    public async Task Tls_AlpnOffersOnlyTheEndpointsProtocols(string protocols, string expected)
    {
        var (certFile, keyFile) = TestCertificates.WritePem(TestCertificates.Localhost, Path.Combine(Path.GetTempPath(), "pounce-alpn-" + Guid.NewGuid().ToString("N")));
        await using var host = await EndpointHost.StartAsync(
        [
            new("Kestrel:Endpoints:Tls:Url", "https://127.0.0.1:0"),
            new("Kestrel:Endpoints:Tls:Protocols", protocols),
            new("Kestrel:Endpoints:Tls:Certificate:Path", certFile),
            new("Kestrel:Endpoints:Tls:Certificate:KeyPath", keyFile),
        ]);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(System.Net.IPAddress.Loopback, host.Port);
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == TestCertificates.Localhost.GetCertHashString(),
        }).WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(expected, ssl.NegotiatedApplicationProtocol.ToString());
    }
}
