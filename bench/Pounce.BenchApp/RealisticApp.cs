namespace Pounce.BenchApp;

/// <summary>
/// A minimal-API app as people write it, started the way <c>dotnet new web</c> starts one: <c>CreateBuilder</c>, the
/// template's <c>appsettings.json</c> (copied next to the binary, found through the content root), the console logger
/// the template leaves in place (Pounce replaces it with its own writer), routing with <c>MapGet</c>/<c>MapPost</c>, a
/// route parameter, JSON results from the reflection-based serializer, a model-bound JSON body. Each server runs at its
/// own defaults, so Pounce's access log is on.
/// </summary>
internal static class RealisticApp
{
    private static readonly byte[] Body4K = BenchEndpoints.Fill(4 * 1024);
    private static readonly byte[] Body1M = BenchEndpoints.Fill(1024 * 1024);

    public static WebApplication Build(BenchOptions options)
    {
        // No command-line configuration (the flags are the interface); the content root is the binary's folder so the
        // template's appsettings.json is read wherever the app is started from.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        ServerSetup.Configure(builder, options, fallback: null);
        var app = builder.Build();

        app.UseWhen(WebSocketEcho.IsEchoPath, ws => ws.UseWebSockets().Run(WebSocketEcho.HandleAsync));

        app.MapGet("/plaintext", () => "Hello, World!");
        app.MapGet("/json", () => new Message("Hello, World!"));
        app.MapGet("/users/{id:int}", (int id) => new User(id, "user" + id, "user" + id + "@example.com", true));
        app.MapPost("/users", (User user) => TypedResults.Created("/users/" + user.Id, user));
        app.MapGet("/bytes/4k", () => TypedResults.Bytes(Body4K, "application/octet-stream"));
        app.MapGet("/bytes/1m", () => TypedResults.Bytes(Body1M, "application/octet-stream"));
        app.MapPost("/rpc", Pounce.Bench.GrpcShapedExchange.HandleAsync); // a unary gRPC call's shape
        return app;
    }
}

/// <summary>The <c>/json</c> result.</summary>
internal sealed record Message(string Text)
{
    /// <summary>Serialized as <c>message</c>, the TechEmpower shape.</summary>
    [System.Text.Json.Serialization.JsonPropertyName("message")]
    public string Text { get; init; } = Text;
}

/// <summary>The <c>/users</c> resource: a small JSON object, returned by GET and model-bound from POST bodies.</summary>
internal sealed record User(int Id, string Name, string Email, bool Active);
