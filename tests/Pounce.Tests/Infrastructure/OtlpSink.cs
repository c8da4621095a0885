using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pounce.Tests.Infrastructure;

/// <summary>
/// A minimal OTLP/HTTP receiver on a free loopback port: answers every request <c>200</c> with an empty protobuf
/// body (an empty export response) and records what was posted where. Plain sockets, so that no ASP.NET Core
/// request of its own is traced.
/// </summary>
internal sealed class OtlpSink : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(string Method, string Path, string? ContentType, int Length)> _posts = [];
    private readonly SemaphoreSlim _signal = new(0);
    private readonly Task _accepting;

    public OtlpSink()
    {
        _listener.Start();
        Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
        _accepting = AcceptAsync();
    }

    /// <summary>The base URL to give as <c>OtelEndpoint</c>.</summary>
    public Uri Endpoint { get; }

    public IReadOnlyList<(string Method, string Path, string? ContentType, int Length)> Posts
    {
        get
        {
            lock (_posts)
                return _posts.ToArray();
        }
    }

    /// <summary>Waits (at most 20 s) until a request came to <paramref name="path"/>.</summary>
    public async Task WaitForAsync(string path)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!Posts.Any(p => p.Path == path))
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await _signal.WaitAsync(left))
            {
                if (Posts.Any(p => p.Path == path))
                    return;
                throw new TimeoutException($"Nothing was posted to {path}; posts: {string.Join(", ", Posts.Select(p => p.Path))}");
            }
        }
    }

    private async Task AcceptAsync()
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                connections.Add(ServeAsync(client));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        await Task.WhenAll(connections);
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var buffer = new byte[64 * 1024];
                var filled = 0;
                while (true)
                {
                    int headEnd;
                    while ((headEnd = IndexOfHeadEnd(buffer, filled)) < 0)
                    {
                        if (filled == buffer.Length)
                            return;
                        var n = await stream.ReadAsync(buffer.AsMemory(filled), _stop.Token);
                        if (n == 0)
                            return;
                        filled += n;
                    }
                    var head = Encoding.ASCII.GetString(buffer, 0, headEnd).Split("\r\n");
                    var requestLine = head[0].Split(' ');
                    var length = 0;
                    string? contentType = null;
                    foreach (var line in head.Skip(1))
                    {
                        var colon = line.IndexOf(':', StringComparison.Ordinal);
                        if (colon <= 0)
                            continue;
                        var name = line[..colon].Trim();
                        var value = line[(colon + 1)..].Trim();
                        if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                            length = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                        else if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
                            contentType = value;
                    }
                    // Consume the head and the body (which may be larger than the buffer).
                    var consumed = headEnd + 4;
                    var bodyLeft = length;
                    var inBuffer = Math.Min(bodyLeft, filled - consumed);
                    bodyLeft -= inBuffer;
                    consumed += inBuffer;
                    Buffer.BlockCopy(buffer, consumed, buffer, 0, filled - consumed);
                    filled -= consumed;
                    while (bodyLeft > 0)
                    {
                        var n = await stream.ReadAsync(buffer.AsMemory(0, Math.Min(bodyLeft, buffer.Length)), _stop.Token);
                        if (n == 0)
                            return;
                        bodyLeft -= n;
                    }
                    lock (_posts)
                        _posts.Add((requestLine[0], requestLine.Length > 1 ? requestLine[1] : "", contentType, length));
                    _signal.Release();
                    await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"u8.ToArray(), _stop.Token);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }
    }

    private static int IndexOfHeadEnd(byte[] buffer, int filled) => buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
        _signal.Dispose();
    }
}
