// A minimal-API app that knows nothing of Pounce. Run it on Kestrel with `dotnet run`, or on Pounce,
// unchanged, with `pounce samples/HelloApp/bin/Debug/net10.0/HelloApp.dll`.
var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();

app.MapGet("/", () => "Hello from HelloApp!");

app.MapGet("/greet/{name}", (string name, ILogger<Greeting> logger) =>
{
    logger.LogInformation("Greeting {Name}", name);
    return Results.Json(new Greeting(name, $"Hello, {name}!"));
});

// Proves the app's own appsettings.json was found (its content root is its own directory).
app.MapGet("/config", (IConfiguration configuration) => Results.Json(new
{
    greeting = configuration["HelloApp:Greeting"],
    environment = app.Environment.EnvironmentName,
    applicationName = app.Environment.ApplicationName,
}));

app.MapPost("/reverse", async (HttpRequest request) =>
{
    using var reader = new StreamReader(request.Body);
    var text = await reader.ReadToEndAsync();
    var chars = text.ToCharArray();
    Array.Reverse(chars);
    return Results.Text(new string(chars));
});

app.Run();

internal sealed record Greeting(string Name, string Message);
