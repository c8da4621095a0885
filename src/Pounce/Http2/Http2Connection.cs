using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Http1;

namespace Pounce.Http2;

/// <summary>
/// HTTP/2 over one connection (RFC 9113), over any duplex pipe: the read loop and frame dispatch, the SETTINGS
/// exchange and the stream state machine. Its concerns each have their own type: the stream table
/// (<see cref="Http2StreamTable{TStream}"/>), flow-control windows (<see cref="Http2FlowWindow"/>), the output side
/// (<see cref="Http2Output"/>, <see cref="Http2ResponseEncoder"/>) and flood accounting (<see cref="Http2FloodGuard"/>).
/// Each request stream runs the application through an <see cref="Http2Stream"/>. Reports facts, never log lines.
/// This file: construction, the read loop and the connection's end; <c>Http2Connection.Frames.cs</c>: dispatch of each
/// frame type; <c>Http2Connection.Streams.cs</c>: what streams call; <c>Http2Connection.Upgrade.cs</c>: h2c Upgrade.
/// </summary>
internal sealed partial class Http2Connection
{
    /// <summary>The client connection preface (RFC 9113 3.4).</summary>
    public static ReadOnlySpan<byte> ClientPreface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private readonly Connection _connection;
    private readonly ServerContext _server;
    private readonly ServerConfig _config;
    private readonly PipeReader _input;
    private readonly Http2Output _writer;
    private readonly ArrayBufferWriter<byte> _control;
    private long _deferredWindowGrowth; // read loop only: see GrowStreamWindows
    private readonly Lock _sync = new();
    private readonly Http2StreamTable<Http2Stream> _table;
    private readonly Http2FloodGuard _flood;
    private readonly HpackDecoder _decoder;
    private readonly Http2Settings _peerSettings = new();
    private readonly Http2RequestHeaders _headerHandler = new();
    private readonly long _connectionReceiveTarget;
    private readonly H2cUpgradeRequest? _upgrade;
    private readonly Http2BufferPool _buffers;
    private readonly List<Http2Stream> _startedStreams = new(); // read loop: started in the input in hand, not yet running

    // Read-loop state.
    private bool _settingsReceived;
    private volatile bool _ourSettingsAcknowledged;
    private long _settingsSentAt;
    private int _receiveInitialWindow = Http2FlowWindow.ProtocolInitialSize;
    private int _lastClientStreamId;
    private int _sequence;
    private int _headerBlockStreamId;
    private Http2Stream? _headerBlockStream;
    private HeaderBlockKind _headerBlockKind;
    private bool _headerBlockEndStream;
    private Http2ErrorCode _headerBlockStreamError;
    private bool _goAwayReceived;
    private bool _draining;
    private ConnectionEnd _drainFact = ConnectionEnd.ShutdownDrained;

    // Shared state (under _sync).
    private Http2FlowWindow _sendWindow = new(Http2FlowWindow.ProtocolInitialSize);
    private Http2FlowWindow _receiveWindow = new(Http2FlowWindow.ProtocolInitialSize);
    private Http2WindowCredit _receiveCredit;
    private int _peerInitialWindow = Http2FlowWindow.ProtocolInitialSize;
    private int _readLoopBusy = 1;
    private int _goAwaySent;
    private int _runningStreams;
    private TaskCompletionSource? _streamsDone;
    private ConnectionEnd _failure;
    private Http2ErrorCode _failureCode;

    private enum HeaderBlockKind : byte { Request, Trailers, Discard, LateTrailers }

    /// <summary>A connection that follows an HTTP/1.1 <c>Upgrade: h2c</c> request (its stream 1).</summary>
    public Http2Connection(Connection connection, IDuplexPipe transport, H2cUpgradeRequest? upgrade = null)
        : this(connection, transport)
    {
        _upgrade = upgrade;
    }

