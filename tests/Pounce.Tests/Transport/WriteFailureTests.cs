using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pounce.Lifecycle;
using Pounce.Tests.Infrastructure;
using Pounce.Tests.LifecycleE2E;

namespace Pounce.Tests.Transport;

/// <summary>
/// Sends that fail under a response, over real sockets: a client that resets while its response is being written
/// (broken pipe / connection reset), and a client that reads nothing until the response write timeout fires. Neither
/// is a server fault: the request gets its one ending, the application sees its request aborted (never a raw
/// <see cref="SocketException"/>), nothing is logged at error level, and <c>bytes_sent</c> counts what the socket took.
/// </summary>
public sealed class WriteFailureTests
{
    private const int ResponseSize = 32 * 1024 * 1024;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private sealed class AppOutcome
    {
        public readonly TaskCompletionSource<Exception?> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public volatile bool AbortedSeen;
        public long Written;
    }

    /// <summary>Keeps every log entry at error level or above.</summary>
    private sealed class ErrorLog : ILoggerProvider, ILogger
    {
        public readonly ConcurrentQueue<string> Errors = new();

        public ILogger CreateLogger(string categoryName) => this;

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error)
                Errors.Enqueue(formatter(state, exception) + " " + exception);
        }
    }

    private static async Task<(TestServer Server, EventRecorder Events, ErrorLog Errors)> StartAsync(AppOutcome outcome, Action<ServerConfig>? configure = null)
    {
        var errors = new ErrorLog();
        var server = await TestServer.StartAppAsync(app => app.Run(async context =>
        {
            var chunk = new byte[64 * 1024];
            Exception? seen = null;
            context.Response.ContentLength = ResponseSize;
            try
            {
                for (var sent = 0; sent < ResponseSize; sent += chunk.Length)
                {
                    await context.Response.Body.WriteAsync(chunk);
                    Interlocked.Add(ref outcome.Written, chunk.Length);
                }
            }
            catch (Exception ex)
            {
                seen = ex;
            }
            outcome.AbortedSeen = context.RequestAborted.IsCancellationRequested;
            outcome.Done.TrySetResult(seen);
        }), c =>
        {
            c.LifecycleLogging = true;
            c.LogLevel = LogLevel.Debug;
            configure?.Invoke(c);
        }, services: s => s.AddSingleton<ILoggerProvider>(errors));
        var recorder = new EventRecorder();
        server.Services.GetRequiredService<LifecycleEmitter>().AddObserver(recorder);
        return (server, recorder, errors);
    }

    private static async Task<Socket> ConnectSmallWindowAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
        return socket;
    }

    private static void AssertAppSawAbort(AppOutcome outcome, Exception? seen)
    {
        Assert.True(outcome.AbortedSeen, "RequestAborted did not fire");
        Assert.True(seen is null or OperationCanceledException or IOException,
            $"the application saw {seen?.GetType().FullName}: {seen}");
        Assert.False(seen is SocketException || seen?.InnerException is SocketException && seen is not IOException,
            $"a raw SocketException reached the application: {seen}");
    }

    [Fact]
    public async Task ClientResetWhileTheResponseIsSent_IsClientDisconnect_AndTheAppSeesItsRequestAborted()
    {
        var outcome = new AppOutcome();
        var (server, events, errors) = await StartAsync(outcome);
        await using (server)
        {
            using (var socket = await ConnectSmallWindowAsync(server.Port))
            {
                // Wait until the response is flowing (some bytes here, the rest queued in the server), then reset.
                var buffer = new byte[4096];
                var got = 0;
                using var cts = new CancellationTokenSource(Wait);
                while (got < 64 * 1024)
                    got += await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }

            var seen = await outcome.Done.Task.WaitAsync(Wait);
            var conn = await events.CompletedConnectionAsync();
            var started = Assert.Single(conn, e => e.Name == "RequestStarted");
            var ending = Assert.Single(conn, e => e.Name is "ResponseCompleted" or "ClientDisconnected");
            Assert.True(ending.Name == "ClientDisconnected", string.Join("\n", conn));
            Assert.Equal(started.RequestId, ending.RequestId);
            Assert.Equal(true, ending["during_streaming"]);
            Assert.Equal("client_disconnect", conn[^1].Str("reason"));
            // Linux reports the reset to whichever of the send or the receive asks first: a failed send (peer_reset), or
            // the receive's end of stream after the error was taken by the send (client_closed).
            Assert.Contains(conn[^1].Str("detail"), new[] { "peer_reset", "client_closed" });
            Assert.InRange(ending.Num("bytes_sent"), 64 * 1024, ResponseSize);
            AssertAppSawAbort(outcome, seen);
            Assert.True(errors.Errors.IsEmpty, "error-level log lines: " + string.Join("\n", errors.Errors));
        }
    }

    [Theory]
    [InlineData(Pounce.LogFormat.Json, "\"aborted\":\"write_timeout\"")]
    [InlineData(Pounce.LogFormat.Text, " aborted=write_timeout ")]
    public async Task SlowReaderPastTheWriteTimeout_IsWriteTimeout_WithAnAbortedResponseCompleted(Pounce.LogFormat format, string logged)
    {
        var outcome = new AppOutcome();
        var logFile = Path.Combine(Path.GetTempPath(), "pounce-writefail-" + Guid.NewGuid().ToString("N") + ".log");
        var (server, events, errors) = await StartAsync(outcome, c =>
        {
            c.ResponseWriteTimeout = TimeSpan.FromSeconds(1);
            c.LogFormat = format;
            c.LogFile = logFile;
        });
        try
        {
            await using (server)
            {
                // Reads nothing: the server's sends stall once the socket buffers are full.
                using var socket = await ConnectSmallWindowAsync(server.Port);
                var seen = await outcome.Done.Task.WaitAsync(Wait);
                var conn = await events.CompletedConnectionAsync();
                var started = Assert.Single(conn, e => e.Name == "RequestStarted");
                var ending = Assert.Single(conn, e => e.Name is "ResponseCompleted" or "ClientDisconnected");
                Assert.True(ending.Name == "ResponseCompleted", string.Join("\n", conn));
                Assert.Equal(started.RequestId, ending.RequestId);
                Assert.Equal("write_timeout", ending.Str("aborted"));
                Assert.Equal("timeout", conn[^1].Str("reason"));
                Assert.Equal("write_timeout", conn[^1].Str("detail"));
                // What the socket took, far less than the 32 MiB the application wrote into the void.
                Assert.InRange(ending.Num("bytes_sent"), 0, 16 * 1024 * 1024);
                Assert.True(ending.Num("bytes_sent") < Interlocked.Read(ref outcome.Written), $"bytes_sent {ending.Num("bytes_sent")} vs written {outcome.Written}");
                Assert.Equal(ending.Num("bytes_sent"), conn[^1].Num("total_bytes_sent"));
                AssertAppSawAbort(outcome, seen);
                Assert.True(errors.Errors.IsEmpty, "error-level log lines: " + string.Join("\n", errors.Errors));
            }
            var line = File.ReadAllLines(logFile).Single(l => l.Contains("ResponseCompleted", StringComparison.Ordinal));
            Assert.Contains(logged, line, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(logFile);
        }
    }

    [Fact]
    public async Task AResponseSentWhole_HasNoAbortedField()
    {
        var (server, events) = await LifecycleEventTests.StartAppAsync(app => app.Run(c => c.Response.WriteAsync("whole")));
        await using (server)
        {
            await using var raw = await server.ConnectAsync();
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            Assert.Equal(200, (await raw.ReadResponseAsync()).Status);
            var conn = await events.CompletedConnectionAsync();
            var completed = Assert.Single(conn, e => e.Name == "ResponseCompleted");
            Assert.Null(completed["aborted"]);
            Assert.Equal(5, completed.Num("bytes_sent"));
        }
    }
}
