using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Pounce.Connections;

namespace Pounce.Http1;

internal enum ChunkState : byte
{
    Size,
    Data,
    DataEnd,
    Trailers,
    Done,
}

/// <summary>Request bodies: Content-Length and chunked (RFC 9112 6 and 7.1), with limits and timeouts.</summary>
internal sealed partial class Http1Connection
{
    private static readonly byte[] DrainScratch = new byte[8192];

    protected override ServerConfig ServerSettings => _config;

    protected override bool OffersMinResponseDataRate => true;

    protected override void OnMinResponseDataRateChanged(Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate? rate)
        => _connection.ResponseDataRate = rate;

    protected override async ValueTask<int> ReadBodyCoreAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_bodyError != ConnectionEnd.None)
            throw BodyError(_bodyError);
        if (_bodyComplete)
        {
            // A body without chunked framing has no trailers: once it is read they are "available", and empty (as Kestrel).
            RequestTrailersAvailable = true;
            return 0;
        }
        if (!_bodyStarted)
        {
            _bodyStarted = true;
            if (_bodyKind == BodyKind.ContentLength && MaxRequestBodySize is { } max && _contentLength > max)
                throw BodyError(ConnectionEnd.BodyTooLarge);
            if (_expectContinue && !_sentContinue && !HasStarted)
            {
                _sentContinue = true;
                _output.Write(ContinueResponse);
                await _output.FlushAsync(cancellationToken);
            }
        }
        if (buffer.IsEmpty)
            return 0;

        while (true)
        {
            var result = await ReadBodyInputAsync(cancellationToken);
            var data = result.Buffer;
            if (_bodyKind == BodyKind.ContentLength)
            {
                if (data.IsEmpty)
                {
                    _input.AdvanceTo(data.Start);
                    if (result.IsCompleted)
                        throw UnexpectedEnd();
                    continue;
                }
                var n = (int)Math.Min(Math.Min(data.Length, buffer.Length), _bodyRemaining);
                data.Slice(0, n).CopyTo(buffer.Span);
                _input.AdvanceTo(data.GetPosition(n));
                _bodyRemaining -= n;
                _bodyReceived += n;
                CountBodyBytes(n);
                if (_bodyRemaining == 0)
                    _bodyComplete = true;
                return n;
            }

            int written;
            SequencePosition consumed;
            try
            {
                written = ParseChunked(data, buffer.Span, out consumed);
            }
            catch (BadHttpRequestException)
            {
                _input.AdvanceTo(data.Start, data.End);
                throw;
            }
            if (written > 0 || _bodyComplete)
            {
                _input.AdvanceTo(consumed);
                CountBodyBytes(written);
                return written;
            }
            _input.AdvanceTo(consumed, data.End);
            if (result.IsCompleted)
                throw UnexpectedEnd();
        }
    }

    private async ValueTask<ReadResult> ReadBodyInputAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await FlushPendingAsync();
            _connection.OutputScheduler.SendHeld(); // the client may wait for the response so far before it sends more
            var pending = _input.ReadAsync(cancellationToken);
            ReadResult result;
            if (pending.IsCompletedSuccessfully)
            {
                result = pending.Result;
            }
            else
            {
                // Waiting for the client: the heartbeat enforces the minimum data rate and BodyReadTimeout.
                var started = Environment.TickCount64;
                _connection.SetBodyDeadline(BeginBodyWait(started, out var onExpiry), onExpiry);
                try
                {
                    result = await pending;
                }
                finally
                {
                    _connection.ClearBodyDeadline();
                    EndBodyWait(Environment.TickCount64);
                }
            }
            if (!result.IsCanceled)
                return result;
            _input.AdvanceTo(result.Buffer.Start);
            if (Connection.End is ConnectionEnd.BodyReadTimeout or ConnectionEnd.MinRequestBodyDataRate)
                throw BodyError(Connection.End);
            if (_connection.Transport.PeerClose != Transport.PeerClose.None || Connection.End != ConnectionEnd.None)
                throw new ConnectionResetException("The client disconnected while the request body was being read.");
        }
    }

    private BadHttpRequestException UnexpectedEnd()
    {
        _bodyError = ConnectionEnd.ClientClosedMidRequest;
        SetClose(ConnectionEnd.ClientClosedMidRequest);
        return RecordBadRequest(new BadHttpRequestException("Unexpected end of request content: the client closed the connection.", StatusCodes.Status400BadRequest));
    }

    /// <summary>
    /// The body cannot be read on: the error the application sees. The connection cannot serve another request
    /// either (the rest of the body is unknown), so the response, even one the application writes after catching
    /// this, says <c>Connection: close</c> and the connection closes after it.
    /// </summary>
    private BadHttpRequestException BodyError(ConnectionEnd fact)
    {
        _bodyError = fact;
        SetClose(fact);
        return fact switch
        {
            ConnectionEnd.BodyTooLarge => RecordBadRequest(new BadHttpRequestException("Request body too large.", StatusCodes.Status413PayloadTooLarge)),
            ConnectionEnd.BodyReadTimeout or ConnectionEnd.MinRequestBodyDataRate => BodyTooSlow(fact),
            ConnectionEnd.ClientClosedMidRequest => RecordBadRequest(new BadHttpRequestException("Unexpected end of request content.", StatusCodes.Status400BadRequest)),
            _ => RecordBadRequest(new BadHttpRequestException("Malformed chunked request body.", StatusCodes.Status400BadRequest)),
        };
    }

    /// <summary>
    /// Decodes chunked framing from <paramref name="data"/> into <paramref name="destination"/>; returns the data
    /// bytes produced. Throws <see cref="BadHttpRequestException"/> on malformed framing or an oversized body.
    /// </summary>
    private int ParseChunked(in ReadOnlySequence<byte> data, Span<byte> destination, out SequencePosition consumed)
    {
        var reader = new SequenceReader<byte>(data);
        var written = 0;
        consumed = data.Start;
        while (true)
        {
            switch (_chunkState)
            {
                case ChunkState.Size:
                {
                    if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
                    {
                        if (reader.Remaining > 18 + _config.MaxChunkExtensionSize)
                            throw BodyError(ConnectionEnd.BadChunk);
                        return written;
                    }
                    if (line.Length > 17 + _config.MaxChunkExtensionSize)
                        throw BodyError(ConnectionEnd.BadChunk);
                    var size = ParseChunkSizeLine(line.IsSingleSegment ? line.FirstSpan : CopyLine(line));
                    consumed = reader.Position;
                    if (size == 0)
                    {
                        _chunkState = ChunkState.Trailers;
                        break;
                    }
                    _bodyReceived += size;
                    if (MaxRequestBodySize is { } max && _bodyReceived > max)
                        throw BodyError(ConnectionEnd.BodyTooLarge);
                    _chunkRemaining = size;
                    _chunkState = ChunkState.Data;
                    break;
                }
                case ChunkState.Data:
                {
                    if (written == destination.Length)
                        return written;
                    var n = (int)Math.Min(Math.Min(reader.Remaining, _chunkRemaining), destination.Length - written);
                    if (n == 0)
                        return written;
                    reader.UnreadSequence.Slice(0, n).CopyTo(destination[written..]);
                    reader.Advance(n);
                    written += n;
                    _chunkRemaining -= n;
                    consumed = reader.Position;
                    if (_chunkRemaining == 0)
                        _chunkState = ChunkState.DataEnd;
                    break;
                }
                case ChunkState.DataEnd:
                {
                    if (reader.Remaining < 2)
                        return written;
                    if (!reader.IsNext("\r\n"u8, advancePast: true))
                        throw BodyError(ConnectionEnd.BadChunk);
                    consumed = reader.Position;
                    _chunkState = ChunkState.Size;
                    break;
                }
                case ChunkState.Trailers:
                {
                    if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
                    {
                        if (_trailerBytes + reader.Remaining > _config.MaxHeaderSize)
                            throw BodyError(ConnectionEnd.BadChunk);
                        return written;
                    }
                    _trailerBytes += (int)Math.Min(line.Length + 1, int.MaxValue / 2);
                    if (_trailerBytes > _config.MaxHeaderSize)
                        throw BodyError(ConnectionEnd.BadChunk);
                    var span = line.IsSingleSegment ? line.FirstSpan : CopyLine(line);
                    if (span.IsEmpty || span[^1] != (byte)'\r' || span[..^1].IndexOf((byte)'\r') >= 0)
                        throw BodyError(ConnectionEnd.BadChunk);
                    span = span[..^1];
                    consumed = reader.Position;
                    if (span.IsEmpty)
                    {
                        _chunkState = ChunkState.Done;
                        _bodyComplete = true;
                        RequestTrailersAvailable = true;
                        return written;
                    }
                    if (span[0] is (byte)' ' or (byte)'\t' || ++_trailerCount > _config.MaxHeaders)
                        throw BodyError(ConnectionEnd.BadChunk);
                    if (ParseHeaderLine(span, RequestTrailerHeaders, trailer: true) != ConnectionEnd.None)
                        throw BodyError(ConnectionEnd.BadChunk);
                    break;
                }
                default:
                    return written;
            }
        }
    }

    /// <summary>chunk-size [ chunk-ext ] CRLF, where the LF is already removed (RFC 9112 7.1).</summary>
    private long ParseChunkSizeLine(ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty || line[^1] != (byte)'\r')
            throw BodyError(ConnectionEnd.BadChunk);
        line = line[..^1];
        long size = 0;
        var digits = 0;
        var i = 0;
        for (; i < line.Length; i++)
        {
            var b = line[i];
            int v;
            if (b is >= (byte)'0' and <= (byte)'9') v = b - '0';
            else if (b is >= (byte)'a' and <= (byte)'f') v = b - 'a' + 10;
            else if (b is >= (byte)'A' and <= (byte)'F') v = b - 'A' + 10;
            else break;
            if (++digits > 15)
                throw BodyError(ConnectionEnd.BadChunk);
            size = (size << 4) | (uint)v;
        }
        if (digits == 0)
            throw BodyError(ConnectionEnd.BadChunk);
        if (i < line.Length && !ChunkExtension.IsValid(line[i..]))
            throw BodyError(ConnectionEnd.BadChunk);
        return size;
    }

    /// <summary>Reads and drops the unread rest of a body so the connection can serve the next request.</summary>
    private async ValueTask<bool> DrainBodyAsync()
    {
        try
        {
            while (await ReadBodyAsync(DrainScratch, default) > 0)
            {
            }
            return true;
        }
        catch (Exception)
        {
            Connection.ReportEnd(_bodyError != ConnectionEnd.None ? _bodyError : ConnectionEnd.PeerReset);
            return false;
        }
    }
}
