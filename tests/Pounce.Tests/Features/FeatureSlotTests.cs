using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Microsoft.AspNetCore.Routing;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.Features;

/// <summary>
/// The features that routing and hosting set on every request live in fixed slots of the request context: they must
/// behave like any feature collection's entries (set, get, remove, enumerate) and never leak into the next request on
/// the same keep-alive connection.
/// </summary>
public sealed class FeatureSlotTests
{
    [Fact]
    public void Each_named_slot_is_the_index_of_its_feature_type()
    {
        // The fast paths (GetFeature's type chain, SetFeature's per-type slot) index the slots by these constants.
        (int Slot, Type Type)[] named =
        [
            (Pounce.Features.FeatureSlots.Request, typeof(IHttpRequestFeature)),
            (Pounce.Features.FeatureSlots.Response, typeof(IHttpResponseFeature)),
            (Pounce.Features.FeatureSlots.ResponseBody, typeof(IHttpResponseBodyFeature)),
            (Pounce.Features.FeatureSlots.Connection, typeof(IHttpConnectionFeature)),
            (Pounce.Features.FeatureSlots.RequestIdentifier, typeof(IHttpRequestIdentifierFeature)),
            (Pounce.Features.FeatureSlots.RequestLifetime, typeof(IHttpRequestLifetimeFeature)),
            (Pounce.Features.FeatureSlots.MaxRequestBodySize, typeof(IHttpMaxRequestBodySizeFeature)),
            (Pounce.Features.FeatureSlots.ResponseTrailers, typeof(IHttpResponseTrailersFeature)),
            (Pounce.Features.FeatureSlots.RequestTrailers, typeof(IHttpRequestTrailersFeature)),
            (Pounce.Features.FeatureSlots.Upgrade, typeof(IHttpUpgradeFeature)),
            (Pounce.Features.FeatureSlots.TlsConnection, typeof(ITlsConnectionFeature)),
            (Pounce.Features.FeatureSlots.TlsHandshake, typeof(Microsoft.AspNetCore.Connections.Features.ITlsHandshakeFeature)),
            (Pounce.Features.FeatureSlots.Endpoint, typeof(IEndpointFeature)),
            (Pounce.Features.FeatureSlots.RouteValues, typeof(IRouteValuesFeature)),
        ];
        foreach (var (slot, type) in named)
            Assert.True(Pounce.Features.FeatureSlots.IndexOf(type) == slot, $"{type.Name} is in slot {Pounce.Features.FeatureSlots.IndexOf(type)}, not {slot}");
        Assert.Equal(Pounce.Features.FeatureSlots.FirstStoredOnly, Pounce.Features.FeatureSlots.IndexOf(typeof(IServiceProvidersFeature)));
    }

