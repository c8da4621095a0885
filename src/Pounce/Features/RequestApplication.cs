using Microsoft.AspNetCore.Http.Features;

namespace Pounce.Features;

/// <summary>
/// The application as the protocol layers see it: create a context over a request's features, run it, dispose it.
/// Hosting adapts ASP.NET Core's <c>IHttpApplication&lt;TContext&gt;</c> to it; tests can run a plain delegate.
/// </summary>
public abstract class RequestApplication
{
    /// <summary>Creates the per-request application context.</summary>
    public abstract object? CreateContext(IFeatureCollection features);

    /// <summary>Runs the application for one request.</summary>
    public abstract Task ProcessRequestAsync(object? context);

    /// <summary>Releases the context; <paramref name="exception"/> is the application's unhandled exception, if any.</summary>
    public abstract void DisposeContext(object? context, Exception? exception);
}

/// <summary>A <see cref="RequestApplication"/> that runs a delegate over the feature collection (tests, benchmarks).</summary>
public sealed class DelegateRequestApplication : RequestApplication
{
    private readonly Func<IFeatureCollection, Task> _handler;

    /// <summary>Wraps <paramref name="handler"/>.</summary>
    public DelegateRequestApplication(Func<IFeatureCollection, Task> handler) => _handler = handler;

    /// <inheritdoc />
    public override object? CreateContext(IFeatureCollection features) => features;

    /// <inheritdoc />
    public override Task ProcessRequestAsync(object? context) => _handler((IFeatureCollection)context!);

    /// <inheritdoc />
    public override void DisposeContext(object? context, Exception? exception) { }
}