    /// <summary>A connection that starts with the client preface (prior knowledge, or ALPN <c>h2</c>).</summary>
    public Http2Connection(Connection connection, IDuplexPipe transport)
    {
        _connection = connection;
        _server = connection.Server;
        _config = connection.Config;
        _input = transport.Input;
        // With the connection's own pipes, a flush commits under the output lock and sends after it (SendScheduler).
        var sendScheduler = ReferenceEquals(transport, connection.Pipes) ? connection.OutputScheduler : null;
        _writer = new Http2Output(transport.Output, sendScheduler, _config.ServerHeader, _config.DateHeader ? _server.Heartbeat : null);
        _control = _writer.Control;
        _table = new Http2StreamTable<Http2Stream>(_config.Http2MaxConcurrentStreams);
        // Two blocks per stream in flight (a request-body segment and a response buffer), a few more for bursts.
        _buffers = new Http2BufferPool(maxRetained: 2 * _config.Http2MaxConcurrentStreams + 8);
        BodyPipeOptions = new PipeOptions(
            pool: _buffers,
            pauseWriterThreshold: 0,
            resumeWriterThreshold: 0,
            readerScheduler: PipeScheduler.ThreadPool,
            writerScheduler: PipeScheduler.Inline,
            useSynchronizationContext: false);
        _flood = new Http2FloodGuard(_config.Http2MaxConcurrentStreams, _config.Http2MaxHeaderListSize, _config.Http2MaxFrameSize);
        _decoder = new HpackDecoder(HpackDecoder.DefaultHeaderTableSize, _config.Http2MaxHeaderListSize);
        _connectionReceiveTarget = Math.Max(Http2FlowWindow.ProtocolInitialSize, Math.Min(int.MaxValue, 2L * _config.Http2InitialWindowSize));
        _headerHandler.ExtendedConnect = _config.Http2ExtendedConnect;
    }

    /// <summary>The options of the streams' request-body pipes (no pause threshold: the stream window bounds a body; blocks from the connection's pool).</summary>
    public PipeOptions BodyPipeOptions { get; }

    /// <summary>The connection's pool of blocks for request bodies and response buffers.</summary>
    public Http2BufferPool Buffers => _buffers;

    /// <summary>The connection's record (counters, close fact).</summary>
    public ConnectionInfo Info => _connection.Info;

    /// <summary>The server is stopping.</summary>
    public bool ShutdownRequested => _connection.ShutdownRequested;

    /// <summary>The connection is failing or gone: streams stop sending.</summary>
    public bool IsClosed => _writer.IsClosed;

    /// <summary>
    /// Whether <paramref name="buffer"/> starts with the client preface: <see cref="ConnectionProtocol.H2"/> when it
    /// does, <see cref="ConnectionProtocol.H1"/> when it cannot, <see cref="ConnectionProtocol.Unknown"/> while
    /// the bytes so far are a prefix of it.
    /// </summary>
    public static ConnectionProtocol Sniff(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[24];
        var n = (int)Math.Min(buffer.Length, 24);
        buffer.Slice(0, n).CopyTo(head);
        if (!head[..n].SequenceEqual(ClientPreface[..n]))
            return ConnectionProtocol.H1;
        return n == 24 ? ConnectionProtocol.H2 : ConnectionProtocol.Unknown;
    }

    // =====================================================================================
    // The read loop
    // =====================================================================================

    /// <summary>Serves the connection until it should close; the close fact is on the connection.</summary>
    public async Task ProcessAsync()
    {
        using var registration = _connection.Transport.ConnectionClosed.UnsafeRegister(
            static s => ((Http2Connection)s!).OnTransportClosed(), this);
        _connection.OnShutdownRequested(OnShutdownRequested);
        _connection.OnHeartbeatTick(OnHeartbeat);
        if (_connection.ShutdownRequested)
            _input.CancelPendingRead();
        try
        {
            if (_upgrade is not null)
            {
                _connection.SetHeaderDeadline(); // after the 101 the client preface must come within HeaderTimeout
                ReportUpgrade(_upgrade);
            }
            if (!await ReadPrefaceAsync())
                return;
            WriteInitialSettings();
            if (Info.TlsFeatures is { } tls && Tls.Http2CipherRules.IsProhibited(tls.Protocol, tls.NegotiatedCipherSuite))
            {
                // RFC 9113 9.2.2 and Appendix A: our SETTINGS (the server preface comes first), then the connection error.
                await _writer.FlushControlAsync();
                await FailAsync(ConnectionEnd.Http2InadequateSecurity, Http2ErrorCode.InadequateSecurity, $"TLS 1.2 cipher suite {tls.NegotiatedCipherSuite} is prohibited for HTTP/2");
                return;
            }
            if (_upgrade is not null)
            {
                // Our SETTINGS go out before stream 1's application starts: the server preface is the first frame
                // (RFC 9113 3.4), and an application that answers at once would otherwise put its HEADERS first.
                await _writer.FlushControlAsync();
                StartUpgradedStream(_upgrade);
            }
            await _writer.FlushControlAsync();
            Volatile.Write(ref _settingsSentAt, Environment.TickCount64);
            EnterIdleIfNoStreams();
            await ReadFramesAsync();
        }
        catch (Http2ProtocolException ex) when (ex.IsConnectionError)
        {
            await FailAsync(_flood.Fact != ConnectionEnd.None ? _flood.Fact : FactFor(ex.ErrorCode), ex.ErrorCode, ex.Message);
        }
        catch (HpackDecodingException ex)
        {
            await FailAsync(ex.HeaderListTooLarge ? ConnectionEnd.HpackBomb : ConnectionEnd.Http2CompressionError, Http2ErrorCode.CompressionError, ex.Message);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException && _connection.Transport.PeerClose != Transport.PeerClose.None)
        {
            Info.ReportEnd(_connection.Transport.PeerClose == Transport.PeerClose.Fin ? ConnectionEnd.ClientClosedInFlight : ConnectionEnd.PeerReset);
        }
        finally
        {
            lock (_sync)
            {
                // From now on streams that end early write their RST_STREAM(NO_ERROR) themselves.
                Volatile.Write(ref _readLoopBusy, 0);
                TakeEarlyResetsLocked(IsClosed ? null : _control);
            }
            _connection.LeaveIdle();
            _connection.ClearIdleDeadline();
            await EndStreamsAsync();
        }
    }

