using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Pounce.Compat.Tests;

/// <summary>A SignalR hub called by the .NET client (Microsoft.AspNetCore.SignalR.Client) over each of its transports.</summary>
public sealed class SignalRCompatTests
{
    public static TheoryData<ServerKind, HttpTransportType> Cases()
    {
        var data = new TheoryData<ServerKind, HttpTransportType>();
        foreach (var kind in ServerKinds.Both)
        {
            foreach (var transport in new[] { HttpTransportType.WebSockets, HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling })
                data.Add(kind, transport);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Hub_invocation_server_push_and_streaming_over_each_transport(ServerKind kind, HttpTransportType transport)
    {
        await using var host = await CompatHost.StartAsync(kind,
            services => services.AddSignalR(o => o.MaximumReceiveMessageSize = 1024 * 1024),
            app => app.MapHub<ChatHub>("/hub"));
        await using var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(host.BaseAddress, "hub"), transport)
            .Build();
        var pushed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.On<string>("pushed", text => pushed.TrySetResult(text));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await connection.StartAsync(cts.Token);

        Assert.Equal("echo: hello", await connection.InvokeAsync<string>("Echo", "hello", cts.Token));
        await connection.InvokeAsync("Push", "news", cts.Token);
        Assert.Equal("news", await pushed.Task.WaitAsync(cts.Token));
        var streamed = new List<int>();
        await foreach (var n in connection.StreamAsync<int>("Count", 5, cts.Token))
            streamed.Add(n);
        Assert.Equal([0, 1, 2, 3, 4], streamed);
        // A larger message than one read's worth.
        var big = new string('x', 100_000);
        Assert.Equal("echo: " + big, await connection.InvokeAsync<string>("Echo", big, cts.Token));

        await connection.StopAsync(cts.Token);
        Assert.Equal(HubConnectionState.Disconnected, connection.State);
    }
}

/// <summary>The hub.</summary>
public sealed class ChatHub : Hub
{
    public string Echo(string text) => "echo: " + text;

    public Task Push(string text) => Clients.Caller.SendAsync("pushed", text);

    public async IAsyncEnumerable<int> Count(int n)
    {
        for (var i = 0; i < n; i++)
        {
            await Task.Yield();
            yield return i;
        }
    }
}
