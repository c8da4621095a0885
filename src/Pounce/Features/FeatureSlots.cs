using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Pounce.Features;

/// <summary>The features a <see cref="RequestContext"/> serves itself, each with a fixed slot for fast lookup.</summary>
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
    ];

    public const int ResponseTrailers = 9;
    public const int RequestTrailers = 10;
    public const int Upgrade = 12;
    public const int TlsConnection = 13;
    public const int TlsHandshake = 14;
    public const int TlsApplicationProtocol = 15;

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
