using Microsoft.Extensions.Logging;
using Pounce.Connections;
using Pounce.Lifecycle;
using Pounce.Logging;

namespace Pounce.Tests.Lifecycle;

/// <summary>
/// The ILogger states of the access line and of request events build their properties and text only when a provider
/// asks: what they report must still be the request as it was when it was logged, after the connection's reused
/// <see cref="RequestInfo"/> has moved on to the next request, and identical to the eager snapshot.
/// </summary>
public sealed class LogStateSnapshotTests
{
    [Fact]
    public void AccessLogState_ReportsTheLoggedRequest_AfterTheRecordIsReused()
    {
        var c = LifecycleTestKit.Connection(id: 77);
        var r = LifecycleTestKit.Request(c, sequence: 3, method: "POST", path: "/users", status: 201, bytes: 45);
        var now = new DateTime(2026, 12, 5, 3, 4, 5, DateTimeKind.Utc);
        var expectedLine = new LineBuffer(256);
        TextLineFormatter.WriteAccess(expectedLine, now, c, r, 2.5);
        var expectedText = System.Text.Encoding.UTF8.GetString(expectedLine.WrittenSpan[..^1]);

        var state = AccessLogState.Create(now, c, r, 2.5, r.Status, abandoned: false);
        Reuse(c, r);

        Assert.Equal(expectedText, state.ToString());
        var fields = state.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal(77L, fields["connection_id"]);
        Assert.Equal("77-3", fields["request_id"]);
        Assert.Equal("POST", fields["method"]);
        Assert.Equal("/users", fields["path"]);
        Assert.Equal(201, fields["status"]);
        Assert.Equal(45L, fields["bytes_sent"]);
        Assert.Equal(2.5, fields["duration_ms"]);
        Assert.Equal("curl/8.5.0", fields["user_agent"]);
        Assert.Equal(11, state.Count);
    }

    [Theory]
    [InlineData(LifecycleEventKind.RequestStarted)]
    [InlineData(LifecycleEventKind.ResponseCompleted)]
    [InlineData(LifecycleEventKind.ClientDisconnected)]
    public void RequestEventState_EqualsTheEagerSnapshot_AfterTheRecordIsReused(LifecycleEventKind kind)
    {
        var c = LifecycleTestKit.Connection(id: 78);
        var r = LifecycleTestKit.Request(c, sequence: 5, path: "/json", status: 200, bytes: 27, durationMs: 1.25);
        var e = new LifecycleEvent(kind, LogLevel.Debug, new DateTime(2026, 12, 5, 3, 4, 5, DateTimeKind.Utc), c, r, 1.25);
        var eager = e.GetFields().Select(p => $"{p.Key}={p.Value}").ToArray();
        var eagerText = LifecycleLogState.Render(e.GetFields());

        var state = LifecycleLogState.For(in e);
        Reuse(c, r);

        Assert.Equal(eager, state.Select(p => $"{p.Key}={p.Value}").ToArray());
        Assert.Equal(eagerText, state.ToString());
    }

    // What the next request on the connection does to the shared record.
    private static void Reuse(ConnectionInfo c, RequestInfo r)
    {
        r.Reset(c.ConnectionId, r.Sequence + 1, 0);
        r.Method = "GET";
        r.Path = "/other";
        r.Status = 404;
        r.BytesSent = 9;
        r.UserAgent = "wrk";
        r.ResponseStarted = false;
    }
}
