using Microsoft.AspNetCore.Http;
using Pounce.Connections;

namespace Pounce.Http1;

/// <summary>The server's own answer to a request head it rejects (400, 408, 413, 414, 431, 501, 505), and the
/// lifecycle fact for it.</summary>
internal sealed partial class Http1Connection
{
    /// <summary>Answers a request that could not be parsed (when an answer makes sense) and ends the loop.</summary>
    private async ValueTask RejectRequestAsync(ConnectionEnd end)
    {
        Connection.ReportEnd(end);
        var status = _errorStatus != 0 ? _errorStatus : StatusFor(end);
        if (status == 0)
            return;
        WriteErrorResponse(status);
        ReportServerAnswer(status);
        await _output.FlushAsync();
    }

    /// <summary>Tells the lifecycle that the server answered this request head itself (its access-log line), with
    /// what was parsed of it: method, path and version once the request line was read, the User-Agent once the head was.</summary>
    private void ReportServerAnswer(int status)
    {
        var info = RequestInfo;
        if (_requestLineDone)
        {
            info.Method = Method;
            info.Path = Path;
            info.Version = _version;
            info.UserAgent = RequestHeaders.TryGetValue(Microsoft.Net.Http.Headers.HeaderNames.UserAgent, out var ua) ? ua.ToString() : null;
        }
        if (info.StartTimestamp == 0)
            info.StartTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        info.EndTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        info.Status = status;
        _server.Emitter.ServerAnswered(Connection, info);
    }

    private static int StatusFor(ConnectionEnd end) => end switch
    {
        ConnectionEnd.RequestLineTooLong => StatusCodes.Status414UriTooLong,
        ConnectionEnd.HeadersTooLarge or ConnectionEnd.TooManyHeaders => StatusCodes.Status431RequestHeaderFieldsTooLarge,
        ConnectionEnd.UnsupportedVersion => StatusCodes.Status505HttpVersionNotsupported,
        ConnectionEnd.HeaderTimeout => StatusCodes.Status408RequestTimeout,
        ConnectionEnd.BodyTooLarge => StatusCodes.Status413PayloadTooLarge,
        ConnectionEnd.BadRequestLine or ConnectionEnd.BadRequestTarget or ConnectionEnd.BadHeader or ConnectionEnd.ObsFold
            or ConnectionEnd.BareLineFeed or ConnectionEnd.BadHost or ConnectionEnd.BadContentLength
            or ConnectionEnd.BadTransferEncoding or ConnectionEnd.ConflictingFraming or ConnectionEnd.BadChunk => StatusCodes.Status400BadRequest,
        _ => 0,
    };

    private void WriteErrorResponse(int status)
    {
        var w = new HeadWriter(_output);
        w.WriteStatusLine(status, null);
        if (_config.DateHeader)
            w.Write(_server.Heartbeat.DateHeaderLine);
        w.Write(_serverHeaderLine);
        w.Write("Content-Length: 0\r\nConnection: close\r\n\r\n"u8);
        w.Commit();
    }
}
