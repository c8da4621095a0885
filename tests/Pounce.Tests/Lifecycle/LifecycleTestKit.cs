using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;
using Pounce.Logging;

namespace Pounce.Tests.Lifecycle;

/// <summary>Builds connection/request records and emitters for tests, and records what they emit.</summary>
internal static class LifecycleTestKit
{
    private static long s_nextConnectionId;

    public static ServerConfig Config(LogLevel level = LogLevel.Debug, bool lifecycle = true, string? healthCheckPath = null,
        double slowSeconds = 5, bool accessLog = false, LogFormat format = LogFormat.Json) => new()
    {
        LifecycleLogging = lifecycle,
        LogLevel = level,
        HealthCheckPath = healthCheckPath,
        LogSlowRequestsThreshold = slowSeconds,
        AccessLog = accessLog,
        LogFormat = format,
    };

    public static ConnectionInfo Connection(long id = 0, int worker = 1, ConnectionProtocol protocol = ConnectionProtocol.H1)
    {
        if (id == 0)
            id = Interlocked.Increment(ref s_nextConnectionId) + 1000;
        return new ConnectionInfo(id, worker, new IPEndPoint(IPAddress.Parse("203.0.113.7"), 50123), new IPEndPoint(IPAddress.Loopback, 8000))
        {
            Protocol = protocol,
        };
    }

    /// <summary>A request whose duration is exactly <paramref name="durationMs"/> (Stopwatch ticks are exact on Linux).</summary>
    public static RequestInfo Request(ConnectionInfo c, int sequence = 1, string method = "GET", string path = "/items",
        double durationMs = 2, int status = 200, long bytes = 123, int streamId = 0)
    {
        var r = new RequestInfo();
        r.Reset(c.ConnectionId, sequence, streamId);
        r.Method = method;
        r.Path = path;
        r.Version = streamId != 0 ? HttpVersionKind.Http2 : HttpVersionKind.Http11;
        r.UserAgent = "curl/8.5.0";
        r.StartTimestamp = 1_000_000;
        r.EndTimestamp = r.StartTimestamp + (long)Math.Round(durationMs * Stopwatch.Frequency / 1000.0);
        r.Status = status;
        r.BytesSent = bytes;
        r.ResponseStarted = true;
        return r;
    }

    /// <summary>Drives one whole request on a connection: started, completed (counting it on the connection).</summary>
    public static void Serve(LifecycleEmitter emitter, ConnectionInfo c, RequestInfo r)
    {
        emitter.RequestStarted(c, r);
        lock (c)
        {
            c.RequestsServed++;
            c.TotalBytesSent += r.BytesSent;
        }
        emitter.ResponseCompleted(c, r);
    }

    public static string[] Keys(JsonElement e) => e.EnumerateObject().Select(p => p.Name).ToArray();

    public static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>A fixed instant for formatter tests, with sub-millisecond ticks (12 Feb 2026, 10:15:30.1234560 UTC).</summary>
    public static readonly DateTime FormatterTime = new DateTime(2026, 2, 12, 10, 15, 30, DateTimeKind.Utc).AddTicks(1234560);

    public static string[] Lines(byte[] output)
    {
        var text = Encoding.UTF8.GetString(output);
        Assert.True(text.Length == 0 || text.EndsWith('\n'), "output must end with a newline");
        return text.Length == 0 ? [] : text[..^1].Split('\n');
    }

    public static JsonElement[] ParseLines(byte[] output) =>
        Lines(output).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();

    public static readonly string[] OpenedKeys =
        ["event", "connection_id", "worker_id", "timestamp", "level", "client_addr", "client_port", "server_addr", "server_port", "protocol", "tls"];
    public static readonly string[] StartedKeys =
        ["event", "connection_id", "worker_id", "timestamp", "level", "method", "path", "http_version", "request_id"];
    public static readonly string[] ResponseKeys =
        ["event", "connection_id", "worker_id", "timestamp", "level", "status", "bytes_sent", "duration_ms", "method", "path", "request_id"];
    public static readonly string[] DisconnectedKeys =
        ["event", "connection_id", "worker_id", "timestamp", "level", "during_streaming", "client_addr", "request_id", "method", "path", "bytes_sent"];
    public static readonly string[] UpgradedKeys =
        ["event", "connection_id", "worker_id", "timestamp", "level", "protocol", "request_id"];
    public static readonly string[] CompletedKeys =
        ["event", "connection_id", "worker_id", "timestamp", "level", "requests_served", "total_bytes_sent", "duration_ms", "reason", "detail", "protocol", "client_addr"];
}

/// <summary>Keeps a snapshot of every event it receives.</summary>
internal sealed class RecordingObserver : ILifecycleObserver
{
    private readonly ConcurrentQueue<Recorded> _events = new();

    public void OnEvent(in LifecycleEvent e) => _events.Enqueue(new Recorded(e.Kind, e.Level, e.Slow, e.GetFields()));

    public IReadOnlyList<Recorded> Events => _events.ToArray();

    public IReadOnlyList<LifecycleEventKind> Kinds => _events.Select(e => e.Kind).ToArray();
}

internal sealed record Recorded(LifecycleEventKind Kind, LogLevel Level, bool Slow, IReadOnlyList<KeyValuePair<string, object?>> Fields)
{
    public object? this[string key] => Fields.FirstOrDefault(f => f.Key == key).Value;

    public bool Has(string key) => Fields.Any(f => f.Key == key);

    public string[] Keys => Fields.Select(f => f.Key).ToArray();
}

/// <summary>A stream that blocks every write until <see cref="Open"/> is set, and says when the first write arrived.</summary>
internal sealed class GatedStream : Stream
{
    private readonly MemoryStream _inner = new();

    public TaskCompletionSource FirstWrite { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ManualResetEventSlim Open { get; } = new(false);

    public byte[] Written
    {
        get
        {
            lock (_inner)
                return _inner.ToArray();
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        FirstWrite.TrySetResult();
        if (!Open.Wait(TimeSpan.FromSeconds(30)))
            throw new IOException("test gate never opened");
        lock (_inner)
            _inner.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush()
    {
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>A thread-safe MemoryStream for writer output.</summary>
internal sealed class SinkStream : Stream
{
    private readonly MemoryStream _inner = new();

    public byte[] Written
    {
        get
        {
            lock (_inner)
                return _inner.ToArray();
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_inner)
            _inner.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush()
    {
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
