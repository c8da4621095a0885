using Pounce;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>
/// <c>UsePounce</c> in the namespace where <c>UseKestrel</c> lives, so switching an app's server is one line
/// (<c>builder.WebHost.UseKestrel()</c> → <c>builder.WebHost.UsePounce()</c>) with no new <c>using</c>.
/// </summary>
public static class PounceHostingExtensions
{
    /// <summary>
    /// Uses Pounce as the application's server; the same as <see cref="Pounce.Hosting.PounceWebHostBuilderExtensions.UsePounce"/>
    /// (generic so that a file importing both namespaces still compiles: this overload is the better match).
    /// </summary>
    public static IWebHostBuilder UsePounce<TBuilder>(this TBuilder builder, Action<ServerConfig>? configure = null)
        where TBuilder : IWebHostBuilder
        => Pounce.Hosting.PounceWebHostBuilderExtensions.UsePounce(builder, configure);
}