    [Fact]
    public async Task RoutingFeatures_AreServedByTheContext_AndResetBetweenKeepAliveRequests()
    {
        await using var server = await TestServer.StartAppAsync(app =>
        {
            app.Use(async (ctx, next) =>
            {
                // Before routing: nothing from the previous request on this connection.
                var endpointBefore = ctx.GetEndpoint()?.DisplayName ?? "none";
                var valuesBefore = ctx.Request.RouteValues.Count;
                ctx.Items["before"] = $"{endpointBefore}|{valuesBefore}";
                await next(ctx);
            });
            app.UseRouting();
            app.MapGet("/users/{id:int}", (int id, HttpContext ctx) =>
            {
                var features = ctx.Features;
                var endpoint = features.Get<IEndpointFeature>()!;
                var routeValues = features.Get<IRouteValuesFeature>()!;
                return $"{ctx.Items["before"]}|{id}|{routeValues.RouteValues["id"]}|{endpoint.Endpoint!.DisplayName}|{endpoint.GetType().FullName!.StartsWith("Pounce.", StringComparison.Ordinal)}|{routeValues.GetType().FullName!.StartsWith("Pounce.", StringComparison.Ordinal)}";
            }).WithDisplayName("user-endpoint");
            app.MapGet("/plain", (HttpContext ctx) => $"{ctx.Items["before"]}|{ctx.Request.RouteValues.Count}|{ctx.GetEndpoint()!.DisplayName}")
                .WithDisplayName("plain-endpoint");
        });

        await using var client = await server.ConnectAsync();
        await client.SendAsync("GET /users/42 HTTP/1.1\r\nHost: x\r\n\r\n");
        var first = await client.ReadResponseAsync();
        Assert.Equal(200, first.Status);
        // The endpoint and route-values features are served by the server (no feature objects per request).
        Assert.Equal("none|0|42|42|user-endpoint|True|True", first.BodyText);

        await client.SendAsync("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
        var second = await client.ReadResponseAsync();
        Assert.Equal(200, second.Status);
        Assert.Equal("none|0|0|plain-endpoint", second.BodyText);

        await client.SendAsync("GET /users/7 HTTP/1.1\r\nHost: x\r\n\r\n");
        var third = await client.ReadResponseAsync();
        Assert.Equal("none|0|7|7|user-endpoint|True|True", third.BodyText);
    }

    [Fact]
    public async Task StoredOnlyFeatures_SetGetRemoveEnumerate_AndStartEmptyOnTheNextRequest()
    {
        await using var server = await TestServer.StartAsync(ctx =>
        {
            var features = ctx.Features;
            var report = new List<string>();

            // What hosting and the usual middleware set are stored as given (the first request sets them, the
            // second must find them empty again).
            var items = features.Get<IItemsFeature>();
            var auth = features.Get<IHttpAuthenticationFeature>();
            var cookies = features.Get<IResponseCookiesFeature>();
            report.Add($"auth-before={auth is not null}");
            report.Add($"cookies-before={cookies is not null}");
            report.Add($"items-before={(items is null ? "null" : items.Items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))}");

            var mine = new HttpAuthenticationFeature();
            var revision = features.Revision;
            features.Set<IHttpAuthenticationFeature>(mine);
            report.Add($"revision-bumped={features.Revision != revision}");
            report.Add($"auth-same={ReferenceEquals(features.Get<IHttpAuthenticationFeature>(), mine)}");
            report.Add($"auth-indexer={ReferenceEquals(features[typeof(IHttpAuthenticationFeature)], mine)}");
            var listed = 0;
            foreach (var pair in features)
            {
                if (pair.Key == typeof(IHttpAuthenticationFeature))
                    listed++;
            }
            report.Add($"auth-listed={listed}");
            features[typeof(IHttpAuthenticationFeature)] = null;
            report.Add($"auth-removed={features.Get<IHttpAuthenticationFeature>() is null}");

            // Something the server serves itself can be replaced and removed too.
            var endpoint = features.Get<IEndpointFeature>();
            report.Add($"endpoint-served={endpoint is not null}");
            features.Set<IEndpointFeature>(null);
            report.Add($"endpoint-removed={features.Get<IEndpointFeature>() is null}");

            ctx.Items["x"] = 1; // DefaultHttpContext stores an ItemsFeature in the collection
            return ctx.Response.WriteAsync(string.Join(',', report));
        });

        await using var client = await server.ConnectAsync();
        for (var i = 0; i < 2; i++)
        {
            await client.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            var response = await client.ReadResponseAsync();
            Assert.Equal(200, response.Status);
            Assert.Equal(
                "auth-before=False,cookies-before=False,items-before=null,revision-bumped=True,auth-same=True,auth-indexer=True," +
                "auth-listed=1,auth-removed=True,endpoint-served=True,endpoint-removed=True",
                response.BodyText);
        }
    }
    [Fact]
    public async Task CommonFeatures_AreTheContext_UntilReplacedOrRemoved_AndComeBackOnTheNextRequest()
    {
        // Request, response, response body, lifetime and connection features are answered without a lookup when the
        // application has not touched them; a replacement (compression middleware replacing the body feature) or a
        // removal must still be what Get returns, for this request only.
        await using var server = await TestServer.StartAsync(ctx =>
        {
            var features = ctx.Features;
            var self = features.Get<IHttpRequestFeature>()!;
            var report = new List<string>
            {
                $"same={ReferenceEquals(self, features.Get<IHttpResponseFeature>()) && ReferenceEquals(self, features.Get<IHttpResponseBodyFeature>()) && ReferenceEquals(self, features.Get<IHttpRequestLifetimeFeature>()) && ReferenceEquals(self, features.Get<IHttpConnectionFeature>())}",
            };
            if (ctx.Request.Path == "/change")
            {
                var body = new StreamResponseBodyFeature(Stream.Null);
                features.Set<IHttpResponseBodyFeature>(body);
                features.Set<IHttpConnectionFeature>(null);
                report.Add($"body-replaced={ReferenceEquals(features.Get<IHttpResponseBodyFeature>(), body)}");
                report.Add($"connection-removed={features.Get<IHttpConnectionFeature>() is null}");
                report.Add($"request-kept={ReferenceEquals(features.Get<IHttpRequestFeature>(), self)}");
                features.Set<IHttpResponseBodyFeature>((IHttpResponseBodyFeature)self); // the answer goes out normally
            }
            return ctx.Response.WriteAsync(string.Join(' ', report));
        });

        await using var client = await server.ConnectAsync();
        await client.SendAsync("GET /change HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("same=True body-replaced=True connection-removed=True request-kept=True", (await client.ReadResponseAsync()).BodyText);
        await client.SendAsync("GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("same=True", (await client.ReadResponseAsync()).BodyText);
    }
}
