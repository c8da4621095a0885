using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Pounce.Compat.Tests.Protos;

namespace Pounce.Compat.Tests;

/// <summary>
/// A Grpc.AspNetCore service called by Grpc.Net.Client over h2c: every call shape, deadlines, trailers, and a bidi
/// stream that stays quiet longer than the body limits (shortened here) without being cut off.
/// </summary>
public sealed class GrpcCompatTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(1.2);

    private static Task<CompatHost> StartAsync(ServerKind kind) => CompatHost.StartAsync(kind,
        services =>
        {
            services.AddGrpc();
            services.AddSingleton<EchoService.Probe>();
        },
        app => app.MapGrpcService<EchoService>(),
        // Shortened limits: a body quiet for longer than these would be cut off if the server ignored gRPC's
        // IHttpMinRequestBodyDataRateFeature = null on streaming calls.
        kestrel: o => o.Limits.MinRequestBodyDataRate = new MinDataRate(240, Grace),
        pounce: c =>
        {
            c.MinRequestBodyDataRate = 240;
            c.MinRequestBodyDataRateGracePeriod = Grace;
            c.BodyReadTimeout = TimeSpan.FromSeconds(1); // the old 30 s body timeout, shortened
        });

    private static GrpcChannel Channel(CompatHost host) => GrpcChannel.ForAddress(host.Http2Address);

    private static CancellationToken Timeout() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    [Theory]
    [MemberData(nameof(ServerKinds.Each), MemberType = typeof(ServerKinds))]
    public async Task Unary_call_with_response_headers_and_trailers(ServerKind kind)
    {
        await using var host = await StartAsync(kind);
        using var channel = Channel(host);
        var client = new Echo.EchoClient(channel);
        using var call = client.UnaryAsync(new EchoRequest { Text = "hello" }, cancellationToken: Timeout());
        var reply = await call.ResponseAsync;
        Assert.Equal("echo: hello", reply.Text);
        Assert.Equal("yes", (await call.ResponseHeadersAsync).GetValue("x-header"));
        Assert.Equal("5", call.GetTrailers().GetValue("x-length"));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Theory]
    [MemberData(nameof(ServerKinds.Each), MemberType = typeof(ServerKinds))]
    public async Task Server_streaming_call(ServerKind kind)
    {
        await using var host = await StartAsync(kind);
        using var channel = Channel(host);
        using var call = new Echo.EchoClient(channel).ServerStream(new EchoRequest { Text = "n", Count = 50 }, cancellationToken: Timeout());
        var indexes = new List<int>();
        await foreach (var reply in call.ResponseStream.ReadAllAsync())
            indexes.Add(reply.Index);
        Assert.Equal(Enumerable.Range(0, 50), indexes);
        Assert.Equal("50", call.GetTrailers().GetValue("x-count"));
    }

    [Theory]
    [MemberData(nameof(ServerKinds.Each), MemberType = typeof(ServerKinds))]
    public async Task Client_streaming_call(ServerKind kind)
    {
        await using var host = await StartAsync(kind);
        using var channel = Channel(host);
        using var call = new Echo.EchoClient(channel).ClientStream(cancellationToken: Timeout());
        for (var i = 0; i < 20; i++)
            await call.RequestStream.WriteAsync(new EchoRequest { Text = i.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        await call.RequestStream.CompleteAsync();
        var reply = await call.ResponseAsync;
        Assert.Equal(string.Concat(Enumerable.Range(0, 20)), reply.Text);
        Assert.Equal(20, reply.Index);
    }

    [Theory]
    [MemberData(nameof(ServerKinds.Each), MemberType = typeof(ServerKinds))]
    public async Task Bidi_streaming_call_stays_open_while_the_client_is_quiet_past_the_body_limits(ServerKind kind)
    {
        await using var host = await StartAsync(kind);
        using var channel = Channel(host);
        using var call = new Echo.EchoClient(channel).Bidi(cancellationToken: Timeout());
        await call.RequestStream.WriteAsync(new EchoRequest { Text = "first" });
        Assert.True(await call.ResponseStream.MoveNext(Timeout()));
        Assert.Equal("first", call.ResponseStream.Current.Text);
        // Quiet for more than twice the grace period and BodyReadTimeout (time has to pass: that is what is tested).
        await Task.Delay(Grace * 2.5);
        await call.RequestStream.WriteAsync(new EchoRequest { Text = "second" });
        Assert.True(await call.ResponseStream.MoveNext(Timeout()));
        Assert.Equal("second", call.ResponseStream.Current.Text);
        Assert.Equal(1, call.ResponseStream.Current.Index);
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(Timeout()));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Theory]
    [MemberData(nameof(ServerKinds.Each), MemberType = typeof(ServerKinds))]
    public async Task Deadline_exceeded_is_reported_to_the_client_and_cancels_the_server_call(ServerKind kind)
    {
        await using var host = await StartAsync(kind);
        var service = host.Services.GetRequiredService<EchoService.Probe>();
        using var channel = Channel(host);
        var client = new Echo.EchoClient(channel);
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.WaitAsync(new WaitRequest { Milliseconds = 20_000 }, deadline: DateTime.UtcNow.AddMilliseconds(300)));
        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        // The server's call saw its CancellationToken fire (the deadline reached the server through grpc-timeout).
        Assert.True(await service.WaitCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        // The connection is still good for the next call.
        Assert.Equal("echo: after", (await client.UnaryAsync(new EchoRequest { Text = "after" }, cancellationToken: Timeout())).Text);
    }

    [Theory]
    [MemberData(nameof(ServerKinds.Each), MemberType = typeof(ServerKinds))]
    public async Task Error_status_and_trailers_reach_the_client(ServerKind kind)
    {
        await using var host = await StartAsync(kind);
        using var channel = Channel(host);
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Echo.EchoClient(channel).UnaryAsync(new EchoRequest { Text = "fail" }, cancellationToken: Timeout()));
        Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Equal("asked to fail", ex.Status.Detail);
        Assert.Equal("why", ex.Trailers.GetValue("x-reason"));
    }
}

