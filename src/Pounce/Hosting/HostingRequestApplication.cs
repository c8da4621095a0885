using System.Collections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Abstractions;
using Microsoft.AspNetCore.Http.Features;
using Pounce.Features;

namespace Pounce.Hosting;

/// <summary>Adapts ASP.NET Core hosting's <see cref="IHttpApplication{TContext}"/> to the protocols' <see cref="RequestApplication"/>.</summary>
internal sealed class HostingRequestApplication<TContext> : RequestApplication where TContext : notnull
{
    private readonly IHttpApplication<TContext> _application;

    public HostingRequestApplication(IHttpApplication<TContext> application) => _application = application;

    public override object? CreateContext(IFeatureCollection features)
    {
        // Hosting reuses its context (and the HttpContext) across the requests of a connection when the features
        // come with an IHostContextContainer, as Kestrel does.
        if (features is RequestContext request)
            features = request.ApplicationState as ReusableFeatures ?? (ReusableFeatures)(request.ApplicationState = new ReusableFeatures(request));
        return _application.CreateContext(features);
    }

    public override Task ProcessRequestAsync(object? context) => _application.ProcessRequestAsync((TContext)context!);

    public override void DisposeContext(object? context, Exception? exception)
    {
        if (context is not null)
            _application.DisposeContext((TContext)context, exception);
    }

    /// <summary>The request's features, plus the slot hosting keeps its per-connection context in.</summary>
    private sealed class ReusableFeatures : IFeatureCollection, IHostContextContainer<TContext>
    {
        private readonly RequestContext _request;
        private readonly IFeatureCollection _inner;

        public ReusableFeatures(RequestContext request)
        {
            _request = request;
            _inner = request;
        }

        public TContext? HostContext { get; set; }

        public bool IsReadOnly => _inner.IsReadOnly;

        public int Revision => _inner.Revision;

        public object? this[Type key]
        {
            get => _inner[key];
            set => _inner[key] = value;
        }

        // Called for every feature hosting and the application look up: one generic interface dispatch (to here), not two.
        public TFeature? Get<TFeature>() => _request.GetFeature<TFeature>();

        public void Set<TFeature>(TFeature? instance) => _request.SetFeature(instance);

        public IEnumerator<KeyValuePair<Type, object>> GetEnumerator() => _inner.GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => _inner.GetEnumerator();
    }
}
