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

// What the app sees of its configuration: its own appsettings.json (found from its content root) and its args.
app.MapGet("/config", (IConfiguration configuration) => Results.Json(new
{
    greeting = configuration["HelloApp:Greeting"],
    fromArgs = configuration["HelloApp:FromArgs"],
    environment = app.Environment.EnvironmentName,
    applicationName = app.Environment.ApplicationName,
    contentRoot = app.Environment.ContentRootPath,
    baseDirectory = AppContext.BaseDirectory,
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
