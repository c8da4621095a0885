using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pounce.Hosting;
using Pounce.Http2;

namespace Pounce.Benchmarks;

/// <summary>
/// Whole HTTP/2 requests through an in-process Pounce over loopback, 16 streams in flight per operation (as
/// <c>h2load -m16</c>): a GET answered with 13 bytes, and a gRPC-shaped POST of 1 KiB answered with 1 KiB plus trailers.
/// The client is raw frames built once (stateless HPACK: static-table and literal fields), so what the memory
/// diagnoser counts is the server's allocation per request (it counts the whole process).
///   dotnet run -c Release --project bench/Pounce.Benchmarks -- --filter '*Http2Request*' --job short --inProcess
/// </summary>
[MemoryDiagnoser]
public class Http2RequestBenchmarks
{
    private const int Streams = 16;
    private static readonly byte[] Body1K = new byte[1024]; // the gRPC-shaped request body
    private static readonly byte[] Hello = "Hello, World!"u8.ToArray();

    private WebApplication? _app;
    private Socket? _socket;
    private byte[] _get = [];
    private byte[] _grpc = [];
    private int[] _getIdOffsets = [];
    private int[] _grpcIdOffsets = [];
    private readonly byte[] _receive = new byte[256 * 1024];
    private int _receiveStart;
    private int _receiveEnd;
    private int _nextStreamId = 1;
    private long _dataSinceUpdate;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // As bench/Pounce.BenchApp: hosting's per-request Activity and log scope stay out of the measurement.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.WebHost.UsePounce(config =>
        {
            config.Host = "127.0.0.1";
            config.Port = 0;
            config.Workers = 1;
            config.AccessLog = false;
        });
        _app = builder.Build();
        _app.Run(HandleAsync);
        await _app.StartAsync();
        var address = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await _socket.ConnectAsync("127.0.0.1", address.Port);

        var handshake = new System.Buffers.ArrayBufferWriter<byte>();
        handshake.Write(Http2Connection.ClientPreface);
        Http2FrameWriter.WriteSettings(handshake, [new Http2Setting(Http2SettingId.InitialWindowSize, int.MaxValue)]);
        Http2FrameWriter.WriteWindowUpdate(handshake, 0, int.MaxValue - 65_535);
        Http2FrameWriter.WriteSettingsAck(handshake); // the server's SETTINGS come first on every connection
        await _socket.SendAsync(handshake.WrittenMemory);

        (_get, _getIdOffsets) = BuildBatch(HeaderBlock("GET", "/plaintext", body: false), body: null);
        (_grpc, _grpcIdOffsets) = BuildBatch(HeaderBlock("POST", "/grpc", body: true), Body1K);
        await RunBatchAsync(_get, _getIdOffsets); // warm up both paths
        await RunBatchAsync(_grpc, _grpcIdOffsets);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _socket?.Dispose();
        if (_app is not null)
            await _app.DisposeAsync();
    }

    [Benchmark(OperationsPerInvoke = Streams)]
    public Task Get() => RunBatchAsync(_get, _getIdOffsets);

    [Benchmark(OperationsPerInvoke = Streams)]
    public Task GrpcShapedPost() => RunBatchAsync(_grpc, _grpcIdOffsets);

    private static async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Path.Value == "/grpc")
        {
            await Pounce.Bench.GrpcShapedExchange.HandleAsync(context);
            return;
        }
        context.Response.ContentType = "text/plain";
        context.Response.ContentLength = 13;
        await context.Response.Body.WriteAsync(Hello);
    }

    /// <summary>A request header block without the dynamic table: indexed static fields and literals never indexed.</summary>
    private static byte[] HeaderBlock(string method, string path, bool body)
    {
        var block = new List<byte> { method == "POST" ? (byte)0x83 : (byte)0x82, 0x86 }; // :method, :scheme http
        Literal(block, 4, path);
        Literal(block, 1, "localhost");
        if (body)
        {
            Literal(block, 31, "application/grpc");
            Literal(block, 28, "1024");
            block.Add(0x10); // literal never indexed, new name
            block.Add(2);
            block.AddRange("te"u8.ToArray());
            block.Add(8);
            block.AddRange("trailers"u8.ToArray());
        }
        return [.. block];

        static void Literal(List<byte> block, int nameIndex, string value)
        {
            // Never indexed, name from the static table: a 4-bit prefix integer (RFC 7541 5.1).
            if (nameIndex < 15)
            {
                block.Add((byte)(0x10 | nameIndex));
            }
            else
            {
                block.Add(0x1F);
                block.Add((byte)(nameIndex - 15));
            }
            block.Add((byte)value.Length);
            block.AddRange(System.Text.Encoding.ASCII.GetBytes(value));
        }
    }

    /// <summary>Sixteen requests in one buffer; the offsets of their stream ids, patched per operation.</summary>
    private static (byte[] Frames, int[] IdOffsets) BuildBatch(byte[] block, byte[]? body)
    {
        var frames = new System.Buffers.ArrayBufferWriter<byte>();
        var offsets = new List<int>();
        for (var i = 0; i < Streams; i++)
        {
            offsets.Add(frames.WrittenCount + 5);
            Http2FrameWriter.WriteHeaders(frames, 1, block, endStream: body is null, endHeaders: true);
            if (body is not null)
            {
                offsets.Add(frames.WrittenCount + 5);
                Http2FrameWriter.WriteData(frames, 1, body, endStream: true);
            }
        }
        return (frames.WrittenSpan.ToArray(), [.. offsets]);
    }

    private async Task RunBatchAsync(byte[] frames, int[] idOffsets)
    {
        var first = _nextStreamId;
        var perStream = idOffsets.Length / Streams;
        for (var i = 0; i < idOffsets.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(frames.AsSpan(idOffsets[i]), first + 2 * (i / perStream));
        _nextStreamId += 2 * Streams;
        await _socket!.SendAsync(frames);
        var ended = 0;
        while (ended < Streams)
        {
            if (!TryReadFrame(out var type, out var flags, out var length))
            {
                if (_receiveStart > 0)
                {
                    Buffer.BlockCopy(_receive, _receiveStart, _receive, 0, _receiveEnd - _receiveStart);
                    _receiveEnd -= _receiveStart;
                    _receiveStart = 0;
                }
                var n = await _socket.ReceiveAsync(_receive.AsMemory(_receiveEnd));
                if (n == 0)
                    throw new InvalidOperationException("The server closed the connection.");
                _receiveEnd += n;
                continue;
            }
            if ((flags & 0x1) != 0 && type is 0x0 or 0x1)
                ended++; // END_STREAM on DATA or HEADERS (trailers)
            if (type == 0x7)
                throw new InvalidOperationException($"GOAWAY from the server: {BinaryPrimitives.ReadUInt32BigEndian(_receive.AsSpan(_receiveStart - length + 4))}.");
            if (type == 0x0)
                _dataSinceUpdate += length;
        }
        if (_dataSinceUpdate > 1L << 30)
        {
            var update = new System.Buffers.ArrayBufferWriter<byte>();
            Http2FrameWriter.WriteWindowUpdate(update, 0, (int)_dataSinceUpdate);
            _dataSinceUpdate = 0;
            await _socket.SendAsync(update.WrittenMemory);
        }
    }

    private bool TryReadFrame(out byte type, out byte flags, out int length)
    {
        type = flags = 0;
        length = 0;
        var available = _receiveEnd - _receiveStart;
        if (available < 9)
            return false;
        var header = _receive.AsSpan(_receiveStart);
        length = (header[0] << 16) | (header[1] << 8) | header[2];
        if (available < 9 + length)
            return false;
        type = header[3];
        flags = header[4];
        _receiveStart += 9 + length;
        return true;
    }
}
