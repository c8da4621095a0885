using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Pounce.Hosting;

/// <summary>
/// One address to listen on, parsed from a URL as Kestrel users write them: <c>http://127.0.0.1:8000</c>,
/// <c>https://localhost:5001</c>, <c>http://*:8080</c> / <c>http://+:8080</c> / <c>http://[::]:8080</c> (every address,
/// IPv6 and IPv4: one dual-stack socket), <c>http://0.0.0.0:8080</c> (IPv4 only) or <c>http://unix:/run/app.sock</c>
/// (a Unix domain socket).
/// </summary>
internal sealed record ListenAddress(string Scheme, string Host, IPAddress[] Addresses, int Port, string? UnixPath = null)
{
    /// <summary>True for an <c>https://</c> address: its connections start with a TLS handshake.</summary>
    public bool IsHttps => Scheme == "https";

    /// <summary>True for <c>http://unix:/path</c>.</summary>
    public bool IsUnix => UnixPath is not null;

    /// <summary>
    /// True when the host is not an IP literal, <c>localhost</c>, a wildcard or a Unix path: like Kestrel, Pounce
    /// binds every address for it (and says so in a warning).
    /// </summary>
    public bool IsHostName { get; private init; }

    /// <summary>Parses a URL; throws with a clear message naming it otherwise.</summary>
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
        if (rest.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            var path = rest[5..];
            if (path.Length == 0 || path[0] != '/')
                throw new InvalidOperationException($"Invalid Pounce listen address '{url}': a Unix socket needs an absolute path, e.g. http://unix:/run/app.sock.");
            return new ListenAddress(scheme, "unix", [], 0, path);
        }
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
            if (after.StartsWith(':') && !int.TryParse(after[1..], CultureInfo.InvariantCulture, out port))
                throw new InvalidOperationException($"Invalid Pounce listen address '{url}': bad port.");
        }
        else
        {
            var colon = rest.LastIndexOf(':');
            host = colon >= 0 ? rest[..colon] : rest;
            if (colon >= 0 && !int.TryParse(rest[(colon + 1)..], CultureInfo.InvariantCulture, out port))
                throw new InvalidOperationException($"Invalid Pounce listen address '{url}': bad port.");
        }
        if (port is < 0 or > 65535)
            throw new InvalidOperationException($"Invalid Pounce listen address '{url}': port must be 0 to 65535.");
        var hostName = false;
        IPAddress[] addresses;
        switch (host)
        {
            case "*" or "+" or "" or "::":
                addresses = [AnyAddress];
                break;
            case "0.0.0.0":
                addresses = [IPAddress.Any];
                break;
            case "localhost":
                addresses = Socket.OSSupportsIPv6 ? [IPAddress.Loopback, IPAddress.IPv6Loopback] : [IPAddress.Loopback];
                break;
            default:
                if (IPAddress.TryParse(host, out var ip))
                {
                    addresses = [ip];
                }
                else
                {
                    addresses = [AnyAddress];
                    hostName = true;
                }
                break;
        }
        return new ListenAddress(scheme, host, addresses, port) { IsHostName = hostName };
    }

    /// <summary>Every address: <c>[::]</c> dual-stack (IPv6 and IPv4 clients) where IPv6 exists, else <c>0.0.0.0</c>.</summary>
    private static IPAddress AnyAddress => Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any;

    /// <summary>The URL as bound, with the real port (<c>[::]</c> shown as Kestrel does, <c>http://[::]:8080</c>).</summary>
    public string Format(IPAddress address, int port)
    {
        if (IsUnix)
            return Scheme + "://unix:" + UnixPath;
        var host = Host == "localhost" ? "localhost" : address.AddressFamily == AddressFamily.InterNetworkV6 ? "[" + address + "]" : address.ToString();
        return Scheme + "://" + host + ":" + port.ToString(CultureInfo.InvariantCulture);
    }
}
