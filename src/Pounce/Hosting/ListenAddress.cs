using System.Net;

namespace Pounce.Hosting;

/// <summary>One address to listen on, parsed from a URL such as <c>http://127.0.0.1:8000</c>, <c>https://*:0</c>.</summary>
internal sealed record ListenAddress(string Scheme, string Host, IPAddress[] Addresses, int Port)
{
    /// <summary>True for an <c>https://</c> address: its connections start with a TLS handshake.</summary>
    public bool IsHttps => Scheme == "https";

    /// <summary>Parses a URL as Kestrel users write them; throws with a clear message otherwise.</summary>
    public static ListenAddress Parse(string url)
    {
        var text = url.Trim();
        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
            throw new InvalidOperationException($"Invalid Pounce listen address '{url}': expected scheme://host:port, e.g. http://127.0.0.1:8000.");
        var scheme = text[..schemeEnd].ToLowerInvariant();
        if (scheme is not ("http" or "https"))
            throw new InvalidOperationException($"Invalid Pounce listen address '{url}': the scheme must be http or https.");
        var rest = text[(schemeEnd + 3)..];
        var slash = rest.IndexOf('/');
        if (slash >= 0)
            rest = rest[..slash];
        string host;
        int port = scheme == "https" ? 443 : 80;
        if (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']');
            if (close < 0)
                throw new InvalidOperationException($"Invalid Pounce listen address '{url}': unterminated IPv6 literal.");
            host = rest[1..close];
            var after = rest[(close + 1)..];
            if (after.StartsWith(':') && !int.TryParse(after[1..], System.Globalization.CultureInfo.InvariantCulture, out port))
                throw new InvalidOperationException($"Invalid Pounce listen address '{url}': bad port.");
        }
        else
        {
            var colon = rest.LastIndexOf(':');
            host = colon >= 0 ? rest[..colon] : rest;
            if (colon >= 0 && !int.TryParse(rest[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture, out port))
                throw new InvalidOperationException($"Invalid Pounce listen address '{url}': bad port.");
        }
        if (port is < 0 or > 65535)
            throw new InvalidOperationException($"Invalid Pounce listen address '{url}': port must be 0 to 65535.");
        IPAddress[] addresses = host switch
        {
            "*" or "+" or "" or "0.0.0.0" => [IPAddress.Any],
            "::" => [IPAddress.IPv6Any],
            "localhost" => System.Net.Sockets.Socket.OSSupportsIPv6 ? [IPAddress.Loopback, IPAddress.IPv6Loopback] : [IPAddress.Loopback],
            _ when IPAddress.TryParse(host, out var ip) => [ip],
            _ => [IPAddress.Any],
        };
        return new ListenAddress(scheme, host, addresses, port);
    }
}
