using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;
using static Pounce.Tests.Lifecycle.LifecycleTestKit;

namespace Pounce.Tests.Lifecycle;

public class LifecycleEmitterTests
{
    private static (LifecycleEmitter Emitter, RecordingObserver Observer) Emitter(ServerConfig config)
    {
        var observer = new RecordingObserver();
        var emitter = new LifecycleEmitter(config, null, null, [observer]);
        return (emitter, observer);
    }

    private static void WholeConnection(LifecycleEmitter emitter, ConnectionInfo c, params RequestInfo[] requests)
    {
        emitter.ConnectionOpened(c);
        foreach (var r in requests)
            Serve(emitter, c, r);
        c.ReportEnd(ConnectionEnd.ClientClosedIdle);
        emitter.ConnectionCompleted(c);
    }

    [Fact]
    public void Debug_level_emits_the_whole_life_of_a_connection_in_order()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug));
        var c = Connection();
        WholeConnection(emitter, c, Request(c, 1), Request(c, 2));

        Assert.Equal(
            [LifecycleEventKind.ConnectionOpened, LifecycleEventKind.RequestStarted, LifecycleEventKind.ResponseCompleted,
             LifecycleEventKind.RequestStarted, LifecycleEventKind.ResponseCompleted, LifecycleEventKind.ConnectionCompleted],
            observer.Kinds);
        Assert.All(observer.Events, e => Assert.Equal(LogLevel.Debug, e.Level));
        var completed = observer.Events[^1];
        Assert.Equal(2, completed["requests_served"]);
        Assert.Equal(246L, completed["total_bytes_sent"]);
        Assert.Equal("complete", completed["reason"]);
        Assert.Equal("client_closed", completed["detail"]);
        Assert.Equal("h1", completed["protocol"]);
        Assert.Equal("203.0.113.7", completed["client_addr"]);
        Assert.Equal($"{c.ConnectionId}-2", observer.Events[3]["request_id"]);
    }

    [Fact]
    public void Nothing_is_emitted_when_lifecycle_logging_is_off()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug, lifecycle: false));
        var c = Connection();
        var slow = Request(c, 1, durationMs: 60_000);
        WholeConnection(emitter, c, slow);
        emitter.ClientDisconnected(c, slow);
        Assert.Empty(observer.Events);
        Assert.False(emitter.IsEnabled);
    }

    [Fact]
    public void Info_level_emits_only_slow_responses_and_disconnects()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Information, slowSeconds: 1));
        var c = Connection();
        var fast = Request(c, 1, durationMs: 5);
        var slow = Request(c, 2, durationMs: 1500);
        var vanished = Request(c, 3);
        emitter.ConnectionOpened(c);
        Serve(emitter, c, fast);
        Serve(emitter, c, slow);
        emitter.RequestStarted(c, vanished);
        emitter.ClientDisconnected(c, vanished);
        c.ReportEnd(ConnectionEnd.PeerReset);
        emitter.ConnectionCompleted(c);

        Assert.Equal([LifecycleEventKind.ResponseCompleted, LifecycleEventKind.ClientDisconnected], observer.Kinds);
        Assert.Equal(LogLevel.Information, observer.Events[0].Level);
        Assert.Equal(true, observer.Events[0]["slow"]);
        Assert.Equal(1500.0, observer.Events[0]["duration_ms"]);
        Assert.Equal(LogLevel.Warning, observer.Events[1].Level);
        Assert.Equal(true, observer.Events[1]["during_streaming"]);
    }

    [Fact]
    public void Warning_level_emits_only_disconnects()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Warning, slowSeconds: 1));
        var c = Connection();
        var slow = Request(c, 1, durationMs: 1500);
        emitter.ConnectionOpened(c);
        Serve(emitter, c, slow);
        var vanished = Request(c, 2);
        vanished.ResponseStarted = false;
        emitter.RequestStarted(c, vanished);
        emitter.ClientDisconnected(c, vanished);
        emitter.ConnectionCompleted(c);

        var e = Assert.Single(observer.Events);
        Assert.Equal(LifecycleEventKind.ClientDisconnected, e.Kind);
        Assert.Equal(false, e["during_streaming"]);
    }

    [Fact]
    public void Error_level_emits_nothing()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Error));
        var c = Connection();
        var r = Request(c);
        emitter.ConnectionOpened(c);
        emitter.RequestStarted(c, r);
        emitter.ClientDisconnected(c, r);
        emitter.ConnectionCompleted(c);
        Assert.Empty(observer.Events);
    }

    [Theory]
    [InlineData(499.999, false)]
    [InlineData(500.0, true)]
    [InlineData(500.001, true)]
    public void Slow_flag_is_duration_at_or_over_the_threshold(double durationMs, bool slow)
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug, slowSeconds: 0.5));
        var c = Connection();
        emitter.ConnectionOpened(c);
        Serve(emitter, c, Request(c, durationMs: durationMs));

        var e = observer.Events.Single(x => x.Kind == LifecycleEventKind.ResponseCompleted);
        Assert.Equal(slow, e.Slow);
        Assert.Equal(slow, e.Has("slow"));
        Assert.Equal(slow ? LogLevel.Information : LogLevel.Debug, e.Level);
    }

    [Fact]
    public void Streaming_responses_are_never_slow()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug, slowSeconds: 0.5));
        var c = Connection();
        var sse = Request(c, durationMs: 120_000);
        sse.IsStreaming = true;
        emitter.ConnectionOpened(c);
        Serve(emitter, c, sse);
        var e = observer.Events.Single(x => x.Kind == LifecycleEventKind.ResponseCompleted);
        Assert.False(e.Slow);
        Assert.False(e.Has("slow"));
        Assert.Equal(LogLevel.Debug, e.Level);

        var (infoEmitter, infoObserver) = Emitter(Config(LogLevel.Information, slowSeconds: 0.5));
        infoEmitter.ResponseCompleted(c, sse);
        Assert.Empty(infoObserver.Events);
    }

    [Fact]
    public void A_connection_that_only_carried_health_checks_is_silent()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug, healthCheckPath: "/health"));
        var c = Connection();
        WholeConnection(emitter, c, Request(c, 1, path: "/health"), Request(c, 2, path: "/health"));
        Assert.Empty(observer.Events);
    }

    [Fact]
    public void A_health_check_connection_is_silent_even_without_ConnectionOpened()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug, healthCheckPath: "/health"));
        var c = Connection();
        Serve(emitter, c, Request(c, 1, path: "/health"));
        emitter.ConnectionCompleted(c);
        Assert.Empty(observer.Events);
    }

    [Fact]
    public void A_connection_with_no_request_is_not_silenced_by_the_health_check_filter()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug, healthCheckPath: "/health"));
        var c = Connection(protocol: ConnectionProtocol.Unknown);
        emitter.ConnectionOpened(c);
        c.ReportEnd(ConnectionEnd.HeaderTimeout);
        emitter.ConnectionCompleted(c);

        Assert.Equal([LifecycleEventKind.ConnectionOpened, LifecycleEventKind.ConnectionCompleted], observer.Kinds);
        Assert.Equal("unknown", observer.Events[0]["protocol"]);
        Assert.Equal("timeout", observer.Events[1]["reason"]);
        Assert.Equal("header_timeout", observer.Events[1]["detail"]);
    }

    [Fact]
    public void Health_checks_are_filtered_from_a_mixed_connection_but_counted()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug, healthCheckPath: "/health"));
        var c = Connection();
        WholeConnection(emitter, c, Request(c, 1, path: "/health"), Request(c, 2, path: "/api"), Request(c, 3, path: "/health"));

        Assert.Equal(
            [LifecycleEventKind.ConnectionOpened, LifecycleEventKind.RequestStarted, LifecycleEventKind.ResponseCompleted,
             LifecycleEventKind.ConnectionCompleted],
            observer.Kinds);
        Assert.All(observer.Events.Where(e => e.Has("path")), e => Assert.Equal("/api", e["path"]));
        Assert.Equal(3, observer.Events[^1]["requests_served"]);
    }

    [Fact]
    public void Health_check_path_must_match_exactly()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug, healthCheckPath: "/health"));
        var c = Connection();
        WholeConnection(emitter, c, Request(c, 1, path: "/healthz"));
        Assert.Equal(4, observer.Events.Count);
    }

    [Fact]
    public void Health_check_slow_successes_are_filtered_at_info_but_an_abandoned_one_is_logged()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Information, healthCheckPath: "/health", slowSeconds: 0.001));
        var c = Connection();
        var r = Request(c, 1, path: "/health", durationMs: 50);
        emitter.ConnectionOpened(c);
        Serve(emitter, c, r);
        Assert.Empty(observer.Events);
        var abandoned = Request(c, 2, path: "/health", durationMs: 50);
        emitter.RequestStarted(c, abandoned);
        emitter.ClientDisconnected(c, abandoned);
        emitter.ConnectionCompleted(c);
        Assert.Equal([LifecycleEventKind.ClientDisconnected], observer.Kinds);
    }

    [Fact]
    public void ConnectionCompleted_is_emitted_once_and_nothing_follows_it()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug));
        var c = Connection();
        emitter.ConnectionOpened(c);
        emitter.ConnectionCompleted(c);
        emitter.ConnectionCompleted(c);
        var late = Request(c);
        emitter.RequestStarted(c, late);
        emitter.ResponseCompleted(c, late);
        emitter.ClientDisconnected(c, late);
        Assert.Equal([LifecycleEventKind.ConnectionOpened, LifecycleEventKind.ConnectionCompleted], observer.Kinds);
    }

    [Fact]
    public void A_missing_ConnectionOpened_is_supplied_before_the_first_event()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug));
        var c = Connection();
        Serve(emitter, c, Request(c));
        emitter.ConnectionCompleted(c);
        emitter.ConnectionOpened(c);
        Assert.Equal(
            [LifecycleEventKind.ConnectionOpened, LifecycleEventKind.RequestStarted, LifecycleEventKind.ResponseCompleted,
             LifecycleEventKind.ConnectionCompleted],
            observer.Kinds);
    }

    [Fact]
    public void Concurrent_streams_get_one_ConnectionOpened_which_comes_first()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug, healthCheckPath: "/health"));
        var c = Connection(protocol: ConnectionProtocol.H2);
        emitter.ConnectionOpened(c);
        using var start = new Barrier(8);
        var threads = Enumerable.Range(1, 8).Select(i => new Thread(() =>
        {
            var r = Request(c, i, streamId: 2 * i - 1);
            start.SignalAndWait();
            Serve(emitter, c, r);
        })).ToArray();
        foreach (var t in threads)
            t.Start();
        foreach (var t in threads)
            t.Join();
        emitter.ConnectionCompleted(c);

        var kinds = observer.Kinds;
        Assert.Equal(LifecycleEventKind.ConnectionOpened, kinds[0]);
        Assert.Single(kinds, k => k == LifecycleEventKind.ConnectionOpened);
        Assert.Equal(8, kinds.Count(k => k == LifecycleEventKind.RequestStarted));
        Assert.Equal(8, kinds.Count(k => k == LifecycleEventKind.ResponseCompleted));
        Assert.Equal(LifecycleEventKind.ConnectionCompleted, kinds[^1]);
        Assert.Equal(8, observer.Events[^1]["requests_served"]);
    }

    [Fact]
    public void Fields_are_in_the_contracts_order()
    {
        var (emitter, observer) = Emitter(Config(LogLevel.Debug, slowSeconds: 0.001));
        var c = Connection();
        var r = Request(c, durationMs: 10);
        emitter.ConnectionOpened(c);
        emitter.RequestStarted(c, r);
        c.Protocol = ConnectionProtocol.WebSocket; // as the server sets it before the event
        emitter.ConnectionUpgraded(c, r);
        emitter.ClientDisconnected(c, r);
        emitter.ConnectionCompleted(c);
        var h2 = Request(c, 2, streamId: 5);
        h2.TraceId = ActivityTraceId.CreateRandom();
        h2.SpanId = ActivitySpanId.CreateRandom();
        h2.HasTrace = true;
        var c2 = Connection();
        emitter.RequestStarted(c2, h2);
        emitter.ResponseCompleted(c2, h2);

        var e = observer.Events;
        Assert.Equal(OpenedKeys, e[0].Keys);
        Assert.Equal(StartedKeys, e[1].Keys);
        Assert.Equal(UpgradedKeys, e[2].Keys);
        Assert.Equal(DisconnectedKeys, e[3].Keys);
        Assert.Equal(CompletedKeys, e[4].Keys);
        Assert.Equal([.. StartedKeys, "stream_id", "trace_id", "span_id"], e[6].Keys);
        Assert.Equal(["event", "connection_id", "worker_id", "timestamp", "level", "status", "bytes_sent", "duration_ms", "slow",
            "method", "path", "request_id", "stream_id", "trace_id", "span_id"], e[7].Keys);
        Assert.Equal(h2.TraceId.ToHexString(), e[7]["trace_id"]);
        Assert.Equal("websocket", e[2]["protocol"]);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", (string)e[0]["timestamp"]!);
    }

    [Fact]
    public void Observers_can_be_added_and_removed_and_their_faults_are_contained()
    {
        var emitter = new LifecycleEmitter(Config(LogLevel.Debug));
        var observer = new RecordingObserver();
        var registration = emitter.AddObserver(observer);
        emitter.AddObserver(new ThrowingObserver());
        var c = Connection();
        emitter.ConnectionOpened(c);
        registration.Dispose();
        emitter.ConnectionCompleted(c);

        Assert.Equal([LifecycleEventKind.ConnectionOpened], observer.Kinds);
        Assert.Equal(2, emitter.ObserverFaults);
    }

    private sealed class ThrowingObserver : ILifecycleObserver
    {
        public void OnEvent(in LifecycleEvent e) => throw new InvalidOperationException("observer bug");
    }
}