/// <summary>The service: echoes in each call shape.</summary>
public sealed class EchoService(EchoService.Probe probe) : Echo.EchoBase
{
    /// <summary>What the scenarios observe server-side.</summary>
    public sealed class Probe
    {
        public TaskCompletionSource<bool> WaitCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public override async Task<EchoReply> Unary(EchoRequest request, ServerCallContext context)
    {
        if (request.Text == "fail")
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "asked to fail"), new Metadata { { "x-reason", "why" } });
        await context.WriteResponseHeadersAsync(new Metadata { { "x-header", "yes" } });
        context.ResponseTrailers.Add("x-length", request.Text.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return new EchoReply { Text = "echo: " + request.Text };
    }

    public override async Task ServerStream(EchoRequest request, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        for (var i = 0; i < request.Count; i++)
            await responseStream.WriteAsync(new EchoReply { Text = request.Text, Index = i });
        context.ResponseTrailers.Add("x-count", request.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public override async Task<EchoReply> ClientStream(IAsyncStreamReader<EchoRequest> requestStream, ServerCallContext context)
    {
        var text = new System.Text.StringBuilder();
        var count = 0;
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            text.Append(request.Text);
            count++;
        }
        return new EchoReply { Text = text.ToString(), Index = count };
    }

    public override async Task Bidi(IAsyncStreamReader<EchoRequest> requestStream, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        var i = 0;
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
            await responseStream.WriteAsync(new EchoReply { Text = request.Text, Index = i++ });
    }

    public override async Task<EchoReply> Wait(WaitRequest request, ServerCallContext context)
    {
        try
        {
            await Task.Delay(request.Milliseconds, context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            probe.WaitCancelled.TrySetResult(true);
            throw;
        }
        return new EchoReply { Text = "waited" };
    }
}
