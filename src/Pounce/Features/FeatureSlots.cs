using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Microsoft.AspNetCore.Routing;

namespace Pounce.Features;

/// <summary>
/// The features a <see cref="RequestContext"/> keeps in fixed slots for fast lookup: first the ones it serves itself
/// (or its connection's TLS features), then <see cref="IEndpointFeature"/> and <see cref="IRouteValuesFeature"/>, which
/// it also implements so routing allocates no feature object per request, then features that hosting, routing and the
/// usual middleware set on every request (stored as set, null until then), so they never go to the overflow list.
/// </summary>
internal static class FeatureSlots
{
    public static readonly Type[] Types =
    [
        typeof(IHttpRequestFeature),
        typeof(IHttpResponseFeature),
        typeof(IHttpResponseBodyFeature),
        typeof(IHttpConnectionFeature),
        typeof(IHttpRequestIdentifierFeature),
        typeof(IHttpRequestLifetimeFeature),
        typeof(IHttpMaxRequestBodySizeFeature),
        typeof(IHttpRequestBodyDetectionFeature),
        typeof(IHttpBodyControlFeature),
        typeof(IHttpResponseTrailersFeature),
        typeof(IHttpRequestTrailersFeature),
        typeof(IRequestBodyPipeFeature),
        typeof(IHttpUpgradeFeature),
        typeof(ITlsConnectionFeature),
        typeof(ITlsHandshakeFeature),
        typeof(Microsoft.AspNetCore.Server.Kestrel.Core.Features.ITlsApplicationProtocolFeature),
        typeof(IEndpointFeature),
        typeof(IRouteValuesFeature),

        // Stored only: whatever the application sets, reset per request.
        typeof(IServiceProvidersFeature),
        typeof(IItemsFeature),
        typeof(IQueryFeature),
        typeof(IRequestCookiesFeature),
        typeof(IResponseCookiesFeature),
        typeof(IHttpAuthenticationFeature),
        typeof(IHttpActivityFeature),
        typeof(IHttpMetricsTagsFeature),
        typeof(IFormFeature),
        typeof(IHttpWebSocketFeature),
    ];

    public const int Request = 0;
    public const int Response = 1;
    public const int ResponseBody = 2;
    public const int Connection = 3;
    public const int RequestIdentifier = 4;
    public const int RequestLifetime = 5;
    public const int MaxRequestBodySize = 6;
    public const int ResponseTrailers = 9;
    public const int RequestTrailers = 10;
    public const int Upgrade = 12;
    public const int TlsConnection = 13;
    public const int TlsHandshake = 14;
    public const int TlsApplicationProtocol = 15;
    public const int Endpoint = 16;
    public const int RouteValues = 17;

    /// <summary>The first slot that only stores what was set (no default feature behind it).</summary>
    public const int FirstStoredOnly = 18;

    public static int Count => Types.Length;

    public static int IndexOf(Type type)
    {
        var types = Types;
        for (var i = 0; i < types.Length; i++)
        {
            if (types[i] == type)
                return i;
        }
        return -1;
    }

    /// <summary>The slot of <typeparamref name="T"/>, computed once per type.</summary>
    public static class Of<T>
    {
        public static readonly int Index = IndexOf(typeof(T));
    }
}
