using Microsoft.Net.Http.Headers;

namespace Pounce.Http1;

/// <summary>Common request header names, matched without allocating a string for them.</summary>
internal static class KnownHeaders
{
    public const int Host = 0;
    public const int ContentLength = 1;
    public const int TransferEncoding = 2;
    public const int Connection = 3;
    public const int Expect = 4;
    public const int UserAgent = 5;
    public const int Upgrade = 6;

    public static readonly string[] Names =
    [
        HeaderNames.Host,
        HeaderNames.ContentLength,
        HeaderNames.TransferEncoding,
        HeaderNames.Connection,
        HeaderNames.Expect,
        HeaderNames.UserAgent,
        HeaderNames.Upgrade,
        HeaderNames.Accept,
        HeaderNames.AcceptEncoding,
        HeaderNames.AcceptLanguage,
        HeaderNames.AcceptCharset,
        HeaderNames.Authorization,
        HeaderNames.CacheControl,
        HeaderNames.ContentType,
        HeaderNames.Cookie,
        HeaderNames.IfModifiedSince,
        HeaderNames.IfNoneMatch,
        HeaderNames.Origin,
        HeaderNames.Pragma,
        HeaderNames.Referer,
        HeaderNames.TE,
        HeaderNames.DNT,
        HeaderNames.Range,
        HeaderNames.XRequestedWith,
        "Sec-Fetch-Dest",
        "Sec-Fetch-Mode",
        "Sec-Fetch-Site",
        "Sec-Fetch-User",
        "Sec-Ch-Ua",
        "Sec-Ch-Ua-Mobile",
        "Sec-Ch-Ua-Platform",
        "Upgrade-Insecure-Requests",
        "Priority",
        HeaderNames.SecWebSocketKey,
        HeaderNames.SecWebSocketVersion,
        HeaderNames.SecWebSocketProtocol,
        HeaderNames.SecWebSocketExtensions,
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        HeaderNames.TraceParent,
        HeaderNames.TraceState,
        "Keep-Alive",
        HeaderNames.ContentEncoding,
        HeaderNames.Trailer,
    ];

    /// <summary>How many names are known: at most 64 (Http1Connection keeps one bit per name of a head).</summary>
    public static int Count => Names.Length;

    /// <summary>Index of the known header whose name equals <paramref name="name"/> ignoring case, or -1.</summary>
    public static int Find(ReadOnlySpan<byte> name)
    {
        var names = Names;
        for (var i = 0; i < names.Length; i++)
        {
            var candidate = names[i];
            if (candidate.Length == name.Length && System.Text.Ascii.EqualsIgnoreCase(name, candidate))
                return i;
        }
        return -1;
    }
}
