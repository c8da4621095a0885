using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using MinDataRate = Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Pounce.Connections;

namespace Pounce.Features;

/// <summary>
/// Kestrel's per-request features that apps and libraries reach for (Grpc.AspNetCore, YARP, diagnostics):
/// the minimum data rates, the bad-request exception, the persistent state, and the "not here" forms of the upgrade
/// features; and the bookkeeping of the minimum request body data rate, shared by both protocols.
/// </summary>
/// <remarks>
/// The request body rate is measured over the time the application actually waits for body bytes (a slow application
/// is not blamed on the client): a wait fails once the time waited so far exceeds both the grace period and the bytes
/// received divided by the rate, which is Kestrel's "average rate below the minimum after the grace period".
/// </remarks>
public abstract partial class RequestContext :
    IHttpMinRequestBodyDataRateFeature,
    IHttpMinResponseDataRateFeature,
    IBadRequestExceptionFeature,
    IPersistentStateFeature
{
    private MinDataRate? _minRequestBodyDataRate;
    private MinDataRate? _minResponseDataRate;
    private bool _bodyTimingOffByApplication;
    private long _bodyWaitedMs;
    private long _bodyBytesTimed;
    private long _bodyWaitStartedAt;
    private Exception? _badRequestException;
    private Dictionary<object, object?>? _persistentState;

    /// <summary>The server's settings (limits, timeouts, data rates).</summary>
    protected abstract ServerConfig ServerSettings { get; }

    /// <summary>Whether the protocol enforces <see cref="IHttpMinResponseDataRateFeature"/> per request (HTTP/1.1).</summary>
    protected virtual bool OffersMinResponseDataRate => false;

    /// <summary>The request's minimum response data rate changed (also at the start of each request): the protocol applies it.</summary>
    protected virtual void OnMinResponseDataRateChanged(MinDataRate? rate)
    {
    }

    /// <summary>Starts a request's data-rate bookkeeping from the server's settings.</summary>
    protected void ResetDataRates()
    {
        var settings = ServerSettings;
        _minRequestBodyDataRate = settings.RequestBodyRate;
        _minResponseDataRate = settings.ResponseRate;
        _bodyTimingOffByApplication = false;
        _bodyWaitedMs = 0;
        _bodyBytesTimed = 0;
        _bodyWaitStartedAt = 0;
        _badRequestException = null;
        if (OffersMinResponseDataRate)
            OnMinResponseDataRateChanged(_minResponseDataRate);
    }

    // ---------------- request body timing ----------------

    /// <summary>
    /// The application waits for request body bytes from <paramref name="now"/> (<see cref="Environment.TickCount64"/>):
    /// returns the tick at which the wait fails and the fact to report then, or 0 when nothing limits it (the rate and
    /// <c>BodyReadTimeout</c> are off, or the request turned them off). Pair with <see cref="EndBodyWait"/>.
    /// </summary>
    protected long BeginBodyWait(long now, out ConnectionEnd onExpiry)
    {
        _bodyWaitStartedAt = now;
        onExpiry = ConnectionEnd.None;
        if (_bodyTimingOffByApplication)
            return 0;
        long deadline = 0;
        if (_minRequestBodyDataRate is { BytesPerSecond: > 0 } rate)
        {
            var allowedMs = Math.Max(rate.GracePeriod.TotalMilliseconds, _bodyBytesTimed * 1000.0 / rate.BytesPerSecond);
            var remainingMs = Math.Max(0, allowedMs - _bodyWaitedMs);
            deadline = now + (long)Math.Min(remainingMs, TimeSpan.FromDays(1).TotalMilliseconds);
            onExpiry = ConnectionEnd.MinRequestBodyDataRate;
        }
        var stall = ServerSettings.BodyReadTimeout;
        if (stall > TimeSpan.Zero)
        {
            var stallDeadline = now + (long)stall.TotalMilliseconds;
            if (deadline == 0 || stallDeadline < deadline)
            {
                deadline = stallDeadline;
                onExpiry = ConnectionEnd.BodyReadTimeout;
            }
        }
        // 0 means "no deadline" to the heartbeat.
        return deadline == 0 ? 0 : Math.Max(deadline, 1);
    }

    /// <summary>The wait begun by <see cref="BeginBodyWait"/> ended at <paramref name="now"/>.</summary>
    protected void EndBodyWait(long now)
    {
        if (_bodyWaitStartedAt != 0)
            _bodyWaitedMs += Math.Max(0, now - _bodyWaitStartedAt);
        _bodyWaitStartedAt = 0;
    }

    /// <summary>The application received <paramref name="count"/> body bytes.</summary>
    protected void CountBodyBytes(long count) => _bodyBytesTimed += count;

    /// <summary>The 408 answer for a body that was too slow, remembered for <see cref="IBadRequestExceptionFeature"/>.</summary>
    protected BadHttpRequestException BodyTooSlow(ConnectionEnd fact) => RecordBadRequest(fact == ConnectionEnd.MinRequestBodyDataRate
        ? new BadHttpRequestException("The request body was sent below the minimum data rate (MinRequestBodyDataRate).", StatusCodes.Status408RequestTimeout)
        : new BadHttpRequestException("Reading the request body timed out (BodyReadTimeout).", StatusCodes.Status408RequestTimeout));

    /// <summary>Remembers the first bad-request failure of the request for <see cref="IBadRequestExceptionFeature"/>.</summary>
    protected BadHttpRequestException RecordBadRequest(BadHttpRequestException exception)
    {
        _badRequestException ??= exception;
        return exception;
    }

    // ---------------- IHttpMinRequestBodyDataRateFeature / IHttpMinResponseDataRateFeature ----------------

    MinDataRate? IHttpMinRequestBodyDataRateFeature.MinDataRate
    {
        get => _minRequestBodyDataRate;
        set
        {
            _minRequestBodyDataRate = value;
            // null: no limit at all on this request's body reads (gRPC streaming), BodyReadTimeout included.
            _bodyTimingOffByApplication = value is null;
        }
    }

    MinDataRate? IHttpMinResponseDataRateFeature.MinDataRate
    {
        get => _minResponseDataRate;
        set
        {
            _minResponseDataRate = value;
            OnMinResponseDataRateChanged(value);
        }
    }

    // ---------------- IBadRequestExceptionFeature / IPersistentStateFeature ----------------

    Exception? IBadRequestExceptionFeature.Error => _badRequestException;

    IDictionary<object, object?> IPersistentStateFeature.State => _persistentState ??= new Dictionary<object, object?>();

    // ---------------- lookup ----------------

    /// <summary>The types <see cref="DataRateAndCompatFeature"/> may answer, for enumerating the collection.</summary>
    private static readonly Type[] CompatFeatureTypes =
    [
        typeof(IHttpMinRequestBodyDataRateFeature),
        typeof(IHttpMinResponseDataRateFeature),
        typeof(IBadRequestExceptionFeature),
        typeof(IPersistentStateFeature),
        typeof(IHttpExtendedConnectFeature),
    ];

    /// <summary>The features above, for a lookup the fixed slots did not answer (the application may replace them).</summary>
    private object? DataRateAndCompatFeature(Type key)
    {
        if (key == typeof(IHttpMinRequestBodyDataRateFeature) || key == typeof(IBadRequestExceptionFeature) || key == typeof(IPersistentStateFeature))
            return this;
        if (key == typeof(IHttpMinResponseDataRateFeature))
            return OffersMinResponseDataRate ? this : null;
        if (key == typeof(IHttpExtendedConnectFeature))
            return NoExtendedConnect.Instance;
        return null;
    }

    /// <summary><see cref="IHttpExtendedConnectFeature"/> where there is none (HTTP/1.1): present, reporting false, as in Kestrel.</summary>
    private sealed class NoExtendedConnect : IHttpExtendedConnectFeature
    {
        public static readonly NoExtendedConnect Instance = new();

        public bool IsExtendedConnect => false;

        public string? Protocol => null;

        public ValueTask<Stream> AcceptAsync()
            => throw new InvalidOperationException("This request is not an extended CONNECT request (RFC 8441): extended CONNECT exists on HTTP/2 only.");
    }

    /// <summary><see cref="IHttpUpgradeFeature"/> where there is none (HTTP/2): present, reporting false, as in Kestrel.</summary>
    private sealed class NoUpgrade : IHttpUpgradeFeature
    {
        public static readonly NoUpgrade Instance = new();

        public bool IsUpgradableRequest => false;

        public Task<Stream> UpgradeAsync()
            => throw new InvalidOperationException("This request cannot be upgraded: HTTP/1.1 upgrades do not exist on HTTP/2 (use extended CONNECT).");
    }
}
