using System.Diagnostics;
using System.Net;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;
using Pounce.Logging;

namespace Pounce.Benchmarks;

/// <summary>
/// Lifecycle-logging lines: one event of each kind serialized by <see cref="JsonLineFormatter"/> and
/// <see cref="TextLineFormatter"/> into a reused <see cref="LineBuffer"/> (cleared first), the access-log line,
/// and the whole emitter path (<see cref="LifecycleEmitter.ResponseCompleted"/>: level checks, the event built,
/// serialized on the calling thread and queued to a <see cref="LogLineWriter"/> whose thread writes to
/// <see cref="Stream.Null"/>). Target from the load-test README: one JSON event under 0.5 µs, 0 B allocated.
/// </summary>
public class LifecycleSerializationBenchmarks
{
    private static readonly DateTime Timestamp = new(2026, 11, 25, 3, 0, 0, 123, DateTimeKind.Utc);

    private readonly LineBuffer _buffer = new();
    private readonly byte[] _record = new byte[1024];
    private readonly byte[] _line = new byte[2048];
    private byte[] _recorded = [];
    private ConnectionInfo _connection = null!;
    private RequestInfo _request = null!;
    private LifecycleEvent _opened;
    private LifecycleEvent _started;
    private LifecycleEvent _completed;
    private LifecycleEvent _disconnected;
    private LifecycleEvent _upgraded;
    private LifecycleEvent _connectionCompleted;

    private LogLineWriter _jsonWriter = null!;
    private LogLineWriter _textWriter = null!;
    private LifecycleEmitter _jsonEmitter = null!;
    private LifecycleEmitter _textEmitter = null!;
    private LifecycleEmitter _jsonAccessEmitter = null!;
    private LifecycleEmitter _gatedOffEmitter = null!;

    [GlobalSetup]
    public void Setup()
    {
        // As the transport and the HTTP/1.1 loop fill them in (same shape as the tests' LifecycleTestKit).
        _connection = new ConnectionInfo(1_048_577, 1, new IPEndPoint(IPAddress.Parse("203.0.113.7"), 50123), new IPEndPoint(IPAddress.Loopback, 8000))
        {
            Protocol = ConnectionProtocol.H1,
            RequestsServed = 42,
            TotalBytesSent = 5_166,
        };
        _connection.ReportEnd(ConnectionEnd.ClientClosedIdle);
        _request = new RequestInfo();
        _request.Reset(_connection.ConnectionId, 42, 0);
        _request.Method = "GET";
        _request.Path = "/api/items/12345";
        _request.Version = HttpVersionKind.Http11;
        _request.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        _request.StartTimestamp = 1_000_000;
        _request.EndTimestamp = _request.StartTimestamp + Stopwatch.Frequency * 2 / 1000; // 2 ms
        _request.Status = 200;
        _request.BytesSent = 123;
        _request.ResponseStarted = true;

        _opened = new LifecycleEvent(LifecycleEventKind.ConnectionOpened, LogLevel.Debug, Timestamp, _connection, null);
        _started = new LifecycleEvent(LifecycleEventKind.RequestStarted, LogLevel.Debug, Timestamp, _connection, _request);
        _completed = new LifecycleEvent(LifecycleEventKind.ResponseCompleted, LogLevel.Debug, Timestamp, _connection, _request, _request.DurationMs);
        _disconnected = new LifecycleEvent(LifecycleEventKind.ClientDisconnected, LogLevel.Warning, Timestamp, _connection, _request, _request.DurationMs);
        _upgraded = new LifecycleEvent(LifecycleEventKind.ConnectionUpgraded, LogLevel.Debug, Timestamp, _connection, _request);
        _connectionCompleted = new LifecycleEvent(LifecycleEventKind.ConnectionCompleted, LogLevel.Debug, Timestamp, _connection, null, 1234.567);

        _jsonWriter = new LogLineWriter(Stream.Null, LogFormat.Json, capacity: 65_536, ownsStream: false);
        _textWriter = new LogLineWriter(Stream.Null, LogFormat.Text, capacity: 65_536, ownsStream: false);
        _jsonEmitter = new LifecycleEmitter(Config(LogLevel.Debug, accessLog: false, LogFormat.Json), _jsonWriter);
        _textEmitter = new LifecycleEmitter(Config(LogLevel.Debug, accessLog: false, LogFormat.Text), _textWriter);
        _jsonAccessEmitter = new LifecycleEmitter(Config(LogLevel.Debug, accessLog: true, LogFormat.Json), _jsonWriter);
        _gatedOffEmitter = new LifecycleEmitter(Config(LogLevel.Information, accessLog: false, LogFormat.Json), _jsonWriter);

        // The first event on a connection also emits its ConnectionOpened; do that here so every measured
        // call is one ResponseCompleted line.
        _jsonEmitter.ResponseCompleted(_connection, _request);

        // The line formatted from its record is the line formatted at once.
        TextAccessRecord();
        _recorded = _record.AsSpan(0, TextAccessLine.RecordLength(_connection, _request)).ToArray();
        var fromRecord = _line.AsSpan(0, TextAccessFromRecord());
        TextAccess();
        if (!fromRecord.SequenceEqual(_buffer.WrittenSpan))
            throw new InvalidOperationException("The line formatted from its record differs from the line formatted at once");

        // Every formatter call must produce a complete line.
        foreach (var length in new[] { JsonConnectionOpened(), JsonRequestStarted(), JsonResponseCompleted(), JsonClientDisconnected(),
                     JsonConnectionUpgraded(), JsonConnectionCompleted(), JsonAccess(), TextConnectionOpened(), TextRequestStarted(),
                     TextResponseCompleted(), TextClientDisconnected(), TextConnectionUpgraded(), TextConnectionCompleted(), TextAccess() })
        {
            if (length < 40 || _buffer.WrittenSpan[^1] != (byte)'\n')
                throw new InvalidOperationException("A formatter wrote an incomplete line");
        }
    }

