using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Pounce.Connections;
using Pounce.Http1;

namespace Pounce.Http2;

/// <summary>
/// HTTP/2 over one connection (RFC 9113), over any duplex pipe: the SETTINGS exchange, the stream state machine,
/// flow control in both directions, GOAWAY and flood protection. Each request stream runs the application through
/// an <see cref="Http2Stream"/>. Frames are read and dispatched on one loop; responses are written by the streams
/// under one output lock (HPACK state is shared). Reports facts, never log lines.
/// </summary>
internal sealed partial class Http2Connection
{
    /// <summary>The client connection preface (RFC 9113 3.4).</summary>
    public static ReadOnlySpan<byte> ClientPreface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private const int ProtocolInitialWindow = 65_535;
    private const long FloodWindowMs = 10_000;
    private const int SettingsFloodLimit = 100;
    private const int PingFloodLimit = 500;
    private const int EmptyDataFloodLimit = 500;
    private const int MaxContinuationFrames = 64;
    private const int EndedStreamMemory = 512;
    private const int FlushInlineThreshold = 32 * 1024;

    private readonly Connection _connection;
    private readonly ServerContext _server;
    private readonly ServerConfig _config;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly SemaphoreSlim _outputLock = new(1, 1);
    private readonly Lock _sync = new();
    private readonly Dictionary<int, Http2Stream> _streams = new();
    private Dictionary<int, StreamEnd> _endedStreams = new();
    private Dictionary<int, StreamEnd> _endedStreamsBefore = new();
    private readonly HpackDecoder _decoder;
    private readonly HpackEncoder _encoder = new();
    private readonly Http2Settings _peerSettings = new();
    private readonly Http2RequestHeaders _headerHandler = new();
    private readonly ArrayBufferWriter<byte> _control = new(256);
    private readonly ArrayBufferWriter<byte> _headerBlock = new(1024);
    private readonly byte[] _serverHeaderValue;
    private readonly int _rapidResetLimit;
    private readonly long _connectionReceiveTarget;

    // Read-loop state.
    private bool _settingsReceived;
    private volatile bool _ourSettingsAcknowledged;
    private long _settingsSentAt;
    private int _receiveInitialWindow = ProtocolInitialWindow;
    private int _lastClientStreamId;
    private int _sequence;
    private int _headerBlockStreamId;
    private Http2Stream? _headerBlockStream;
    private HeaderBlockKind _headerBlockKind;
    private bool _headerBlockEndStream;
    private Http2ErrorCode _headerBlockStreamError;
    private int _continuations;
    private long _headerBlockBytes;
    private bool _goAwayReceived;
    private bool _draining;
    private ConnectionEnd _drainFact = ConnectionEnd.ShutdownDrained;
    private ConnectionEnd _floodFact;
    private FloodCounter _settingsFlood;
    private FloodCounter _pingFlood;
    private FloodCounter _emptyDataFlood;
    private FloodCounter _resetFlood;

    // Shared state (under _sync).
    private long _connectionSendWindow = ProtocolInitialWindow;
    private long _connectionReceiveWindow = ProtocolInitialWindow;
    private long _connectionReceiveUnacknowledged;
    private int _peerInitialWindow = ProtocolInitialWindow;
    private volatile int _peerMaxFrameSize = Http2FrameReader.DefaultMaxFrameSize;
    private int _pendingPeerTableSize = -1;
    private volatile bool _closed;
    private bool _flushScheduled;
    private bool _outputDone;
    private int _goAwaySent;
    private int _closedToPeerRunning;
    private int _runningStreams;
    private TaskCompletionSource? _streamsDone;
    private Http2Stream?[] _streamPool = [];
    private int _pooledStreams;
    private ConnectionEnd _failure;
    private Http2ErrorCode _failureCode;

    private enum HeaderBlockKind : byte { Request, Trailers, Discard }

    /// <summary>How a stream that is no longer registered ended; a later value overrides an earlier one.</summary>
    private enum StreamEnd : byte
    {
        /// <summary>Unknown: never opened, or forgotten.</summary>
        None,

        /// <summary>Both sides sent END_STREAM: any frame but PRIORITY, WINDOW_UPDATE, RST_STREAM is a connection STREAM_CLOSED.</summary>
        Closed,

        /// <summary>We reset it, refused it or ignored it (after GOAWAY): frames the client sent meanwhile are discarded.</summary>
        ResetByUs,

        /// <summary>The client reset it: anything after that but PRIORITY is a stream STREAM_CLOSED.</summary>
        ResetByClient,
    }

    private readonly H2cUpgradeRequest? _upgrade;

    public Http2Connection(Connection connection, IDuplexPipe transport, H2cUpgradeRequest? upgrade = null)
        : this(connection, transport)
    {
        _upgrade = upgrade;
    }

    public Http2Connection(Connection connection, IDuplexPipe transport)
    {
        _connection = connection;
        _server = connection.Server;
        _config = connection.Config;
        _input = transport.Input;
        _output = transport.Output;
        _decoder = new HpackDecoder(HpackDecoder.DefaultHeaderTableSize, _config.Http2MaxHeaderListSize);
        _serverHeaderValue = Encoding.ASCII.GetBytes(_config.ServerHeader);
        _rapidResetLimit = Math.Max(200, 2 * _config.Http2MaxConcurrentStreams);
        _connectionReceiveTarget = Math.Max(ProtocolInitialWindow, Math.Min(int.MaxValue, 2L * _config.Http2InitialWindowSize));
        _headerHandler.ExtendedConnect = _config.Http2ExtendedConnect;
    }

    /// <summary>The connection's record (counters, close fact).</summary>
    public ConnectionInfo Info => _connection.Info;

    /// <summary>The server is stopping.</summary>
    public bool ShutdownRequested => _connection.ShutdownRequested;

