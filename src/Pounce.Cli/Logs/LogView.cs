using System.Text.Json;
using Pounce.Cli.Logs.Views;
using Spectre.Console;

namespace Pounce.Cli.Logs;

/// <summary>The views of <c>pounce logs</c>, by subcommand name: a table renderer and a <c>--json</c> writer each.</summary>
internal sealed record LogView(string Name, string Description, Action<IAnsiConsole, LogStats> Render, Action<Utf8JsonWriter, LogStats> WriteJson)
{
    public static readonly LogView Summary = new("summary", "time span, requests, status classes, latency percentiles overall and for the slowest paths, slow requests, disconnects, close reasons, protocols, requests per connection (the default)", SummaryView.Render, SummaryView.WriteJson);
    public static readonly LogView Slow = new("slow", "slow requests: how many, on which paths, the slowest of them", SlowView.Render, SlowView.WriteJson);
    public static readonly LogView Trace = new("trace", "one connection's or one request's whole story in order, the application's own lines included (ID: a connection id, a request id like 12-3, or a trace id)", TraceView.Render, TraceView.WriteJson);
    public static readonly LogView Disconnects = new("disconnects", "clients that went away mid-request, by client address and by path", DisconnectsView.Render, DisconnectsView.WriteJson);
    public static readonly LogView Workers = new("workers", "how connections and requests spread over the workers", WorkersView.Render, WorkersView.WriteJson);
    public static readonly LogView Reuse = new("reuse", "keep-alive: requests served per connection", ReuseView.Render, ReuseView.WriteJson);
    public static readonly LogView Reasons = new("reasons", "why connections ended: reason and detail", ReasonsView.Render, ReasonsView.WriteJson);

    public static readonly LogView[] All = [Summary, Slow, Trace, Disconnects, Workers, Reuse, Reasons];
}
