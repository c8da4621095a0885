using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Http;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Endpoints;

/// <summary>Addresses as Kestrel apps write them: wildcards (dual-stack), HTTP_PORTS, Unix sockets, and a port already taken.</summary>
public sealed class BindingTests
{
    private static async Task<string> GetAsync(IPAddress address, int port)
    {
        using var client = new RawClientOver(address, port);
        return await client.GetAsync();
    }

    [Theory]
    [InlineData("urls", "http://*:0")]
    [InlineData("urls", "http://+:0")]
    [InlineData("urls", "http://[::]:0")]
    [InlineData("http_ports", "0")]
    [InlineData("Kestrel:Endpoints:Any:Url", "http://*:0")]
    public async Task Wildcard_BindsDualStack_ServingIPv6AndIPv4LoopbackClients(string key, string value)
    {
        await using var host = await EndpointHost.StartAsync([new(key, value)]);
        Assert.StartsWith("http://[::]:", host.Addresses[0]);
        Assert.Equal("HTTP/1.1", await GetAsync(IPAddress.IPv6Loopback, host.Port));
        Assert.Equal("HTTP/1.1", await GetAsync(IPAddress.Loopback, host.Port));
    }

    [Fact]
    public async Task ZeroZeroZeroZero_IsIPv4Only()
    {
        await using var host = await EndpointHost.StartAsync([new("urls", "http://0.0.0.0:0")]);
        Assert.StartsWith("http://0.0.0.0:", host.Addresses[0]);
        Assert.Equal("HTTP/1.1", await GetAsync(IPAddress.Loopback, host.Port));
    }

    [Fact]
    public async Task UnixSocket_IsServed_AndRemovedOnStop()
    {
        var path = Path.Combine(Path.GetTempPath(), "pounce-" + Guid.NewGuid().ToString("N")[..12] + ".sock");
        var host = await EndpointHost.StartAsync([new("urls", "http://unix:" + path)], ctx => ctx.Response.WriteAsync("unix " + ctx.Request.Path));
        try
        {
            Assert.Equal("http://unix:" + path, host.Addresses[0]);
            using var http = new HttpClient(new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            }) { Timeout = TimeSpan.FromSeconds(15) };
            Assert.Equal("unix /a", await http.GetStringAsync("http://localhost/a"));
        }
        finally
        {
            await host.DisposeAsync();
        }
        Assert.False(File.Exists(path), "the socket file should be removed when the server stops");
    }

    [ToolFact("curl")]
    public async Task UnixSocket_WithCurl()
    {
        var path = Path.Combine(Path.GetTempPath(), "pounce-" + Guid.NewGuid().ToString("N")[..12] + ".sock");
        await using var host = await EndpointHost.StartAsync([new("urls", "http://unix:" + path)], ctx => ctx.Response.WriteAsync("unix " + ctx.Request.Path));
        var (exit, output) = await ExternalTool.RunAsync("curl", $"-s --unix-socket {path} http://localhost/curl");
        Assert.True(exit == 0, output);
        Assert.Equal("unix /curl", output);
    }

    [Fact]
    public async Task UnixSocket_StaleFileIsReplaced_LiveListenerIsAddressInUse()
    {
        var path = Path.Combine(Path.GetTempPath(), "pounce-" + Guid.NewGuid().ToString("N")[..12] + ".sock");
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            // A socket file nobody listens on, as a crashed server leaves it (moved away so Dispose cannot remove it).
            stale.Bind(new UnixDomainSocketEndPoint(path + ".tmp"));
            File.Move(path + ".tmp", path);
        }
        Assert.True(File.Exists(path));
        await using var host = await EndpointHost.StartAsync([new("urls", "http://unix:" + path)]);
        var error = await Assert.ThrowsAsync<IOException>(() => EndpointHost.StartAsync([new("urls", "http://unix:" + path)]));
        Assert.Contains("address already in use", error.Message);
    }

    [Fact]
    public async Task UnixSocket_OnARegularFile_IsAnError_AndTheFileIsKept()
    {
        var path = Path.Combine(Path.GetTempPath(), "pounce-" + Guid.NewGuid().ToString("N")[..12] + ".sock");
        await File.WriteAllTextAsync(path, "precious");
        try
        {
            await Assert.ThrowsAsync<IOException>(() => EndpointHost.StartAsync([new("urls", "http://unix:" + path)]));
            Assert.Equal("precious", await File.ReadAllTextAsync(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task SecondServer_OnATakenPort_FailsWithAddressAlreadyInUse(int workers)
    {
        await using var first = await EndpointHost.StartAsync([new("urls", "http://127.0.0.1:0")], configure: c => c.Workers = 2);
        var error = await Assert.ThrowsAsync<IOException>(() =>
            EndpointHost.StartAsync([new("urls", $"http://127.0.0.1:{first.Port}")], configure: c => c.Workers = workers));
        Assert.Equal($"Failed to bind to address http://127.0.0.1:{first.Port}: address already in use.", error.Message);
        // The first server still serves, on both of its workers' sockets.
        Assert.Equal("HTTP/1.1", await GetAsync(IPAddress.Loopback, first.Port));
    }

    [Fact]
    public async Task ForeignReusePortListener_IsAddressInUse()
    {
        using var foreign = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Span<byte> one = stackalloc byte[4];
        MemoryMarshal.Write(one, 1);
        foreign.SetRawSocketOption(1, 15, one); // SO_REUSEPORT, as another Pounce's workers have it
        foreign.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        foreign.Listen();
        var port = ((IPEndPoint)foreign.LocalEndPoint!).Port;
        var error = await Assert.ThrowsAsync<IOException>(() => EndpointHost.StartAsync([new("urls", $"http://127.0.0.1:{port}")]));
        Assert.Contains("address already in use", error.Message);
    }

    [Fact]
    public async Task Wildcard_OnAPortTakenOnIPv4_IsAddressInUse()
    {
        using var foreign = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        foreign.Bind(new IPEndPoint(IPAddress.Any, 0));
        foreign.Listen();
        var port = ((IPEndPoint)foreign.LocalEndPoint!).Port;
        var error = await Assert.ThrowsAsync<IOException>(() => EndpointHost.StartAsync([new("urls", $"http://*:{port}")]));
        Assert.Contains("address already in use", error.Message);
    }

    /// <summary>A one-request HTTP/1.1 client over a given address family.</summary>
    private sealed class RawClientOver(IPAddress address, int port) : IDisposable
    {
        private readonly Socket _socket = new(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);

        public async Task<string> GetAsync()
        {
            await _socket.ConnectAsync(address, port).WaitAsync(TimeSpan.FromSeconds(15));
            await _socket.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray());
            using var stream = new NetworkStream(_socket);
            using var reader = new StreamReader(stream);
            var text = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(15));
            Assert.StartsWith("HTTP/1.1 200", text);
            return text[(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        }

        public void Dispose() => _socket.Dispose();
    }
}
