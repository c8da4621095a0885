using Microsoft.AspNetCore.Http;

namespace Pounce.Bench;

/// <summary>
/// The gRPC-shaped exchange both bench projects serve (the <c>grpc</c> load scenario and the HTTP/2 micro-benchmark):
/// reads the whole request body, answers 1 KiB with a gRPC content type and the <c>grpc-status</c> trailer, as a unary
/// call does, without the gRPC framework itself (which Kestrel and Pounce would run identically). Linked into each
/// project as source (the two share no project).
/// </summary>
internal static class GrpcShapedExchange
{
    /// <summary>The response body: 1 KiB of letters.</summary>
    public static readonly byte[] ResponseBody = CreateBody(1024);

    /// <summary>Serves one exchange.</summary>
    public static async Task HandleAsync(HttpContext context)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(4096);
        while (await context.Request.Body.ReadAsync(buffer) > 0)
        {
        }
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        context.Response.ContentType = "application/grpc";
        context.Response.AppendTrailer("grpc-status", "0");
        await context.Response.Body.WriteAsync(ResponseBody);
    }

    private static byte[] CreateBody(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < bytes.Length; i++)
            bytes[i] = (byte)('a' + (i % 26));
        return bytes;
    }
}