    private static ServerConfig Config(LogLevel level, bool accessLog, LogFormat format) => new()
    {
        LifecycleLogging = true,
        LogLevel = level,
        AccessLog = accessLog,
        LogFormat = format,
        LogSlowRequestsThreshold = 5,
    };

    [GlobalCleanup]
    public void Cleanup()
    {
        // Lines dropped because the queue was full would make the emitter numbers measure the drop path: say so.
        Console.WriteLine($"// LogLineWriter json: written {_jsonWriter.WrittenLines}, dropped {_jsonWriter.DroppedLines}; " +
            $"text: written {_textWriter.WrittenLines}, dropped {_textWriter.DroppedLines}");
        _jsonWriter.Dispose();
        _textWriter.Dispose();
    }

    // ---- JSON lines (JsonLineFormatter) ----

    [Benchmark]
    public int JsonConnectionOpened()
    {
        _buffer.Clear();
        JsonLineFormatter.Write(_buffer, in _opened);
        return _buffer.Length;
    }

    [Benchmark]
    public int JsonRequestStarted()
    {
        _buffer.Clear();
        JsonLineFormatter.Write(_buffer, in _started);
        return _buffer.Length;
    }

    [Benchmark]
    public int JsonResponseCompleted()
    {
        _buffer.Clear();
        JsonLineFormatter.Write(_buffer, in _completed);
        return _buffer.Length;
    }

    [Benchmark]
    public int JsonClientDisconnected()
    {
        _buffer.Clear();
        JsonLineFormatter.Write(_buffer, in _disconnected);
        return _buffer.Length;
    }

    [Benchmark]
    public int JsonConnectionUpgraded()
    {
        _buffer.Clear();
        JsonLineFormatter.Write(_buffer, in _upgraded);
        return _buffer.Length;
    }

    [Benchmark]
    public int JsonConnectionCompleted()
    {
        _buffer.Clear();
        JsonLineFormatter.Write(_buffer, in _connectionCompleted);
        return _buffer.Length;
    }

    /// <summary>The access-log line of one request, as JSON.</summary>
    [Benchmark]
    public int JsonAccess()
    {
        _buffer.Clear();
        JsonLineFormatter.WriteAccess(_buffer, Timestamp, _connection, _request, 2.0);
        return _buffer.Length;
    }

    // ---- Text lines (TextLineFormatter) ----

