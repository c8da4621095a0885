using System.Diagnostics;
using System.Net.Sockets;
using Pounce.Connections;

namespace Pounce.Telemetry;

/// <summary>
/// Puts what the server knows about a request on its span: ASP.NET Core's request activity gets Pounce's ids
/// (<c>pounce.connection_id</c>, <c>pounce.worker_id</c>, <c>pounce.request_id</c>, <c>pounce.stream_id</c> on HTTP/2),
/// which join the span to the lifecycle events, and the recommended network attributes of the OpenTelemetry HTTP
/// semantic conventions that only the server knows (<c>client.address</c>, <c>network.peer.address</c>,
/// <c>network.peer.port</c>, <c>network.type</c>, <c>tls.protocol.*</c>). The opt-in ones (<c>client.port</c>,
/// <c>network.local.*</c>, <c>network.transport</c>) are left out: every attribute is serialized into every exported
/// span.
/// </summary>
/// <remarks>
/// Only an activity that a tracing listener is recording gets them: a server activity that hosting created through
/// its <see cref="ActivitySource"/> because a listener sampled it in (<see cref="Activity.IsAllDataRequested"/>).
/// The bare activity hosting creates for log scopes and trace ids when nobody listens is left alone, so a server
/// without tracing pays nothing here. Any OpenTelemetry setup benefits, not only the one <c>OtelEndpoint</c> wires.
/// </remarks>
internal static class RequestActivityTags
{
    public static void Enrich(Activity? activity, ConnectionInfo connection, RequestInfo request)
    {
        if (activity is null || !activity.IsAllDataRequested || activity.Kind != ActivityKind.Server || activity.Source.Name.Length == 0)
            return;
        activity.SetTag("pounce.connection_id", connection.ConnectionId);
        activity.SetTag("pounce.worker_id", connection.WorkerId);
        activity.SetTag("pounce.request_id", request.RequestId);
        if (request.StreamId != 0)
            activity.SetTag("pounce.stream_id", request.StreamId);
        if (connection.RemoteEndPoint is { } remote)
        {
            activity.SetTag("client.address", connection.ClientAddress);
            activity.SetTag("network.peer.address", connection.ClientAddress);
            activity.SetTag("network.peer.port", remote.Port);
            activity.SetTag("network.type", remote.AddressFamily == AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4");
        }
        if (connection.TlsProtocolVersion is { } tls)
        {
            activity.SetTag("tls.protocol.name", "tls");
            activity.SetTag("tls.protocol.version", tls);
        }
    }
}
