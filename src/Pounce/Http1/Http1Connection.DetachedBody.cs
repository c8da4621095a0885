using System.Buffers;
using Pounce.Connections;

namespace Pounce.Http1;

/// <summary>
/// The chunked-body decoder driven directly, for fuzzing and property tests (see <c>CreateDetached</c>): the same
/// <c>ParseChunked</c> the request loop runs, fed from a buffer instead of the socket.
/// </summary>
internal sealed partial class Http1Connection
{
    /// <summary>Starts a chunked request body: the state <c>ValidateHead</c> leaves for <c>Transfer-Encoding: chunked</c>.</summary>
    internal void BeginChunkedBodyDetached()
    {
        ResetFeatures(1, 0);
        ResetHeadState();
        _bodyKind = BodyKind.Chunked;
        CanHaveBody = true;
        _bodyStarted = true;
    }

    /// <summary>
    /// Decodes what it can of <paramref name="data"/> into <paramref name="destination"/>, as one read of the request
    /// loop would: returns the bytes decoded and where the undecoded input starts (to be fed again with more after it).
    /// Throws <see cref="Microsoft.AspNetCore.Http.BadHttpRequestException"/> on malformed framing.
    /// </summary>
    internal int DecodeChunkedDetached(in ReadOnlySequence<byte> data, Span<byte> destination, out SequencePosition consumed)
        => ParseChunked(data, destination, out consumed);

    /// <summary>Whether the last chunk and the trailer section have been read.</summary>
    internal bool ChunkedBodyCompleteDetached => _chunkState == ChunkState.Done;

    /// <summary>The rejection recorded by the last failed decode, if any.</summary>
    internal ConnectionEnd BodyErrorDetached => _bodyError;
}
