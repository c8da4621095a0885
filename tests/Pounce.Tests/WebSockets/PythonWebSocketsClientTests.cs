using System.Diagnostics;
using Pounce.Tests.Infrastructure;

namespace Pounce.Tests.WebSockets;

/// <summary>Debian's <c>python3-websockets</c> client (run with the python3 on PATH that imports it, /usr/bin/python3 on Debian) against Pounce's echo.</summary>
public sealed class PythonWebSocketsClientTests
{
    private const string Script = """
        import asyncio, sys
        import websockets

        async def main(uri):
            async with websockets.connect(uri, compression="deflate", max_size=None, close_timeout=10) as ws:
                extensions = ws.response_headers.get("Sec-WebSocket-Extensions", "")
                assert "permessage-deflate" in extensions, "no permessage-deflate: " + repr(extensions)
                await ws.send("hello " * 1000)
                assert await ws.recv() == "hello " * 1000
                payload = bytes(range(256)) * 4096
                await ws.send(payload)
                assert await ws.recv() == payload
                # One message in three fragments.
                await ws.send(["frag-", "ment-", "ed"])
                assert await ws.recv() == "frag-ment-ed"
                pong = await ws.ping(b"are you there")
                await asyncio.wait_for(pong, 10)
                await ws.close(code=1000, reason="done")
                assert ws.close_code == 1000, ws.close_code
            print("OK", extensions)

        asyncio.run(main(sys.argv[1]))
        """;

    [ToolFact("python3:websockets")]
    public async Task Python_websockets_echo_with_permessage_deflate_fragments_and_ping()
    {
        var (server, events) = await WebSocketTests.StartEchoAsync();
        await using (server)
        {
            var scriptPath = Path.Combine(Path.GetTempPath(), "pounce-ws-client-" + Guid.NewGuid().ToString("N") + ".py");
            await File.WriteAllTextAsync(scriptPath, Script);
            try
            {
                using var process = Process.Start(new ProcessStartInfo(DebianTools.Require("python3:websockets"), [scriptPath, $"ws://127.0.0.1:{server.Port}/ws"])
                {
                    RedirectStandardError = true,
                    RedirectStandardOutput = true,
                })!;
                var stdout = process.StandardOutput.ReadToEndAsync();
                var stderr = process.StandardError.ReadToEndAsync();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                try
                {
                    await process.WaitForExitAsync(cts.Token);
                }
                finally
                {
                    if (!process.HasExited)
                        process.Kill(entireProcessTree: true);
                }
                var output = await stdout;
                Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{output}\n{await stderr}");
                Assert.StartsWith("OK permessage-deflate", output, StringComparison.Ordinal);
            }
            finally
            {
                File.Delete(scriptPath);
            }
            var conn = await events.CompletedConnectionAsync();
            Assert.Equal("websocket", conn[^1].Str("protocol"));
            Assert.Equal("complete", conn[^1].Str("reason"));
            // The echoes (6 KB of text and 1 MiB of repeated bytes) went back compressed: the bytes the server wrote
            // after the upgrade are a small fraction of the payloads.
            Assert.InRange(conn[^1].Num("total_bytes_sent"), 1, 64 * 1024);
        }
    }
}
