using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Pounce.Http2;
using Pounce.Tests.LifecycleE2E;

namespace Pounce.Tests.Http2;

/// <summary>
/// HTTP/2 responses the server cuts short, over real loopback with raw frames: the request's <c>ResponseCompleted</c>
/// says why (<c>aborted</c>) and its <c>bytes_sent</c> counts the DATA the transport took for that stream, never more
/// than the client received, however much the application wrote.
/// </summary>
public sealed class Http2ResponseCutTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    // The protocol's initial windows (stream and connection): what the server may send before the client's WINDOW_UPDATE.
    private const int InitialWindow = 65_535;
    private const int BigBody = 256 * 1024;

    /// <summary>Reads frames until <paramref name="until"/>, adding up stream 1's DATA payload in <paramref name="received"/>.</summary>
    private static async Task<RawFrame> ReadDataUntilAsync(Http2RawClient raw, StrongBox received, Func<RawFrame, bool> until, string what)
    {
        return await raw.ExpectAsync(f =>
        {
            if (f.Type == Http2FrameType.Data && f.StreamId == 1)
                received.Value += f.Payload.Length;
            return until(f);
        }, what);
    }

    private sealed class StrongBox
    {
        public long Value;
    }

    private static string LogFile() => Path.Combine(Path.GetTempPath(), "pounce-h2cut-" + Guid.NewGuid().ToString("N") + ".log");

    private static JsonElement LoggedResponseCompleted(string logFile)
    {
        var line = File.ReadAllLines(logFile).Single(l => l.Contains("\"event\":\"ResponseCompleted\"", StringComparison.Ordinal)
            && l.Contains("\"stream_id\":1", StringComparison.Ordinal));
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    [Fact]
    public async Task AppAbortMidResponse_HeldByTheClientWindow_IsAbortedAppAbort_CountingWhatTheClientGot()
    {
        var clientHasWindow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var appDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var logFile = LogFile();
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            if (ctx.Request.Path != "/big")
            {
                await ctx.Response.WriteAsync("ok");
                return;
            }
            // 256 KiB written at once: the first 65,535 go out, the rest waits for a WINDOW_UPDATE that never comes.
            var write = ctx.Response.Body.WriteAsync(new byte[BigBody]).AsTask();
            await clientHasWindow.Task.WaitAsync(Wait);
            ctx.Abort();
            try
            {
                await write.WaitAsync(Wait);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                // The write ends with the stream.
            }
            appDone.TrySetResult();
        }, c =>
        {
            c.LogFormat = LogFormat.Json;
            c.LogFile = logFile;
        });
        try
        {
            var received = new StrongBox();
            await using (server)
            {
                await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
                {
                    await raw.SendHeadersAsync(1, true, Http2RawClient.Get("/big"));
                    await ReadDataUntilAsync(raw, received, _ => received.Value >= InitialWindow, "the first window of DATA");
                    Assert.Equal(InitialWindow, received.Value);
                    clientHasWindow.TrySetResult();
                    var reset = await ReadDataUntilAsync(raw, received,
                        f => (f.Type == Http2FrameType.RstStream && f.StreamId == 1) || f.Type == Http2FrameType.GoAway, "RST_STREAM on stream 1");
                    Assert.Equal(Http2FrameType.RstStream, reset.Type);
                    Assert.Equal(Http2ErrorCode.InternalError, reset.RstCode);
                    await appDone.Task.WaitAsync(Wait);
                    // The connection still serves, once the client gives back the connection window stream 1 used.
                    await raw.SendFrameAsync(w => Http2FrameWriter.WriteWindowUpdate(w, 0, InitialWindow));
                    await raw.AssertServesAsync(3);
                }
                var conn = await events.CompletedConnectionAsync();
                var started = conn.Single(e => e.Name == "RequestStarted" && e.Num("stream_id") == 1);
                var ending = Assert.Single(conn, e => e.RequestId == started.RequestId && e.Name is "ResponseCompleted" or "ClientDisconnected");
                Assert.True(ending.Name == "ResponseCompleted", string.Join("\n", conn));
                Assert.Equal("app_abort", ending.Str("aborted"));
                Assert.Equal(200, ending.Num("status"));
                // Exactly the DATA that went out before the RST_STREAM, not the 256 KiB the application wrote.
                Assert.Equal(received.Value, ending.Num("bytes_sent"));
                var next = conn.Single(e => e.Name == "ResponseCompleted" && e.Num("stream_id") == 3);
                Assert.Null(next["aborted"]);
                Assert.Equal(2, next.Num("bytes_sent"));
                Assert.Equal(received.Value + 2, conn[^1].Num("total_bytes_sent"));
                Assert.Equal(2, conn[^1].Num("requests_served"));
            }
            var logged = LoggedResponseCompleted(logFile);
            Assert.Equal("app_abort", logged.GetProperty("aborted").GetString());
            Assert.Equal(received.Value, logged.GetProperty("bytes_sent").GetInt64());
        }
        finally
        {
            File.Delete(logFile);
        }
    }

    [Fact]
    public async Task ResponseCutByShutdown_HeldByTheClientWindow_IsAbortedShutdown_CountingNoMoreThanTheClientGot()
    {
        var writing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var appDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var logFile = LogFile();
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            writing.TrySetResult();
            try
            {
                await ctx.Response.Body.WriteAsync(new byte[BigBody]);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                // Cut by the server's stop.
            }
            appDone.TrySetResult();
        }, c =>
        {
            c.ShutdownTimeout = TimeSpan.FromSeconds(1);
            c.LogFormat = LogFormat.Json;
            c.LogFile = logFile;
        });
        try
        {
            var received = new StrongBox();
            await using (server)
            {
                await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
                {
                    await raw.SendHeadersAsync(1, true, Http2RawClient.Get("/big"));
                    await writing.Task.WaitAsync(Wait);
                    await ReadDataUntilAsync(raw, received, _ => received.Value >= InitialWindow, "the first window of DATA");
                    var stopping = server.StopAsync();
                    var goAway = await ReadDataUntilAsync(raw, received, f => f.Type == Http2FrameType.GoAway, "GOAWAY");
                    Assert.Equal(Http2ErrorCode.NoError, goAway.GoAwayCode);
                    // No WINDOW_UPDATE: the stream cannot finish, and the server aborts the connection after ShutdownTimeout.
                    try
                    {
                        await ReadDataUntilAsync(raw, received, _ => false, "the connection's end");
                    }
                    catch (Xunit.Sdk.XunitException ex) when (ex.Message.Contains("EndOfStream", StringComparison.Ordinal) || ex.Message.Contains("SocketException", StringComparison.Ordinal))
                    {
                        // Closed by the server, as expected.
                    }
                    await stopping.WaitAsync(Wait);
                    await appDone.Task.WaitAsync(Wait);
                }
                var conn = await events.CompletedConnectionAsync();
                var ending = Assert.Single(conn, e => e.Name is "ResponseCompleted" or "ClientDisconnected");
                Assert.True(ending.Name == "ResponseCompleted", string.Join("\n", conn));
                Assert.Equal("shutdown", ending.Str("aborted"));
                Assert.InRange(ending.Num("bytes_sent"), 0, received.Value);
                Assert.True(ending.Num("bytes_sent") < BigBody, $"bytes_sent {ending.Num("bytes_sent")}");
                Assert.Equal("shutdown", conn[^1].Str("reason"));
                Assert.Equal("shutdown_timeout", conn[^1].Str("detail"));
                Assert.Equal(ending.Num("bytes_sent"), conn[^1].Num("total_bytes_sent"));
            }
            var logged = LoggedResponseCompleted(logFile);
            Assert.Equal("shutdown", logged.GetProperty("aborted").GetString());
            Assert.InRange(logged.GetProperty("bytes_sent").GetInt64(), 0, received.Value);
        }
        finally
        {
            File.Delete(logFile);
        }
    }

    [Fact]
    public async Task ClientThatStopsReading_PastTheWriteTimeout_IsAbortedWriteTimeout_CountingLessThanWritten()
    {
        const int Size = 32 * 1024 * 1024;
        var appDone = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            var chunk = new byte[64 * 1024];
            long written = 0;
            try
            {
                while (written < Size && !ctx.RequestAborted.IsCancellationRequested)
                {
                    await ctx.Response.Body.WriteAsync(chunk);
                    written += chunk.Length;
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                // Cut by the write timeout.
            }
            appDone.TrySetResult(written);
        }, c => c.ResponseWriteTimeout = TimeSpan.FromSeconds(1));
        await using (server)
        {
            // Windows wide open, then nothing is read: the server's sends stall once the socket buffers are full.
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port));
            var raw = Http2RawClient.FromSocket(socket);
            await raw.SendAsync(Http2Connection.ClientPreface.ToArray());
            await raw.SendFrameAsync(w => Http2FrameWriter.WriteSettings(w, [new Http2Setting(Http2SettingId.InitialWindowSize, int.MaxValue)]));
            await raw.SendFrameAsync(w => Http2FrameWriter.WriteWindowUpdate(w, 0, int.MaxValue - InitialWindow));
            await raw.SendFrameAsync(Http2FrameWriter.WriteSettingsAck);
            await raw.SendHeadersAsync(1, true, Http2RawClient.Get("/big"));
            var written = await appDone.Task.WaitAsync(TimeSpan.FromSeconds(30));
            var conn = await events.CompletedConnectionAsync();
            var ending = Assert.Single(conn, e => e.Name is "ResponseCompleted" or "ClientDisconnected");
            Assert.True(ending.Name == "ResponseCompleted", string.Join("\n", conn));
            Assert.Equal("write_timeout", ending.Str("aborted"));
            Assert.Equal("timeout", conn[^1].Str("reason"));
            Assert.Equal("write_timeout", conn[^1].Str("detail"));
            Assert.True(ending.Num("bytes_sent") < written, $"bytes_sent {ending.Num("bytes_sent")} vs written {written}");
            Assert.Equal(ending.Num("bytes_sent"), conn[^1].Num("total_bytes_sent"));
        }
    }

    [Fact]
    public async Task ClientResetMidResponse_IsClientDisconnected_CountingNoMoreThanTheClientGot()
    {
        var appDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, events) = await LifecycleEventTests.StartAsync(async ctx =>
        {
            if (ctx.Request.Path != "/big")
            {
                await ctx.Response.WriteAsync("ok");
                return;
            }
            try
            {
                await ctx.Response.Body.WriteAsync(new byte[BigBody]);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                // Reset by the client.
            }
            appDone.TrySetResult();
        });
        await using (server)
        {
            var received = new StrongBox();
            await using (var raw = await Http2RawClient.ConnectAsync(server.Port))
            {
                await raw.SendHeadersAsync(1, true, Http2RawClient.Get("/big"));
                await ReadDataUntilAsync(raw, received, _ => received.Value >= InitialWindow, "the first window of DATA");
                await raw.SendFrameAsync(w => Http2FrameWriter.WriteRstStream(w, 1, Http2ErrorCode.Cancel));
                await appDone.Task.WaitAsync(Wait);
                await raw.SendFrameAsync(w => Http2FrameWriter.WriteWindowUpdate(w, 0, InitialWindow));
                await raw.AssertServesAsync(3);
            }
            var conn = await events.CompletedConnectionAsync();
            var ending = Assert.Single(conn, e => e.Name is "ClientDisconnected");
            Assert.Equal($"{ending.ConnectionId}-1", ending.RequestId);
            Assert.Equal(true, ending["during_streaming"]);
            Assert.Null(ending["aborted"]);
            Assert.InRange(ending.Num("bytes_sent"), 0, received.Value);
        }
    }
}
