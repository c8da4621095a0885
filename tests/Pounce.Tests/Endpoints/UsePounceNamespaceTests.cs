using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Pounce.Hosting;

namespace Pounce.Tests.Endpoints;

/// <summary>
/// UsePounce is found with only Microsoft.AspNetCore.Hosting imported (where UseKestrel lives), and a file that imports
/// Pounce.Hosting as well still compiles (this file imports both): switching servers is one line.
/// </summary>
public sealed class UsePounceNamespaceTests
{
    [Fact]
    public void BothNamespacesImported_UsePounceResolves_OnTheConcreteBuilderAndOnTheInterface()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UsePounce(c => c.Port = 0);
        IWebHostBuilder asInterface = builder.WebHost;
        asInterface.UsePounce();
        using var app = builder.Build();
        Assert.IsType<PounceServer>(app.Services.GetRequiredService<IServer>());
    }

    [Fact]
    public void OnlyMicrosoftAspNetCoreHosting_IsNeeded()
    {
        var builder = WebApplication.CreateSlimBuilder();
        PounceHostingExtensions.UsePounce(builder.WebHost, c => c.Port = 0);
        using var app = builder.Build();
        Assert.IsType<PounceServer>(app.Services.GetRequiredService<IServer>());
    }
}
