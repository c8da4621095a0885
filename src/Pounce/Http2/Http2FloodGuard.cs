using Pounce.Connections;

namespace Pounce.Http2;

/// <summary>
/// Flood and abuse accounting for one connection: frames that are cheap to send and cost us work (SETTINGS, PING,
/// empty DATA, resets, CONTINUATION runs) are counted in fixed 10 s windows; past a limit the connection ends with
/// GOAWAY ENHANCE_YOUR_CALM. A hit throws that connection error and leaves the close fact in <see cref="Fact"/>.
/// Used by the read loop only (not thread-safe).
/// </summary>
internal sealed class Http2FloodGuard
{
    /// <summary>The length of one counting window.</summary>
    public const long WindowMs = 10_000;

    /// <summary>SETTINGS frames (after the first) per window.</summary>
    public const int SettingsLimit = 100;

    /// <summary>PING frames (not ACKs) per window.</summary>
    public const int PingLimit = 500;

    /// <summary>Empty DATA frames without END_STREAM per window.</summary>
    public const int EmptyDataLimit = 500;

    /// <summary>CONTINUATION frames in one header block.</summary>
    public const int MaxContinuationFrames = 64;

    private static readonly Func<long> SystemClock = static () => Environment.TickCount64;

    private readonly Func<long> _clock;
    private readonly int _resetLimit;
    private readonly long _maxHeaderBlockBytes;
    private Counter _settings;
    private Counter _pings;
    private Counter _emptyData;
    private Counter _resets;
    private int _continuations;
    private long _headerBlockBytes;

    /// <summary>
    /// Limits from the configuration: resets per window <c>max(200, 2 x maxConcurrentStreams)</c>; a header block of at
    /// most <c>2 x maxHeaderListSize + maxFrameSize</c> bytes. <paramref name="clock"/> (milliseconds) is for tests.
    /// </summary>
    public Http2FloodGuard(int maxConcurrentStreams, int maxHeaderListSize, int maxFrameSize, Func<long>? clock = null)
    {
        _resetLimit = Math.Max(200, 2 * maxConcurrentStreams);
        _maxHeaderBlockBytes = 2L * maxHeaderListSize + maxFrameSize;
        _clock = clock ?? SystemClock;
    }

    /// <summary>The flood that ended the connection, or <see cref="ConnectionEnd.None"/>.</summary>
    public ConnectionEnd Fact { get; private set; }

    /// <summary>Resets allowed per window (client resets of open or refused streams, and streams we reset).</summary>
    public int ResetLimit => _resetLimit;

    /// <summary>A SETTINGS frame other than the first.</summary>
    public void OnSettings()
    {
        if (_settings.Hit(SettingsLimit, _clock()))
            Flood(ConnectionEnd.SettingsFlood, "Too many SETTINGS frames.");
    }

    /// <summary>A PING that asks for an answer.</summary>
    public void OnPing()
    {
        if (_pings.Hit(PingLimit, _clock()))
            Flood(ConnectionEnd.PingFlood, "Too many PING frames.");
    }

    /// <summary>A DATA frame with no payload and no END_STREAM.</summary>
    public void OnEmptyData()
    {
        if (_emptyData.Hit(EmptyDataLimit, _clock()))
            Flood(ConnectionEnd.EmptyDataFlood, "Too many empty DATA frames.");
    }

    /// <summary>
    /// A stream reset: by the client (CVE-2023-44487, rapid reset) or by us because of the client (malformed or
    /// refused streams, CVE-2019-9514): both cost us a stream's setup.
    /// </summary>
    public void OnReset()
    {
        if (_resets.Hit(_resetLimit, _clock()))
            Flood(ConnectionEnd.RapidReset, "Too many streams reset.");
    }

    /// <summary>A HEADERS frame starts a header block of <paramref name="fragmentBytes"/> so far.</summary>
    public void OnHeaderBlockStart(long fragmentBytes)
    {
        _continuations = 0;
        _headerBlockBytes = fragmentBytes;
    }

    /// <summary>A CONTINUATION frame of the current header block.</summary>
    public void OnContinuation(long fragmentBytes)
    {
        _headerBlockBytes += fragmentBytes;
        if (++_continuations > MaxContinuationFrames || _headerBlockBytes > _maxHeaderBlockBytes)
            Flood(ConnectionEnd.ContinuationFlood, "Too many CONTINUATION frames or bytes in one header block.");
    }

    private void Flood(ConnectionEnd fact, string message)
    {
        Fact = fact;
        throw Http2ProtocolException.Connection(Http2ErrorCode.EnhanceYourCalm, message);
    }

    /// <summary>Counts events in a fixed time window.</summary>
    private struct Counter
    {
        private long _windowStart;
        private int _count;
        private bool _started;

        /// <summary>Counts one event at <paramref name="now"/>; true when more than <paramref name="limit"/> happened in the window.</summary>
        public bool Hit(int limit, long now)
        {
            if (!_started || now - _windowStart > WindowMs)
            {
                _started = true;
                _windowStart = now;
                _count = 0;
            }
            return ++_count > limit;
        }
    }
}