    [Benchmark]
    public int TextConnectionOpened()
    {
        _buffer.Clear();
        TextLineFormatter.Write(_buffer, in _opened);
        return _buffer.Length;
    }

    [Benchmark]
    public int TextRequestStarted()
    {
        _buffer.Clear();
        TextLineFormatter.Write(_buffer, in _started);
        return _buffer.Length;
    }

    [Benchmark]
    public int TextResponseCompleted()
    {
        _buffer.Clear();
        TextLineFormatter.Write(_buffer, in _completed);
        return _buffer.Length;
    }

    [Benchmark]
    public int TextClientDisconnected()
    {
        _buffer.Clear();
        TextLineFormatter.Write(_buffer, in _disconnected);
        return _buffer.Length;
    }

    [Benchmark]
    public int TextConnectionUpgraded()
    {
        _buffer.Clear();
        TextLineFormatter.Write(_buffer, in _upgraded);
        return _buffer.Length;
    }

    [Benchmark]
    public int TextConnectionCompleted()
    {
        _buffer.Clear();
        TextLineFormatter.Write(_buffer, in _connectionCompleted);
        return _buffer.Length;
    }

    /// <summary>The access-log line of one request, as text.</summary>
    [Benchmark]
    public int TextAccess()
    {
        _buffer.Clear();
        TextLineFormatter.WriteAccess(_buffer, Timestamp, _connection, _request, 2.0);
        return _buffer.Length;
    }

    /// <summary>The request thread's part of a text access line queued through the writer: the line's record
    /// (its facts copied, its strings narrowed), written into a buffer.</summary>
    [Benchmark]
    public int TextAccessRecord()
    {
        var length = TextAccessLine.RecordLength(_connection, _request);
        return TextAccessLine.WriteRecord(_record, Timestamp, _connection, _request, 2.0, _request.Status, abandoned: false) + length;
    }

    /// <summary>The writer thread's part: the line formatted from its record.</summary>
    [Benchmark]
    public int TextAccessFromRecord() => TextAccessLine.Format(_recorded, _line);

    // ---- The whole emitter path ----

    /// <summary>
    /// One text access line through the writer, as a request thread pays for it: formatted into the thread's line
    /// buffer and queued in its processor's queue (the writer thread writes to <see cref="Stream.Null"/>).
    /// </summary>
    [Benchmark]
    public bool WriteAccessText() => _textWriter.WriteAccess(Timestamp, _connection, _request, 2.0);

    /// <summary>
    /// <see cref="LifecycleEmitter.ResponseCompleted"/> at debug, JSON: level and health-check checks,
    /// <c>DateTime.UtcNow</c>, the event built, serialized into a pooled line buffer and copied into the
    /// writer's queue (its thread writes to <see cref="Stream.Null"/>). The "build + serialize one event" cost.
    /// Returns the writer's running line count (queued + written), which changes every call.
    /// </summary>
    [Benchmark]
    public long EmitResponseCompletedJson()
    {
        _jsonEmitter.ResponseCompleted(_connection, _request);
        return _jsonWriter.WrittenLines + _jsonWriter.QueuedLines;
    }

    /// <summary>Same as <see cref="EmitResponseCompletedJson"/> with the text format.</summary>
    [Benchmark]
    public long EmitResponseCompletedText()
    {
        _textEmitter.ResponseCompleted(_connection, _request);
        return _textWriter.WrittenLines + _textWriter.QueuedLines;
    }

    /// <summary>ResponseCompleted at debug with the access log on: two JSON lines (access + event).</summary>
    [Benchmark]
    public long EmitResponseCompletedJsonWithAccessLog()
    {
        _jsonAccessEmitter.ResponseCompleted(_connection, _request);
        return _jsonWriter.WrittenLines + _jsonWriter.QueuedLines;
    }

    /// <summary>
    /// Level gated off: lifecycle logging on at Information, access log off, a fast response (not slow), so
    /// ResponseCompleted returns before building anything. The cost every request pays with logging "on" at info.
    /// </summary>
    [Benchmark]
    public long EmitResponseCompletedGatedOff()
    {
        _gatedOffEmitter.ResponseCompleted(_connection, _request);
        return _jsonWriter.DroppedLines;
    }
}