    /// <summary>Read loop: queues RST_STREAM(NO_ERROR) of early responses with the control frames; true when there were any.</summary>
    private bool TakeEarlyResets()
    {
        if (!_table.HasEarlyResets)
            return false;
        lock (_sync)
        {
            if (!_table.HasEarlyResets || IsClosed)
                return false;
            TakeEarlyResetsLocked(_control);
            return true;
        }
    }

    /// <summary>Server stop: the read loop sends GOAWAY and drains; extended CONNECT tunnels get Close 1001.</summary>
    private void OnShutdownRequested()
    {
        _input.CancelPendingRead();
        Http2Stream[] streams;
        lock (_sync)
            streams = [.. _table.Streams];
        foreach (var stream in streams)
            stream.OnServerShutdown();
    }

    private async ValueTask<bool> ReadPrefaceAsync()
    {
        while (true)
        {
            var result = await _input.ReadAsync();
            var buffer = result.Buffer;
            var preface = buffer.IsEmpty ? ConnectionProtocol.Unknown : Sniff(buffer);
            if (preface == ConnectionProtocol.H1)
            {
                // Only its first bytes were checked before (none on an HTTP/2-only endpoint or after a 101): a byte
                // that differs from the preface ends the connection at once.
                _input.AdvanceTo(buffer.Start, buffer.End);
                throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError,
                    _upgrade is not null ? "The client preface did not follow the 101 (Upgrade: h2c)." : "Invalid HTTP/2 client preface.");
            }
            if (preface == ConnectionProtocol.H2)
            {
                _input.AdvanceTo(buffer.GetPosition(ClientPreface.Length));
                return true;
            }
            _input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                Info.ReportEnd(ConnectionEnd.ClientClosedIdle);
                return false;
            }
        }
    }

    private void WriteInitialSettings()
    {
        Span<Http2Setting> settings =
        [
            new(Http2SettingId.MaxConcurrentStreams, (uint)_config.Http2MaxConcurrentStreams),
            new(Http2SettingId.InitialWindowSize, (uint)_config.Http2InitialWindowSize),
            new(Http2SettingId.MaxFrameSize, (uint)_config.Http2MaxFrameSize),
            new(Http2SettingId.MaxHeaderListSize, (uint)_config.Http2MaxHeaderListSize),
            new(Http2SettingId.EnableConnectProtocol, 1), // RFC 8441; last, so it can be left out
        ];
        Http2FrameWriter.WriteSettings(_control, _config.Http2ExtendedConnect ? settings : settings[..^1]);
        if (_connectionReceiveTarget > Http2FlowWindow.ProtocolInitialSize)
        {
            Http2FrameWriter.WriteWindowUpdate(_control, 0, (int)(_connectionReceiveTarget - Http2FlowWindow.ProtocolInitialSize));
            _receiveWindow = new Http2FlowWindow(_connectionReceiveTarget);
        }
    }

    private async Task ReadFramesAsync()
    {
        while (true)
        {
            if (!_input.TryRead(out var result))
            {
                // About to wait: early responses' RST_STREAM(NO_ERROR) go out after everything read so far was checked;
                // from now until input comes, a stream that ends early writes its own (no lock taken per read here:
                // the flag is volatile, and the queue is emptied under the lock by whichever side comes first).
                // Both sides write then read with a full fence between (Interlocked), so one of them sees the other.
                Interlocked.Exchange(ref _readLoopBusy, 0);
                TakeEarlyResets();
                await _writer.FlushControlAsync();
                result = await _input.ReadAsync();
                Volatile.Write(ref _readLoopBusy, 1);
            }
            var buffer = result.Buffer;
            if (result.IsCanceled && await OnReadCanceledAsync())
            {
                _input.AdvanceTo(buffer.Start);
                return;
            }
            try
            {
                while (Http2FrameReader.TryReadFrame(ref buffer, _config.Http2MaxFrameSize, out var frame))
                {
                    ProcessFrame(frame);
                    if (_deferredWindowGrowth != 0)
                    {
                        await _writer.FlushControlAsync(); // the SETTINGS ACK goes into the output first
                        GrowStreamWindows();
                    }
                    if (_control.WrittenCount > 16 * 1024)
                    {
                        RunStartedStreams();
                        await _writer.FlushControlAsync();
                    }
                    if (IsClosed)
                        break;
                }
            }
            finally
            {
                _input.AdvanceTo(buffer.Start, buffer.End);
                RunStartedStreams();
            }
            if (TakeEarlyResets())
            {
                // Streams answered while this input was processed: their RST_STREAM(NO_ERROR) goes now, not when the
                // client pauses (a client uploading without a pause would otherwise send the whole body).
                await _writer.FlushControlAsync();
            }
            if (IsClosed)
            {
                ReportPeerClosed();
                return;
            }
            if ((_goAwayReceived || _draining) && StreamCount == 0)
            {
                Info.ReportEnd(_goAwayReceived ? ConnectionEnd.GoAwayReceived : _drainFact);
                await SendGoAwayAsync(Http2ErrorCode.NoError);
                return;
            }
            if (result.IsCompleted)
            {
                ReportPeerClosed();
                return;
            }
        }
    }

    /// <summary>
    /// The client closed the transport (EOF, reset, or the transport closed while the read loop was elsewhere): the
    /// fact for the connection's end, unless one was reported before (a connection error closes it too). A response
    /// whose END_STREAM went out is not in flight even while its stream finishes its bookkeeping, so a client that
    /// closes right after the last response of a drain (our GOAWAY on shutdown) ends the drain.
    /// </summary>
    private void ReportPeerClosed()
    {
        var peer = _connection.Transport.PeerClose;
        if (peer is not (Transport.PeerClose.Fin or Transport.PeerClose.Reset))
            return; // not the client's doing (yet): the reader of the transport says later, or the connection itself
        if (peer == Transport.PeerClose.Reset)
            Info.ReportEnd(ConnectionEnd.PeerReset);
        else if (HasResponsesInFlight)
            Info.ReportEnd(ConnectionEnd.ClientClosedInFlight);
        else if (_goAwayReceived || _draining)
            Info.ReportEnd(_goAwayReceived ? ConnectionEnd.GoAwayReceived : _drainFact);
        else
            Info.ReportEnd(ConnectionEnd.ClientClosedIdle);
    }

    /// <summary>A read was cancelled: idle timeout, shutdown, a drain that finished, or a failure elsewhere. True to stop.</summary>
    private async ValueTask<bool> OnReadCanceledAsync()
    {
        if (IsClosed)
        {
            ReportPeerClosed();
            return true;
        }
        if (_connection.ShutdownRequested && !_draining)
        {
            // Graceful: tell the client the last stream we will process, then finish those.
            _draining = true;
            await SendGoAwayAsync(Http2ErrorCode.NoError);
            if (StreamCount == 0)
            {
                // An idle connection already has ShutdownIdle (Connection.RequestShutdown); otherwise the last
                // stream finished just now.
                Info.ReportEnd(ConnectionEnd.ShutdownDrained);
                return true;
            }
            return false;
        }
        if ((_goAwayReceived || _draining) && StreamCount == 0)
        {
            Info.ReportEnd(_goAwayReceived ? ConnectionEnd.GoAwayReceived : _drainFact);
            await SendGoAwayAsync(Http2ErrorCode.NoError);
            return true;
        }
        if (Info.End != ConnectionEnd.None && !_goAwayReceived && !_draining)
        {
            // The idle deadline fired (or the connection is being torn down).
            await SendGoAwayAsync(Http2ErrorCode.NoError);
            return true;
        }
        return false;
    }

    private void OnTransportClosed()
    {
        _writer.MarkClosed();
        lock (_sync)
        {
            foreach (var stream in _table.Streams)
            {
                stream.MarkReset(byPeer: true);
                stream.WakeWindowWaiter();
            }
        }
    }

    private void OnHeartbeat(long now)
    {
        // RFC 9113 6.5.3: our SETTINGS unacknowledged past HeaderTimeout: SETTINGS_TIMEOUT.
        var sentAt = Volatile.Read(ref _settingsSentAt);
        if (!_ourSettingsAcknowledged && sentAt != 0 && now - sentAt >= (long)_config.HeaderTimeout.TotalMilliseconds)
            FailFromOutside(ConnectionEnd.Http2SettingsTimeout, Http2ErrorCode.SettingsTimeout);
        lock (_sync)
        {
            foreach (var stream in _table.Streams)
                stream.CheckBodyDeadline(now);
            if (_table.PooledCount > 0)
                _table.ExpirePool(now);
        }
        _buffers.Trim(now, Http2StreamTable<Http2Stream>.PoolExpiryMs);
    }

    /// <summary>Whether a stream still owes its client the end of its response.</summary>
    private bool HasResponsesInFlight
    {
        get
        {
            lock (_sync)
            {
                foreach (var stream in _table.Streams)
                {
                    if (!stream.EndStreamSent)
                        return true;
                }
                return false;
            }
        }
    }

    // =====================================================================================
    // Connection end
    // =====================================================================================

    /// <summary>A connection error: GOAWAY with <paramref name="code"/>, then the close.</summary>
    private async ValueTask FailAsync(ConnectionEnd fact, Http2ErrorCode code, string message)
    {
        Info.ReportEnd(fact);
        _server.Logger.LogDebug("HTTP/2 connection {connection_id} error {code}: {message_text}", Info.ConnectionId, code, message);
        _control.ResetWrittenCount();
        await SendGoAwayAsync(code);
        _writer.MarkClosed();
    }

    /// <summary>Any thread (not the read loop): ends the connection with GOAWAY <paramref name="code"/>.</summary>
    private void FailFromOutside(ConnectionEnd fact, Http2ErrorCode code)
    {
        lock (_sync)
        {
            if (_failure != ConnectionEnd.None)
                return;
            _failure = fact;
            _failureCode = code;
        }
        Info.ReportEnd(fact);
        _ = FailFromStreamAsync();
    }

    private async Task FailFromStreamAsync()
    {
        try
        {
            await SendGoAwayAsync(_failureCode);
        }
        catch (Exception)
        {
            // The connection is going anyway.
        }
        _writer.MarkClosed();
        _input.CancelPendingRead();
    }

    private async ValueTask SendGoAwayAsync(Http2ErrorCode code)
    {
        if (Interlocked.Exchange(ref _goAwaySent, 1) != 0)
            return;
        var last = _lastClientStreamId;
        await _writer.WriteFrameAsync((last, code), static (output, s) => Http2FrameWriter.WriteGoAway(output, s.last, s.code));
    }

    /// <summary>After the read loop: fails what is still running and waits for every stream to finish.</summary>
    private async ValueTask EndStreamsAsync()
    {
        Http2Stream[] remaining;
        lock (_sync)
            remaining = [.. _table.Streams];
        if (remaining.Length > 0 && (IsClosed || Info.End is not (ConnectionEnd.GoAwayReceived or ConnectionEnd.ShutdownDrained or ConnectionEnd.MaxRequestsReached)))
        {
            _writer.MarkClosed();
            foreach (var stream in remaining)
            {
                lock (_sync)
                {
                    stream.MarkReset(byPeer: true);
                    stream.WakeWindowWaiter();
                }
                if (!stream.RequestEnded)
                    stream.FailBody(new IOException("The HTTP/2 connection closed."));
            }
        }
        // Every stream's work item, including the bookkeeping after its response (the stream failures are logged there).
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _streamsDone, done);
        if (Volatile.Read(ref _runningStreams) == 0)
            done.TrySetResult();
        await done.Task;
        _writer.MarkClosed();
        lock (_sync)
            _table.ClearPool();
        await _writer.FinishAsync();
    }

    private void EnterIdleIfNoStreams()
    {
        bool stopping;
        lock (_sync)
        {
            stopping = _table.Count == 0 && !_draining && !_goAwayReceived
                && !_connection.EnterIdle(_config.KeepAliveTimeout, ConnectionEnd.KeepAliveTimeout);
        }
        // Outside the lock: the read loop's continuation runs inline (and takes the output lock, which comes first).
        if (stopping)
            _input.CancelPendingRead(); // stopping: the read loop sends GOAWAY and closes
    }

}