    /// <summary>The connection is failing or gone: streams stop sending.</summary>
    public bool IsClosed => _closed;

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
            if (_upgrade is not null)
                StartUpgradedStream(_upgrade);
            await FlushControlAsync();
            Volatile.Write(ref _settingsSentAt, Environment.TickCount64);
            EnterIdleIfNoStreams();
            await ReadFramesAsync();
        }
        catch (Http2ProtocolException ex) when (ex.IsConnectionError)
        {
            await FailAsync(_floodFact != ConnectionEnd.None ? _floodFact : FactFor(ex.ErrorCode), ex.ErrorCode, ex.Message);
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
            _connection.LeaveIdle();
            _connection.ClearIdleDeadline();
            await EndStreamsAsync();
        }
    }

    /// <summary>Server stop: the read loop sends GOAWAY and drains; extended CONNECT tunnels get Close 1001.</summary>
    private void OnShutdownRequested()
    {
        _input.CancelPendingRead();
        Http2Stream[] streams;
        lock (_sync)
            streams = [.. _streams.Values];
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
        if (_connectionReceiveTarget > ProtocolInitialWindow)
        {
            Http2FrameWriter.WriteWindowUpdate(_control, 0, (int)(_connectionReceiveTarget - ProtocolInitialWindow));
            _connectionReceiveWindow = _connectionReceiveTarget;
        }
    }

    private async Task ReadFramesAsync()
    {
        while (true)
        {
            if (!_input.TryRead(out var result))
            {
                await FlushControlAsync();
                result = await _input.ReadAsync();
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
                    if (_control.WrittenCount > 16 * 1024)
                        await FlushControlAsync();
                    if (_closed)
                        break;
                }
            }
            finally
            {
                _input.AdvanceTo(buffer.Start, buffer.End);
            }
            if (_closed)
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
        if (_closed)
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
        _closed = true;
        lock (_sync)
        {
            foreach (var stream in _streams.Values)
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
            foreach (var stream in _streams.Values)
                stream.CheckBodyDeadline(now);
            if (_pooledStreams > 0)
                ExpirePooledStreamsLocked(now);
        }
    }

    /// <summary>Whether a stream still owes its client the end of its response.</summary>
    private bool HasResponsesInFlight
    {
        get
        {
            lock (_sync)
            {
                foreach (var stream in _streams.Values)
                {
                    if (!stream.EndStreamSent)
                        return true;
                }
                return false;
            }
        }
    }

    private int StreamCount
    {
        get
        {
            lock (_sync)
                return _streams.Count;
        }
    }

    // =====================================================================================
    // Frame dispatch
    // =====================================================================================

    private void ProcessFrame(in Http2Frame frame)
    {
        if (_headerBlockStreamId != 0 && (frame.Type != Http2FrameType.Continuation || frame.StreamId != _headerBlockStreamId))
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "Expected a CONTINUATION frame of the same stream.");
        if (!_settingsReceived && frame.Type != Http2FrameType.Settings)
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "The first frame must be SETTINGS.");
        try
        {
            switch (frame.Type)
            {
                case Http2FrameType.Data:
                    OnData(frame);
                    break;
                case Http2FrameType.Headers:
                    OnHeaders(frame);
                    break;
                case Http2FrameType.Priority:
                    OnPriority(frame);
                    break;
                case Http2FrameType.RstStream:
                    OnRstStream(frame);
                    break;
                case Http2FrameType.Settings:
                    OnSettings(frame);
                    break;
                case Http2FrameType.PushPromise:
                    Http2PushPromiseFrame.Parse(frame);
                    break;
                case Http2FrameType.Ping:
                    OnPing(frame);
                    break;
                case Http2FrameType.GoAway:
                    OnGoAway(frame);
                    break;
                case Http2FrameType.WindowUpdate:
                    OnWindowUpdate(frame);
                    break;
                case Http2FrameType.Continuation:
                    OnContinuation(frame);
                    break;
                default:
                    // Unknown frame types are ignored (RFC 9113 4.1, 5.5).
                    break;
            }
        }
        catch (Http2ProtocolException ex) when (!ex.IsConnectionError)
        {
            ResetStreamFromReadLoop(ex.StreamId, ex.ErrorCode);
        }
    }

    private Http2Stream? FindStream(int streamId)
    {
        lock (_sync)
            return _streams.GetValueOrDefault(streamId);
    }

    private bool IsIdle(int streamId) => streamId > _lastClientStreamId;

    private void OnData(in Http2Frame frame)
    {
        var data = Http2DataFrame.Parse(frame);
        var id = data.StreamId;
        var length = data.FlowControlledLength;
        if (id % 2 == 0 || IsIdle(id))
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "DATA on an idle stream.");
        lock (_sync)
        {
            if (length > _connectionReceiveWindow)
                throw Http2ProtocolException.Connection(Http2ErrorCode.FlowControlError, "DATA beyond the connection window.");
            _connectionReceiveWindow -= length;
        }
        var stream = FindStream(id);
        if (stream is null || stream.IsReset)
        {
            CreditConnection(length);
            var end = stream is null ? EndOf(id) : stream.ResetByClient ? StreamEnd.ResetByClient : StreamEnd.ResetByUs;
            if (end == StreamEnd.ResetByClient)
                throw Http2ProtocolException.Stream(id, Http2ErrorCode.StreamClosed, "DATA after RST_STREAM.");
            if (end == StreamEnd.ResetByUs)
                return; // frames in flight after our RST_STREAM are ignored
            throw Http2ProtocolException.Connection(Http2ErrorCode.StreamClosed, "DATA on a closed stream.");
        }
        if (stream.RequestEnded)
        {
            CreditConnection(length);
            if (stream.ClosedToPeer)
            {
                // END_STREAM both ways: closed, even if the application is still finishing (RFC 9113 5.1).
                throw Http2ProtocolException.Connection(Http2ErrorCode.StreamClosed, "DATA on a closed stream.");
            }
            throw Http2ProtocolException.Stream(id, Http2ErrorCode.StreamClosed, "DATA after END_STREAM.");
        }
        var closedMeanwhile = false;
        lock (_sync)
        {
            if (!_streams.TryGetValue(id, out var current) || current != stream)
            {
                // The application finished (and the stream closed) since the lookup.
                closedMeanwhile = true;
            }
            else
            {
                if (length > stream.ReceiveWindow)
                {
                    _connectionReceiveUnacknowledged += length;
                    throw Http2ProtocolException.Stream(id, Http2ErrorCode.FlowControlError, "DATA beyond the stream window.");
                }
                stream.ReceiveWindow -= length;
                stream.UnreadBodyBytes += data.Data.Length;
            }
        }
        if (closedMeanwhile)
        {
            CreditConnection(length);
            return;
        }
        if (data.Data.Length == 0 && !data.EndStream && _emptyDataFlood.Hit(EmptyDataFloodLimit))
            Flood(ConnectionEnd.EmptyDataFlood, "Too many empty DATA frames.");
        var padding = length - (int)data.Data.Length;
        if (padding > 0)
            ReturnToWindows(stream, padding);
        stream.RequestBodyReceived += data.Data.Length;
        if (stream.DeclaredRequestLength is { } declared && stream.RequestBodyReceived > declared)
            throw Http2ProtocolException.Stream(id, Http2ErrorCode.ProtocolError, "More DATA than content-length.");
        stream.AppendBody(data.Data);
        if (data.EndStream)
            EndRequest(stream);
    }

    private void EndRequest(Http2Stream stream)
    {
        if (stream.DeclaredRequestLength is { } declared && stream.RequestBodyReceived != declared)
            throw Http2ProtocolException.Stream(stream.StreamId, Http2ErrorCode.ProtocolError, "DATA length differs from content-length.");
        stream.MarkRequestEnded();
        stream.CompleteBody();
    }

    private void OnHeaders(in Http2Frame frame)
    {
        var headers = Http2HeadersFrame.Parse(frame);
        var id = headers.StreamId;
        if (id % 2 == 0)
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "HEADERS on an even stream id.");
        Http2Stream? target = null;
        var kind = HeaderBlockKind.Discard;
        var streamError = Http2ErrorCode.NoError;
        if (!IsIdle(id))
        {
            var existing = FindStream(id);
            if (existing is null)
            {
                switch (EndOf(id))
                {
                    case StreamEnd.ResetByClient:
                        streamError = Http2ErrorCode.StreamClosed;
                        break;
                    case StreamEnd.ResetByUs:
                        // Ignored, but decoded to keep HPACK in step; without END_STREAM it is malformed whatever the
                        // state (a second HEADERS can only be trailers, which end the stream).
                        if (!headers.EndStream)
                            streamError = Http2ErrorCode.ProtocolError;
                        break;
                    case StreamEnd.Closed:
                        throw Http2ProtocolException.Connection(Http2ErrorCode.StreamClosed, "HEADERS on a closed stream.");
                    default:
                        throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "HEADERS with a stream id lower than an earlier one.");
                }
            }
            else if (existing.ResetByClient)
            {
                streamError = Http2ErrorCode.StreamClosed;
            }
            else if (existing.IsReset)
            {
                // Reset by us: ignored, but decoded to keep HPACK in step.
                if (!headers.EndStream)
                    streamError = Http2ErrorCode.ProtocolError;
            }
            else if (existing.RequestEnded)
            {
                if (existing.ClosedToPeer)
                    throw Http2ProtocolException.Connection(Http2ErrorCode.StreamClosed, "HEADERS on a closed stream.");
                streamError = Http2ErrorCode.StreamClosed;
            }
            else if (!headers.EndStream)
            {
                streamError = Http2ErrorCode.ProtocolError; // trailers must end the stream
            }
            else
            {
                target = existing;
                kind = HeaderBlockKind.Trailers;
            }
        }
        else
        {
            _lastClientStreamId = id;
            if (headers.StreamError is not null)
            {
                streamError = headers.StreamError.ErrorCode;
            }
            else if (_draining || _goAwayReceived)
            {
                // After GOAWAY new streams are ignored, and so is what follows on them (DATA still counts for the
                // connection window).
                RememberEnd(id, StreamEnd.ResetByUs);
            }
            else if (IsAtConcurrencyLimit())
            {
                streamError = Http2ErrorCode.RefusedStream;
            }
            else
            {
                lock (_sync)
                {
                    target = RentStreamLocked();
                    target.Start(id, ++_sequence, _peerInitialWindow, _receiveInitialWindow);
                }
                kind = HeaderBlockKind.Request;
            }
        }
        _headerBlockStream = target;
        _headerBlockKind = kind;
        _headerBlockEndStream = headers.EndStream;
        _headerBlockStreamError = streamError;
        _continuations = 0;
        _headerBlockBytes = headers.FieldBlockFragment.Length;
        _headerHandler.Begin(target, kind == HeaderBlockKind.Trailers);
        if (!headers.EndHeaders)
            _headerBlockStreamId = id;
        _decoder.Decode(headers.FieldBlockFragment, headers.EndHeaders, _headerHandler);
        if (headers.EndHeaders)
            EndHeaderBlock(id);
    }

    private void OnContinuation(in Http2Frame frame)
    {
        if (_headerBlockStreamId == 0)
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "CONTINUATION without a header block.");
        var continuation = Http2ContinuationFrame.Parse(frame);
        _headerBlockBytes += continuation.FieldBlockFragment.Length;
        if (++_continuations > MaxContinuationFrames || _headerBlockBytes > 2L * _config.Http2MaxHeaderListSize + _config.Http2MaxFrameSize)
            Flood(ConnectionEnd.ContinuationFlood, "Too many CONTINUATION frames or bytes in one header block.");
        _decoder.Decode(continuation.FieldBlockFragment, continuation.EndHeaders, _headerHandler);
        if (continuation.EndHeaders)
        {
            var id = _headerBlockStreamId;
            _headerBlockStreamId = 0;
            EndHeaderBlock(id);
        }
    }

    private void EndHeaderBlock(int id)
    {
        _headerBlockStreamId = 0;
        var stream = _headerBlockStream;
        _headerBlockStream = null;
        if (_headerBlockStreamError != Http2ErrorCode.NoError)
        {
            ResetStreamFromReadLoop(id, _headerBlockStreamError);
            return;
        }
        if (stream is null || _headerBlockKind == HeaderBlockKind.Discard)
            return;
        var wellFormed = _headerHandler.Complete();
        if (_headerBlockKind == HeaderBlockKind.Trailers)
        {
            if (!wellFormed)
            {
                ResetStreamFromReadLoop(id, Http2ErrorCode.ProtocolError);
                return;
            }
            EndRequest(stream);
            return;
        }
        if (!wellFormed || (_headerBlockEndStream && stream.DeclaredRequestLength is > 0))
        {
            ResetStreamFromReadLoop(id, Http2ErrorCode.ProtocolError);
            return;
        }
        stream.OnHeadComplete(_headerBlockEndStream);
        if (_headerBlockEndStream)
        {
            stream.MarkRequestEnded();
            stream.CompleteBody();
        }
        StartStream(id, stream);
        if (_config.MaxRequestsPerConnection > 0 && _sequence >= _config.MaxRequestsPerConnection && !_draining)
        {
            // Like HTTP/1.1's last request: GOAWAY with this stream as the last one, then drain.
            _draining = true;
            _drainFact = ConnectionEnd.MaxRequestsReached;
            if (Interlocked.Exchange(ref _goAwaySent, 1) == 0)
                Http2FrameWriter.WriteGoAway(_control, _lastClientStreamId, Http2ErrorCode.NoError);
        }
    }

    private void OnPriority(in Http2Frame frame)
    {
        var priority = Http2PriorityFrame.Parse(frame);
        if (priority.Priority.StreamDependency == priority.StreamId)
            throw Http2ProtocolException.Stream(priority.StreamId, Http2ErrorCode.ProtocolError, "PRIORITY makes the stream depend on itself.");
        // Otherwise ignored (RFC 9113 5.3.2: deprecated).
    }

    private void OnRstStream(in Http2Frame frame)
    {
        var reset = Http2RstStreamFrame.Parse(frame);
        var id = reset.StreamId;
        if (IsIdle(id))
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "RST_STREAM on an idle stream.");
        var stream = FindStream(id);
        var end = stream is null ? EndOf(id) : StreamEnd.None;
        // Rapid reset (CVE-2023-44487): count the client's cancellations of streams it just opened, whether they
        // were running or refused; a reset of a stream whose response already ended costs nothing and is not counted.
        if ((stream is not null || end == StreamEnd.ResetByUs) && _resetFlood.Hit(_rapidResetLimit))
            Flood(ConnectionEnd.RapidReset, "Too many streams reset by the client.");
        if (stream is null)
        {
            if (end == StreamEnd.ResetByUs)
                RememberEnd(id, StreamEnd.ResetByClient);
            return;
        }
        stream.ResetByClient = true;
        lock (_sync)
        {
            stream.MarkReset(byPeer: true);
            stream.WakeWindowWaiter();
        }
        stream.FailBody(new IOException("The client reset the request stream."));
    }

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

        const int id = 1;
        _lastClientStreamId = id;
        Http2Stream stream;
        lock (_sync)
        {
            stream = RentStreamLocked();
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

    /// <summary>Registers an open stream (the first one ends the connection's idle wait) and runs the app on it.</summary>
    private void StartStream(int id, Http2Stream stream)
    {
        lock (_sync)
        {
            _streams[id] = stream;
            if (_streams.Count == 1)
            {
                _connection.LeaveIdle();
                _connection.ClearIdleDeadline();
            }
        }
        Interlocked.Increment(ref _runningStreams);
        ThreadPool.UnsafeQueueUserWorkItem(stream, preferLocal: false);
    }

    /// <summary>Under the lock: a pooled stream object, or a new one.</summary>
    private Http2Stream RentStreamLocked()
    {
        if (_pooledStreams == 0)
            return new Http2Stream(this, _server);
        var stream = _streamPool[--_pooledStreams]!;
        _streamPool[_pooledStreams] = null;
        return stream;
    }

    /// <summary>
    /// A finished stream object goes back to the connection's pool (up to <c>Http2MaxConcurrentStreams</c>, as
    /// Kestrel does) to serve a later stream: its request state, header collections, body pipe and hosting context
    /// are reused instead of allocated. Streams reset or cut off by the connection's end, and extended CONNECT tunnels
    /// (the application may still hold the tunnel stream), are not pooled; pooled ones
    /// idle for <see cref="StreamPoolExpiryMs"/> are dropped by the heartbeat, so an idle connection holds none.
    /// </summary>
    public void ReturnStream(Http2Stream stream)
    {
        lock (_sync)
        {
            if (_closed || stream.IsReset || stream.HasTunnel)
                return;
            if (_pooledStreams == _streamPool.Length)
            {
                var max = _config.Http2MaxConcurrentStreams;
                if (_streamPool.Length >= max)
                    return;
                Array.Resize(ref _streamPool, Math.Min(max, Math.Max(4, _streamPool.Length * 2)));
            }
            stream.PooledAt = Environment.TickCount64;
            _streamPool[_pooledStreams++] = stream;
        }
    }

    private const long StreamPoolExpiryMs = 5_000;

    /// <summary>Heartbeat, under the lock: drops pooled streams idle too long (the oldest are at the bottom).</summary>
    private void ExpirePooledStreamsLocked(long now)
    {
        var expired = 0;
        while (expired < _pooledStreams && now - _streamPool[expired]!.PooledAt >= StreamPoolExpiryMs)
            expired++;
        if (expired == 0)
            return;
        Array.Copy(_streamPool, expired, _streamPool, 0, _pooledStreams - expired);
        Array.Clear(_streamPool, _pooledStreams - expired, expired);
        _pooledStreams -= expired;
    }

    /// <summary>A stream's work item is over (application, response, bookkeeping): the last thing it does.</summary>
    public void OnStreamDone()
    {
        if (Interlocked.Decrement(ref _runningStreams) == 0)
            Volatile.Read(ref _streamsDone)?.TrySetResult();
    }

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
                var delta = (long)_config.Http2InitialWindowSize - ProtocolInitialWindow;
                lock (_sync)
                {
                    if (delta > 0)
                    {
                        foreach (var stream in _streams.Values)
                            stream.ReceiveWindow += delta;
                        if (_headerBlockStream is { } opening)
                            opening.ReceiveWindow += delta;
                    }
                    _receiveInitialWindow = _config.Http2InitialWindowSize;
                }
            }
            return;
        }
        if (_settingsReceived && _settingsFlood.Hit(SettingsFloodLimit))
            Flood(ConnectionEnd.SettingsFlood, "Too many SETTINGS frames.");
        _settingsReceived = true;
        ApplyPeerSettings(settings);
        Http2FrameWriter.WriteSettingsAck(_control);
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
                        foreach (var stream in _streams.Values)
                        {
                            stream.SendWindow += delta;
                            if (stream.SendWindow > int.MaxValue)
                                throw Http2ProtocolException.Connection(Http2ErrorCode.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window.");
                            if (delta > 0)
                                stream.WakeWindowWaiter();
                        }
                        _peerInitialWindow = (int)setting.Value;
                    }
                    break;
                case Http2SettingId.MaxFrameSize:
                    _peerMaxFrameSize = (int)setting.Value;
                    break;
                case Http2SettingId.HeaderTableSize:
                    Volatile.Write(ref _pendingPeerTableSize, (int)Math.Min(setting.Value, int.MaxValue));
                    break;
            }
            _peerSettings.Apply(setting);
        }
    }

    private void OnPing(in Http2Frame frame)
    {
        var ping = Http2PingFrame.Parse(frame);
        if (ping.IsAck)
            return;
        if (_pingFlood.Hit(PingFloodLimit))
            Flood(ConnectionEnd.PingFlood, "Too many PING frames.");
        Http2FrameWriter.WritePing(_control, ping.OpaqueData, ack: true);
    }

    private void OnGoAway(in Http2Frame frame)
    {
        Http2GoAwayFrame.Parse(frame);
        _goAwayReceived = true;
        Info.ReportEnd(ConnectionEnd.GoAwayReceived);
    }

    private void OnWindowUpdate(in Http2Frame frame)
    {
        var update = Http2WindowUpdateFrame.Parse(frame);
        var id = update.StreamId;
        if (id == 0)
        {
            lock (_sync)
            {
                _connectionSendWindow += update.Increment;
                if (_connectionSendWindow > int.MaxValue)
                    throw Http2ProtocolException.Connection(Http2ErrorCode.FlowControlError, "WINDOW_UPDATE overflows the connection window.");
                foreach (var stream in _streams.Values)
                    stream.WakeWindowWaiter();
            }
            return;
        }
        if (IsIdle(id))
            throw Http2ProtocolException.Connection(Http2ErrorCode.ProtocolError, "WINDOW_UPDATE on an idle stream.");
        var target = FindStream(id);
        if (target is null || target.IsReset)
            return;
        lock (_sync)
        {
            target.SendWindow += update.Increment;
            if (target.SendWindow > int.MaxValue)
                throw Http2ProtocolException.Stream(id, Http2ErrorCode.FlowControlError, "WINDOW_UPDATE overflows the stream window.");
            target.WakeWindowWaiter();
        }
    }

    private void Flood(ConnectionEnd fact, string message)
    {
        _floodFact = fact;
        throw Http2ProtocolException.Connection(Http2ErrorCode.EnhanceYourCalm, message);
    }

    private static ConnectionEnd FactFor(Http2ErrorCode code) => code switch
    {
        Http2ErrorCode.FrameSizeError => ConnectionEnd.Http2FrameSizeError,
        Http2ErrorCode.FlowControlError => ConnectionEnd.Http2FlowControlError,
        Http2ErrorCode.CompressionError => ConnectionEnd.Http2CompressionError,
        Http2ErrorCode.StreamClosed => ConnectionEnd.Http2StreamClosed,
        _ => ConnectionEnd.Http2ProtocolError,
    };

    // =====================================================================================
    // Stream errors and resets
    // =====================================================================================

    /// <summary>Read loop: RST_STREAM for <paramref name="streamId"/> (queued with the control frames).</summary>
    private void ResetStreamFromReadLoop(int streamId, Http2ErrorCode code)
    {
        // Streams we have to reset (malformed, refused) count with the client's resets: a client opening
        // streams only to have them reset costs us as much (CVE-2019-9514).
        if (_resetFlood.Hit(_rapidResetLimit))
            Flood(ConnectionEnd.RapidReset, "Too many streams reset.");
        RememberEnd(streamId, StreamEnd.ResetByUs);
        Http2FrameWriter.WriteRstStream(_control, streamId, code);
        var stream = FindStream(streamId);
        if (stream is null)
            return;
        lock (_sync)
        {
            stream.MarkReset(byPeer: true);
            stream.WakeWindowWaiter();
        }
        stream.FailBody(new IOException("The request stream was reset: " + code + "."));
    }

    /// <summary>How a stream no longer registered ended (the last <see cref="EndedStreamMemory"/> or more are remembered).</summary>
    private StreamEnd EndOf(int streamId)
    {
        lock (_sync)
            return EndOfLocked(streamId);
    }

    private StreamEnd EndOfLocked(int streamId) =>
        _endedStreams.TryGetValue(streamId, out var end) ? end : _endedStreamsBefore.GetValueOrDefault(streamId);

    private void RememberEnd(int streamId, StreamEnd end)
    {
        lock (_sync)
            RememberEndLocked(streamId, end);
    }

    private void RememberEndLocked(int streamId, StreamEnd end)
    {
        if (end <= EndOfLocked(streamId))
            return;
        if (_endedStreams.Count >= EndedStreamMemory && !_endedStreams.ContainsKey(streamId))
        {
            // Two generations: the older one is dropped, so the most recent endings are always known.
            (_endedStreams, _endedStreamsBefore) = (_endedStreamsBefore, _endedStreams);
            _endedStreams.Clear();
        }
        _endedStreams[streamId] = end;
    }

    /// <summary>
    /// Whether a new stream would exceed SETTINGS_MAX_CONCURRENT_STREAMS. Streams closed for the client (END_STREAM both
    /// ways) whose application is still finishing (OnCompleted callbacks) do not count, as the client no longer
    /// counts them (RFC 9113 5.1.2); twice the limit in all is the hard cap on running applications.
    /// </summary>
    private bool IsAtConcurrencyLimit()
    {
        var max = _config.Http2MaxConcurrentStreams;
        var registered = StreamCount;
        return registered - Volatile.Read(ref _closedToPeerRunning) >= max || registered >= 2L * max;
    }

    /// <summary>Any thread: the stream just became closed for the client while its application still runs.</summary>
    public void OnStreamClosedToPeer() => Interlocked.Increment(ref _closedToPeerRunning);

    /// <summary>Any thread: resets a stream of ours (application abort, failed response).</summary>
    public async ValueTask ResetStreamAsync(Http2Stream stream, Http2ErrorCode code)
    {
        if (stream.IsReset || stream.EndStreamSent)
            return;
        RememberEnd(stream.StreamId, StreamEnd.ResetByUs);
        lock (_sync)
        {
            stream.MarkReset(byPeer: false);
            stream.WakeWindowWaiter();
        }
        await WriteFrameAsync(output => Http2FrameWriter.WriteRstStream(output, stream.StreamId, code));
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
        _closed = true;
    }

    /// <summary>Any thread: a stream sat at a zero window past <c>ResponseWriteTimeout</c>.</summary>
    public void OnFlowControlStall(Http2Stream stream) => FailFromOutside(ConnectionEnd.FlowControlStall, Http2ErrorCode.EnhanceYourCalm);

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
        _closed = true;
        _input.CancelPendingRead();
    }

    private async ValueTask SendGoAwayAsync(Http2ErrorCode code)
    {
        if (Interlocked.Exchange(ref _goAwaySent, 1) != 0)
            return;
        var last = _lastClientStreamId;
        await WriteFrameAsync(output => Http2FrameWriter.WriteGoAway(output, last, code));
    }

    /// <summary>After the read loop: fails what is still running and waits for every stream to finish.</summary>
    private async ValueTask EndStreamsAsync()
    {
        Http2Stream[] remaining;
        lock (_sync)
            remaining = _streams.Values.ToArray();
        if (remaining.Length > 0 && (_closed || Info.End is not (ConnectionEnd.GoAwayReceived or ConnectionEnd.ShutdownDrained or ConnectionEnd.MaxRequestsReached)))
        {
            _closed = true;
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
        _closed = true;
        lock (_sync)
        {
            Array.Clear(_streamPool);
            _pooledStreams = 0;
        }
        await _outputLock.WaitAsync();
        try
        {
            // Last words (queued control frames, a coalesced flush still pending); then the output is the
            // connection's to complete.
            _outputDone = true;
            if (_control.WrittenCount > 0)
            {
                _output.Write(_control.WrittenSpan);
                _control.ResetWrittenCount();
            }
            if (_output.UnflushedBytes > 0)
                await _output.FlushAsync();
        }
        catch (Exception)
        {
            // The transport is gone.
        }
        finally
        {
            _outputLock.Release();
        }
    }

    private void EnterIdleIfNoStreams()
    {
        lock (_sync)
        {
            if (_streams.Count == 0 && !_draining && !_goAwayReceived
                && !_connection.EnterIdle(_config.KeepAliveTimeout, ConnectionEnd.KeepAliveTimeout))
            {
                _input.CancelPendingRead(); // stopping: the read loop sends GOAWAY and closes
            }
        }
    }

    // =====================================================================================
    // Called by streams
    // =====================================================================================

    /// <summary>The stream's response is done (or lost): counts it and reports the request's end.</summary>
    public void OnStreamEnding(Http2Stream stream, bool handedOver)
    {
        var info = stream.RequestInfo;
        lock (_sync)
        {
            Info.TotalBytesSent += info.BytesSent;
            if (handedOver)
                Info.RequestsServed++;
        }
        if (handedOver)
            _server.Emitter.ResponseCompleted(Info, info);
        else
            _server.Emitter.ClientDisconnected(Info, info);
    }

    /// <summary>The stream's application finished: the stream closes and its unread body returns to the window.</summary>
    public async ValueTask OnStreamFinishedAsync(Http2Stream stream)
    {
        var id = stream.StreamId;
        var resetNoError = false;
        long credit;
        bool last;
        if (stream.MarkFinished())
            Interlocked.Decrement(ref _closedToPeerRunning);
        lock (_sync)
        {
            _streams.Remove(id);
            RememberEndLocked(id, stream.ResetByClient ? StreamEnd.ResetByClient : StreamEnd.Closed);
            credit = stream.UnreadBodyBytes;
            stream.UnreadBodyBytes = 0;
            if (!stream.RequestEnded && !stream.IsReset && !_closed)
            {
                // RFC 9113 8.1: the response is complete before the request; stop the rest of the body.
                resetNoError = true;
                RememberEndLocked(id, StreamEnd.ResetByUs);
            }
            last = _streams.Count == 0;
        }
        var increment = credit > 0 ? TakeConnectionCredit(credit) : 0;
        if ((resetNoError || increment > 0) && !_closed)
        {
            await WriteFrameAsync((id, resetNoError, increment), static (output, s) =>
            {
                if (s.resetNoError)
                    Http2FrameWriter.WriteRstStream(output, s.id, Http2ErrorCode.NoError);
                if (s.increment > 0)
                    Http2FrameWriter.WriteWindowUpdate(output, 0, s.increment);
            });
        }
        if (last)
        {
            if (_draining || _goAwayReceived || _closed || _connection.ShutdownRequested)
                _input.CancelPendingRead();
            else
                EnterIdleIfNoStreams();
        }
    }

    /// <summary>Application thread: <paramref name="count"/> body bytes were read; maybe send WINDOW_UPDATE.</summary>
    public ValueTask OnBodyConsumedAsync(Http2Stream stream, int count)
    {
        int streamIncrement = 0;
        int connectionIncrement;
        lock (_sync)
        {
            stream.UnreadBodyBytes -= count;
            if (!stream.RequestEnded && !stream.IsReset)
            {
                stream.ReceiveUnacknowledged += count;
                if (stream.ReceiveUnacknowledged >= _config.Http2InitialWindowSize / 2)
                {
                    streamIncrement = stream.ReceiveUnacknowledged;
                    stream.ReceiveUnacknowledged = 0;
                    stream.ReceiveWindow += streamIncrement;
                }
            }
            connectionIncrement = TakeConnectionCreditLocked(count);
        }
        if ((streamIncrement == 0 && connectionIncrement == 0) || _closed)
            return default;
        return WriteFrameAsync((stream.StreamId, connectionIncrement, streamIncrement), static (output, s) =>
        {
            if (s.connectionIncrement > 0)
                Http2FrameWriter.WriteWindowUpdate(output, 0, s.connectionIncrement);
            if (s.streamIncrement > 0)
                Http2FrameWriter.WriteWindowUpdate(output, s.StreamId, s.streamIncrement);
        });
    }

    /// <summary>Read loop: padding returns to both windows at once.</summary>
    private void ReturnToWindows(Http2Stream stream, int count)
    {
        lock (_sync)
        {
            stream.ReceiveWindow += count;
            var increment = TakeConnectionCreditLocked(count);
            if (increment > 0)
                Http2FrameWriter.WriteWindowUpdate(_control, 0, increment);
        }
        if (!stream.RequestEnded)
            Http2FrameWriter.WriteWindowUpdate(_control, stream.StreamId, count);
    }

    /// <summary>Read loop: DATA that no stream will read returns to the connection window.</summary>
    private void CreditConnection(int count)
    {
        var increment = TakeConnectionCredit(count);
        if (increment > 0)
            Http2FrameWriter.WriteWindowUpdate(_control, 0, increment);
    }

    private int TakeConnectionCredit(long count)
    {
        lock (_sync)
            return TakeConnectionCreditLocked(count);
    }

    private int TakeConnectionCreditLocked(long count)
    {
        _connectionReceiveUnacknowledged += count;
        if (_connectionReceiveUnacknowledged < _connectionReceiveTarget / 2)
            return 0;
        var increment = (int)_connectionReceiveUnacknowledged;
        _connectionReceiveUnacknowledged = 0;
        _connectionReceiveWindow += increment;
        return increment;
    }

    /// <summary>Takes up to <paramref name="wanted"/> bytes of send window for the stream (0 when none is open).</summary>
    public int ReserveSendWindow(Http2Stream stream, int wanted)
    {
        lock (_sync)
        {
            var available = Math.Min(stream.SendWindow, _connectionSendWindow);
            if (available <= 0)
                return 0;
            var n = (int)Math.Min(wanted, available);
            stream.SendWindow -= n;
            _connectionSendWindow -= n;
            return n;
        }
    }

    /// <summary>The task a writer waits on for more window; null when there is window now (or no point waiting).</summary>
    public Task? GetWindowWaiter(Http2Stream stream)
    {
        lock (_sync)
        {
            if (stream.IsReset || _closed || (stream.SendWindow > 0 && _connectionSendWindow > 0))
                return null;
            stream.ArmWindowWaiter();
            return stream.WindowWaiter!.Task;
        }
    }

    /// <summary>
    /// Writes the stream's pending head, <paramref name="dataLength"/> bytes of its body (window already taken) and,
    /// when <paramref name="end"/>, its trailers or END_STREAM; then sends. False when nothing more can be sent.
    /// </summary>
    public async ValueTask<bool> WriteResponseAsync(Http2Stream stream, int dataLength, bool end)
    {
        await _outputLock.WaitAsync();
        try
        {
            if (_closed || stream.IsReset)
                return false;
            var output = _output;
            var maxFrame = _peerMaxFrameSize;
            var id = stream.StreamId;
            var trailers = end && stream.Trailers.Count > 0;
            var endSent = false;
            if (stream.HeadPending)
            {
                var endOnHeaders = end && dataLength == 0 && !trailers;
                EncodeResponseHead(stream);
                Http2FrameWriter.WriteHeaderBlock(output, id, _headerBlock.WrittenSpan, endOnHeaders, maxFrame);
                stream.OnHeadWritten();
                endSent = endOnHeaders;
            }
            var remaining = dataLength;
            while (remaining > 0)
            {
                var n = Math.Min(remaining, maxFrame);
                remaining -= n;
                var endHere = end && remaining == 0 && !trailers;
                Http2FrameWriter.WriteData(output, id, stream.PendingData(n), endHere);
                stream.OnDataWritten(n);
                endSent |= endHere;
            }
            if (end && !endSent)
            {
                if (trailers)
                {
                    EncodeTrailers(stream);
                    Http2FrameWriter.WriteHeaderBlock(output, id, _headerBlock.WrittenSpan, endStream: true, maxFrame);
                }
                else
                {
                    Http2FrameWriter.WriteData(output, id, [], endStream: true);
                }
            }
            if (end)
                stream.OnEndStreamWritten(); // before any flush: a client that read it may close at once
            if (output.UnflushedBytes < FlushInlineThreshold)
            {
                // Coalesce: the responses of other streams written before the flush runs go out in the same send.
                ScheduleFlush();
                return true;
            }
            var result = await output.FlushAsync();
            return !result.IsCompleted && !result.IsCanceled;
        }
        catch (Exception)
        {
            // The transport failed under the write (or the head could not be encoded): the connection is done.
            _closed = true;
            return false;
        }
        finally
        {
            _outputLock.Release();
        }
    }

    private void ApplyPeerTableSize()
    {
        var size = Interlocked.Exchange(ref _pendingPeerTableSize, -1);
        if (size >= 0)
            _encoder.SetPeerHeaderTableSize((uint)size);
    }

    private void EncodeResponseHead(Http2Stream stream)
    {
        var block = _headerBlock;
        block.ResetWrittenCount();
        ApplyPeerTableSize();
        _encoder.BeginHeaderBlock(block);
        var status = stream.StatusCode;
        _encoder.EncodeStatus(status, block);
        var mayCarryLength = status >= 200 && status != 204;
        var headers = stream.ResponseHeaderFields;
        foreach (var header in headers)
        {
            var name = header.Key;
            if (IsConnectionSpecific(name))
                continue;
            if (!mayCarryLength && name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase))
                continue;
            foreach (var value in header.Value)
                _encoder.EncodeHeader(name, value ?? "", block);
        }
        if (_config.DateHeader && !headers.ContainsKey(HeaderNames.Date))
        {
            var line = _server.Heartbeat.DateHeaderLine;
            if (line.Length > 8)
                _encoder.EncodeHeader("date"u8, line[6..^2], block);
        }
        if (_serverHeaderValue.Length != 0 && !headers.ContainsKey(HeaderNames.Server))
            _encoder.EncodeHeader("server"u8, _serverHeaderValue, block);
        if (stream.HeadContentLength is { } length)
        {
            Span<byte> digits = stackalloc byte[20];
            length.TryFormat(digits, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
            _encoder.EncodeHeader("content-length"u8, digits[..written], block);
        }
    }

    private void EncodeTrailers(Http2Stream stream)
    {
        var block = _headerBlock;
        block.ResetWrittenCount();
        ApplyPeerTableSize();
        _encoder.BeginHeaderBlock(block);
        foreach (var trailer in stream.Trailers)
        {
            if (IsConnectionSpecific(trailer.Key))
                continue;
            foreach (var value in trailer.Value)
                _encoder.EncodeHeader(trailer.Key, value ?? "", block);
        }
    }

    private static bool IsConnectionSpecific(string name) =>
        name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.KeepAlive, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ProxyConnection, StringComparison.OrdinalIgnoreCase);

    // =====================================================================================
    // Output
    // =====================================================================================

    /// <summary>Under the output lock: makes sure a flush runs soon (once for everything written until then).</summary>
    private void ScheduleFlush()
    {
        if (_flushScheduled)
            return;
        _flushScheduled = true;
        ThreadPool.UnsafeQueueUserWorkItem(static s => _ = ((Http2Connection)s!).RunScheduledFlushAsync(), this, preferLocal: false);
    }

    private async Task RunScheduledFlushAsync()
    {
        await _outputLock.WaitAsync();
        try
        {
            _flushScheduled = false;
            if (!_outputDone && _output.UnflushedBytes > 0)
                await _output.FlushAsync();
        }
        catch (Exception)
        {
            _closed = true;
        }
        finally
        {
            _outputLock.Release();
        }
    }

    /// <summary>Read loop: sends the queued control frames.</summary>
    private async ValueTask FlushControlAsync()
    {
        if (_control.WrittenCount == 0)
            return;
        await _outputLock.WaitAsync();
        try
        {
            if (_outputDone)
                return;
            _output.Write(_control.WrittenSpan);
            _control.ResetWrittenCount();
            await _output.FlushAsync();
        }
        catch (Exception)
        {
            _closed = true;
        }
        finally
        {
            _outputLock.Release();
        }
    }

    /// <summary>Any thread: writes frames under the output lock (after the read loop's queued ones) and sends them.</summary>
    private ValueTask WriteFrameAsync(Action<IBufferWriter<byte>> write) =>
        WriteFrameAsync(write, static (output, w) => w(output));

    /// <summary>As above, with the frames' values passed as state (no closure allocated per call on the hot paths).</summary>
    private async ValueTask WriteFrameAsync<TState>(TState state, Action<IBufferWriter<byte>, TState> write)
    {
        await _outputLock.WaitAsync();
        try
        {
            if (_outputDone)
                return;
            write(_output, state);
            await _output.FlushAsync();
        }
        catch (Exception)
        {
            _closed = true;
        }
        finally
        {
            _outputLock.Release();
        }
    }

    /// <summary>Counts events in a fixed time window.</summary>
    private struct FloodCounter
    {
        private long _windowStart;
        private int _count;

        /// <summary>Counts one event; true when more than <paramref name="limit"/> happened in the window.</summary>
        public bool Hit(int limit)
        {
            var now = Environment.TickCount64;
            if (now - _windowStart > FloodWindowMs)
            {
                _windowStart = now;
                _count = 0;
            }
            return ++_count > limit;
        }
    }
}
