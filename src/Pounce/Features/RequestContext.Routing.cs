using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace Pounce.Features;

/// <summary>
/// The routing features, served by the context itself (as Kestrel's do) so that endpoint routing allocates no
/// <c>EndpointFeature</c> and no <c>RouteValuesFeature</c> per request, and setting them does not bump the feature
/// collection's revision (which makes <c>HttpContext</c> fetch every cached feature again).
/// </summary>
public abstract partial class RequestContext
{
    private RouteValueDictionary? _routeValues;

    /// <inheritdoc />
    Endpoint? IEndpointFeature.Endpoint { get; set; }

    /// <inheritdoc />
    RouteValueDictionary IRouteValuesFeature.RouteValues
    {
        get => _routeValues ??= new RouteValueDictionary();
        set => _routeValues = value;
    }

    private void ResetRouting()
    {
        ((IEndpointFeature)this).Endpoint = null;
        // A dictionary the application filled belongs to that request (it may have kept it): the next one gets its own.
        _routeValues = null;
    }
}
