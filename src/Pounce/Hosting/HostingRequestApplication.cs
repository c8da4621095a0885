using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Pounce.Features;

namespace Pounce.Hosting;

/// <summary>Adapts ASP.NET Core hosting's <see cref="IHttpApplication{TContext}"/> to the protocols' <see cref="RequestApplication"/>.</summary>
internal sealed class HostingRequestApplication<TContext> : RequestApplication where TContext : notnull
{
    private readonly IHttpApplication<TContext> _application;

    public HostingRequestApplication(IHttpApplication<TContext> application) => _application = application;

    public override object? CreateContext(IFeatureCollection features) => _application.CreateContext(features);

    public override Task ProcessRequestAsync(object? context) => _application.ProcessRequestAsync((TContext)context!);

    public override void DisposeContext(object? context, Exception? exception)
    {
        if (context is not null)
            _application.DisposeContext((TContext)context, exception);
    }
}
