using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Pounce.Connections;
using Pounce.Features;
using Pounce.Lifecycle;

namespace Pounce.Http1;

/// <summary>
/// Entry points for benchmarks and unit tests: an <see cref="Http1Connection"/> on an unconnected socket whose
/// parser and response writer can be driven directly, without a network round trip.
/// </summary>
internal sealed partial class Http1Connection
{
    /// <summary>Creates a connection that is never started; its output can be drained with <see cref="Transport.SocketTransport.OutputReader"/>.</summary>
    internal static Http1Connection CreateDetached(ServerConfig config, out Transport.SocketTransport transport)
    {
        var server = new ServerContext(config, new DelegateRequestApplication(_ => Task.CompletedTask), new LifecycleEmitter(config), NullLogger.Instance);
        server.Heartbeat.Dispose();
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var connection = new Connection(server, socket, workerId: 1, admitted: true);
        transport = connection.Transport;
        return new Http1Connection(connection);
    }

    /// <summary>Parses one complete request head as the request loop would; returns the fact that rejects it, if any.</summary>
    internal ConnectionEnd ParseHeadDetached(in ReadOnlySequence<byte> head)
    {
        ResetFeatures(1, 0);
        ResetHeadState();
        var status = ParseHead(head, out _, out var error);
        return status switch
        {
            HeadStatus.Done => ValidateHead(),
            HeadStatus.Error => error,
            _ => ConnectionEnd.ClientClosedMidRequest,
        };
    }

    /// <summary>Writes the response head for the current response (after <see cref="ParseHeadDetached"/>).</summary>
    internal void WriteResponseHeadDetached(long? contentLength)
    {
        MarkStartedForDetached();
        WriteResponseHead(contentLength);
        _output.Advance(0);
    }

    /// <summary>Writes one chunk of body with the response's framing.</summary>
    internal void WriteBodyDetached(ReadOnlySpan<byte> data) => WriteResponseBodyData(data);

    /// <summary>Ends the response (the last chunk and trailers when chunked).</summary>
    internal void EndResponseDetached() => WriteResponseEnd();

    /// <summary>The response header collection of the current request.</summary>
    internal Microsoft.AspNetCore.Http.HeaderDictionary ResponseHeadersDetached => ResponseHeaders;

    /// <summary>The request header collection of the current request.</summary>
    internal Microsoft.AspNetCore.Http.HeaderDictionary RequestHeadersDetached => RequestHeaders;

    private void MarkStartedForDetached() => MarkStarted(StatusCode);
}
