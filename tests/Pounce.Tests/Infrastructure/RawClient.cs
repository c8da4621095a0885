using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pounce.Tests.Infrastructure;

/// <summary>A parsed HTTP/1.1 response as the raw client read it.</summary>
public sealed record RawResponse(int Status, string StatusLine, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body,
    IReadOnlyList<KeyValuePair<string, string>> Trailers)
{
    public string? Header(string name)
    {
        foreach (var h in Headers)
        {
            if (string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase))
                return h.Value;
        }
        return null;
    }

    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// A plain socket speaking HTTP/1.1 by hand, for tests that need exact bytes on the wire: pipelining, malformed
/// requests, half-sent heads. Every wait is bounded.
/// </summary>
public sealed class RawClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private bool _eof;

    private RawClient(Socket socket) => _socket = socket;

    public Socket Socket => _socket;

    public static async Task<RawClient> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(DefaultTimeout);
        return new RawClient(socket);
    }

    public Task SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        var sent = 0;
        while (sent < bytes.Length)
            sent += await _socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None);
    }

    private async Task<bool> FillAsync(TimeSpan timeout)
    {
        if (_eof)
            return false;
        if (_start > 0 && _start == _end)
        {
            _start = _end = 0;
        }
        if (_end == _buffer.Length)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        using var cts = new CancellationTokenSource(timeout);
        int n;
        try
        {
            n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No data from the server within {timeout.TotalSeconds} s.");
        }
        catch (SocketException)
        {
            _eof = true;
            return false;
        }
        if (n == 0)
        {
            _eof = true;
            return false;
        }
        _end += n;
        return true;
    }

    private async Task<string?> ReadLineAsync(TimeSpan timeout)
    {
        while (true)
        {
            var idx = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (idx >= 0)
            {
                var line = Encoding.Latin1.GetString(_buffer, _start, idx - _start).TrimEnd('\r');
                _start = idx + 1;
                return line;
            }
            if (!await FillAsync(timeout))
                return null;
        }
    }

    private async Task<byte[]> ReadExactAsync(long count, TimeSpan timeout)
    {
        var result = new MemoryStream();
        while (result.Length < count)
        {
            if (_start == _end && !await FillAsync(timeout))
                throw new IOException($"Connection closed after {result.Length} of {count} body bytes.");
            var n = (int)Math.Min(count - result.Length, _end - _start);
            result.Write(_buffer, _start, n);
            _start += n;
        }
        return result.ToArray();
    }

    /// <summary>Reads one response. <paramref name="head"/>: the request was HEAD (no body follows).</summary>
    public async Task<RawResponse> ReadResponseAsync(bool head = false, TimeSpan? timeout = null)
    {
        var t = timeout ?? DefaultTimeout;
        var statusLine = await ReadLineAsync(t) ?? throw new IOException("The server closed the connection before a response.");
        var parts = statusLine.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal))
            throw new IOException($"Not a status line: '{statusLine}'");
        var status = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = await ReadFieldsAsync(t);
        var response = new RawResponse(status, statusLine, headers, [], []);
        if (head || status is < 200 or 204 or 304)
            return response;
        var te = response.Header("Transfer-Encoding");
        var cl = response.Header("Content-Length");
        if (te is not null && te.EndsWith("chunked", StringComparison.OrdinalIgnoreCase))
        {
            var body = new MemoryStream();
            while (true)
            {
                var sizeLine = await ReadLineAsync(t) ?? throw new IOException("Closed inside a chunked body.");
                var size = Convert.ToInt64(sizeLine.Split(';')[0].Trim(), 16);
                if (size == 0)
                    break;
                body.Write(await ReadExactAsync(size, t));
                var crlf = await ReadLineAsync(t);
                if (crlf != "")
                    throw new IOException("Chunk data not followed by CRLF.");
            }
            var trailers = await ReadFieldsAsync(t);
            return response with { Body = body.ToArray(), Trailers = trailers };
        }
        if (cl is not null)
            return response with { Body = await ReadExactAsync(long.Parse(cl, System.Globalization.CultureInfo.InvariantCulture), t) };
        // Close-delimited.
        var rest = new MemoryStream();
        while (true)
        {
            if (_start == _end && !await FillAsync(t))
                break;
            rest.Write(_buffer, _start, _end - _start);
            _start = _end;
        }
        return response with { Body = rest.ToArray() };
    }

    private async Task<List<KeyValuePair<string, string>>> ReadFieldsAsync(TimeSpan t)
    {
        var fields = new List<KeyValuePair<string, string>>();
        while (true)
        {
            var line = await ReadLineAsync(t) ?? throw new IOException("Closed inside a header section.");
            if (line.Length == 0)
                return fields;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            fields.Add(new(line[..colon], line[(colon + 1)..].Trim()));
        }
    }

    /// <summary>True when the server closes the connection (FIN or reset) within the timeout with no more data.</summary>
    public async Task<bool> IsClosedByServerAsync(TimeSpan? timeout = null)
    {
        if (_start != _end)
            return false;
        try
        {
            return !await FillAsync(timeout ?? DefaultTimeout);
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// The bytes already buffered after what was parsed, or else the next bytes received; empty when the server
    /// closed the connection. For protocols that follow HTTP on the connection (WebSocket frames after a 101).
    /// </summary>
    public async Task<byte[]> ReadAvailableAsync(TimeSpan? timeout = null)
    {
        if (_start == _end && !await FillAsync(timeout ?? DefaultTimeout))
            return [];
        var bytes = _buffer.AsSpan(_start, _end - _start).ToArray();
        _start = _end;
        return bytes;
    }

    /// <summary>Reads until the server closes, returning everything (bounded by the timeout per read).</summary>
    public async Task<byte[]> ReadToEndAsync(TimeSpan? timeout = null)
    {
        var all = new MemoryStream();
        while (true)
        {
            if (_start == _end && !await FillAsync(timeout ?? DefaultTimeout))
                return all.ToArray();
            all.Write(_buffer, _start, _end - _start);
            _start = _end;
        }
    }

    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
