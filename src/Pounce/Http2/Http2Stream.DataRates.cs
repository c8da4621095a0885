using Pounce.Connections;

namespace Pounce.Http2;

/// <summary>The request body's minimum data rate on a stream (the bookkeeping is <see cref="Features.RequestContext"/>'s).</summary>
internal sealed partial class Http2Stream
{
    /// <summary>What the current body wait's deadline enforces (the data rate or <c>BodyReadTimeout</c>).</summary>
    private ConnectionEnd _bodyWaitExpiry;

    protected override ServerConfig ServerSettings => _server.Config;
}
