using System.Net.WebSockets;

namespace Pounce.BenchApp;

/// <summary>
/// <c>/ws</c>: a WebSocket echo through ASP.NET Core's <c>UseWebSockets()</c>, the same on both servers, for
/// Autobahn|Testsuite (bench/autobahn): every frame back as it came (text or binary, fragment by fragment), a Close
/// answered with the client's status.
/// </summary>
internal static class WebSocketEcho
{
    public static bool IsEchoPath(HttpContext context) => context.Request.Path.Equals("/ws", StringComparison.Ordinal);

    public static async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseAsync(received.CloseStatus ?? WebSocketCloseStatus.NormalClosure, received.CloseStatusDescription,
                    context.RequestAborted);
                return;
            }
            await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
        }
    }
}
