namespace Pounce.Connections;

/// <summary>
/// A fact, reported by the transport or a protocol layer, about how a connection came to an end.
/// The first fact reported for a connection wins; <see cref="ConnectionEnds.Describe"/> is the one place that
/// turns a fact into the contract's <see cref="CloseReason"/> and its stable snake_case detail.
/// </summary>
public enum ConnectionEnd
{
    /// <summary>Nothing reported yet.</summary>
    None = 0,

    // complete
    /// <summary>The client closed the connection while no request was in flight.</summary>
    ClientClosedIdle,
    /// <summary>The client asked for the close (<c>Connection: close</c>, or an HTTP/1.0 request without keep-alive).</summary>
    ClientRequestedClose,
    /// <summary>The application answered with <c>Connection: close</c>.</summary>
    AppRequestedClose,
    /// <summary><c>MaxRequestsPerConnection</c> was reached.</summary>
    MaxRequestsReached,
    /// <summary>The response had no length and was delimited by closing the connection (HTTP/1.0).</summary>
    CloseDelimitedResponse,
    /// <summary>An upgraded (WebSocket) connection ended normally.</summary>
    UpgradeCompleted,
    /// <summary>HTTP/2: the client sent GOAWAY; the streams in flight were finished, then the connection closed.</summary>
    GoAwayReceived,

    // timeout
    /// <summary>Idle keep-alive timeout.</summary>
    KeepAliveTimeout,
    /// <summary>The request head did not arrive in time (slow-loris).</summary>
    HeaderTimeout,
    /// <summary>The request body stalled while the application was reading it.</summary>
    BodyReadTimeout,
    /// <summary>The client did not accept response bytes in time.</summary>
    WriteTimeout,
    /// <summary>The request body arrived slower than the minimum data rate (<c>MinRequestBodyDataRate</c>) after its grace period.</summary>
    MinRequestBodyDataRate,
    /// <summary>The client accepted response bytes slower than the minimum data rate (<c>MinResponseDataRate</c>) after its grace period.</summary>
    MinResponseDataRate,
    /// <summary>HTTP/2: the client did not acknowledge our SETTINGS within <c>HeaderTimeout</c> (GOAWAY SETTINGS_TIMEOUT).</summary>
    Http2SettingsTimeout,
    /// <summary>The TLS handshake did not finish within <c>TlsHandshakeTimeout</c>.</summary>
    TlsHandshakeTimeout,

    // client_disconnect
    /// <summary>The client closed its side (FIN) while a request was in flight.</summary>
    ClientClosedInFlight,
    /// <summary>The peer reset the connection (RST, broken pipe).</summary>
    PeerReset,
    /// <summary>The client closed in the middle of sending a request head or body.</summary>
    ClientClosedMidRequest,

    // error: malformed input, each answered with a 4xx/5xx first
    /// <summary>Malformed request line.</summary>
    BadRequestLine,
    /// <summary>Request line longer than <c>MaxRequestLineSize</c> (414).</summary>
    RequestLineTooLong,
    /// <summary>Unsupported HTTP version (505).</summary>
    UnsupportedVersion,
    /// <summary>Malformed header field line (bad name, bad value, whitespace before colon).</summary>
    BadHeader,
    /// <summary>Obsolete line folding in the head.</summary>
    ObsFold,
    /// <summary>A bare CR or LF where CRLF is required.</summary>
    BareLineFeed,
    /// <summary>Request head larger than <c>MaxHeaderSize</c> (431).</summary>
    HeadersTooLarge,
    /// <summary>More than <c>MaxHeaders</c> header fields (431).</summary>
    TooManyHeaders,
    /// <summary>Missing, repeated or invalid <c>Host</c>.</summary>
    BadHost,
    /// <summary>Invalid or repeated <c>Content-Length</c>.</summary>
    BadContentLength,
    /// <summary>A <c>Transfer-Encoding</c> other than a final <c>chunked</c>.</summary>
    BadTransferEncoding,
    /// <summary>Both <c>Content-Length</c> and <c>Transfer-Encoding</c> (request smuggling shape).</summary>
    ConflictingFraming,
    /// <summary>Malformed chunked body (bad size, overflow, junk, missing CRLF, bad trailer).</summary>
    BadChunk,
    /// <summary>Body larger than <c>MaxRequestBodySize</c> (413).</summary>
    BodyTooLarge,
    /// <summary>Bad request target (invalid characters or form).</summary>
    BadRequestTarget,

    /// <summary>The TLS handshake failed (bad ClientHello, no common version or cipher suite, no ALPN match, ...).</summary>
    TlsHandshakeFailed,
    /// <summary>After the handshake, the TLS stream broke (a bad record, an unexpected alert) while the socket was still open.</summary>
    TlsError,

    // error: server side
    /// <summary>The application aborted the connection (<c>HttpContext.Abort()</c>).</summary>
    AppAbort,
    /// <summary>The application threw after the response had started, so the connection had to be aborted.</summary>
    AppError,
    /// <summary>An unexpected fault in the server itself.</summary>
    InternalError,

    // error: WebSocket
    /// <summary>
    /// The client broke RFC 6455 on an upgraded connection (an unmasked frame, or what made the server's framer send
    /// Close 1002 or 1007: bad opcode or reserved bits, invalid UTF-8, a bad close code, ...); the WebSocket was failed.
    /// </summary>
    WebSocketProtocolError,

    // error: HTTP/2 connection errors (GOAWAY sent with the matching code)
    /// <summary>HTTP/2 connection error PROTOCOL_ERROR (a frame broke a rule of RFC 9113).</summary>
    Http2ProtocolError,
    /// <summary>HTTP/2 connection error FRAME_SIZE_ERROR.</summary>
    Http2FrameSizeError,
    /// <summary>HTTP/2 connection error FLOW_CONTROL_ERROR (the peer overran a window or overflowed one).</summary>
    Http2FlowControlError,
    /// <summary>HTTP/2 connection error COMPRESSION_ERROR (a malformed HPACK block).</summary>
    Http2CompressionError,
    /// <summary>HTTP/2 connection error STREAM_CLOSED (a frame on a closed stream).</summary>
    Http2StreamClosed,
    /// <summary>HTTP/2 over TLS 1.2 on a cipher suite RFC 9113 prohibits (9.2.2): GOAWAY(INADEQUATE_SECURITY).</summary>
    Http2InadequateSecurity,
    /// <summary>HTTP/2 flood: too many streams opened and reset by the client (CVE-2023-44487). GOAWAY ENHANCE_YOUR_CALM.</summary>
    RapidReset,
    /// <summary>HTTP/2 flood: a header block with too many CONTINUATION frames or bytes (CVE-2024-27316). GOAWAY ENHANCE_YOUR_CALM.</summary>
    ContinuationFlood,
    /// <summary>HTTP/2 flood: too many SETTINGS frames. GOAWAY ENHANCE_YOUR_CALM.</summary>
    SettingsFlood,
    /// <summary>HTTP/2 flood: too many PING frames. GOAWAY ENHANCE_YOUR_CALM.</summary>
    PingFlood,
    /// <summary>HTTP/2 flood: too many empty DATA frames without END_STREAM. GOAWAY ENHANCE_YOUR_CALM.</summary>
    EmptyDataFlood,
    /// <summary>HTTP/2: a header block decoding past <c>Http2MaxHeaderListSize</c> (HPACK bomb). GOAWAY COMPRESSION_ERROR.</summary>
    HpackBomb,
    /// <summary>HTTP/2: a response stuck at a zero flow-control window longer than <c>ResponseWriteTimeout</c>. GOAWAY ENHANCE_YOUR_CALM.</summary>
    FlowControlStall,

    // backpressure
    /// <summary>Refused at <c>MaxConnections</c>.</summary>
    MaxConnections,

    // shutdown
    /// <summary>Idle connection closed because the server is stopping.</summary>
    ShutdownIdle,
    /// <summary>The in-flight request finished and the connection closed because the server is stopping.</summary>
    ShutdownDrained,
    /// <summary>The connection was still busy when <c>ShutdownTimeout</c> ran out and was aborted.</summary>
    ShutdownAborted,
}

/// <summary>The single mapping from <see cref="ConnectionEnd"/> facts to the contract's reason and detail.</summary>
public static class ConnectionEnds
{
    /// <summary>The contract's reason and stable snake_case detail for a fact.</summary>
    public static (CloseReason Reason, string Detail) Describe(ConnectionEnd end) => end switch
    {
        ConnectionEnd.None => (CloseReason.Complete, "closed"),
        ConnectionEnd.ClientClosedIdle => (CloseReason.Complete, "client_closed"),
        ConnectionEnd.ClientRequestedClose => (CloseReason.Complete, "connection_close"),
        ConnectionEnd.AppRequestedClose => (CloseReason.Complete, "server_close"),
        ConnectionEnd.MaxRequestsReached => (CloseReason.Complete, "max_requests"),
        ConnectionEnd.CloseDelimitedResponse => (CloseReason.Complete, "close_delimited"),
        ConnectionEnd.UpgradeCompleted => (CloseReason.Complete, "upgrade_closed"),
        ConnectionEnd.GoAwayReceived => (CloseReason.Complete, "goaway_received"),
        ConnectionEnd.KeepAliveTimeout => (CloseReason.Timeout, "keep_alive_timeout"),
        ConnectionEnd.HeaderTimeout => (CloseReason.Timeout, "header_timeout"),
        ConnectionEnd.BodyReadTimeout => (CloseReason.Timeout, "body_read_timeout"),
        ConnectionEnd.WriteTimeout => (CloseReason.Timeout, "write_timeout"),
        ConnectionEnd.MinRequestBodyDataRate => (CloseReason.Timeout, "min_request_body_data_rate"),
        ConnectionEnd.MinResponseDataRate => (CloseReason.Timeout, "min_response_data_rate"),
        ConnectionEnd.Http2SettingsTimeout => (CloseReason.Timeout, "settings_timeout"),
        ConnectionEnd.TlsHandshakeTimeout => (CloseReason.Timeout, "tls_handshake_timeout"),
        ConnectionEnd.ClientClosedInFlight => (CloseReason.ClientDisconnect, "client_closed"),
        ConnectionEnd.PeerReset => (CloseReason.ClientDisconnect, "peer_reset"),
        ConnectionEnd.ClientClosedMidRequest => (CloseReason.ClientDisconnect, "incomplete_request"),
        ConnectionEnd.BadRequestLine => (CloseReason.Error, "bad_request_line"),
        ConnectionEnd.RequestLineTooLong => (CloseReason.Error, "request_line_too_long"),
        ConnectionEnd.UnsupportedVersion => (CloseReason.Error, "unsupported_version"),
        ConnectionEnd.BadHeader => (CloseReason.Error, "bad_header"),
        ConnectionEnd.ObsFold => (CloseReason.Error, "obs_fold"),
        ConnectionEnd.BareLineFeed => (CloseReason.Error, "bare_cr_or_lf"),
        ConnectionEnd.HeadersTooLarge => (CloseReason.Error, "headers_too_large"),
        ConnectionEnd.TooManyHeaders => (CloseReason.Error, "too_many_headers"),
        ConnectionEnd.BadHost => (CloseReason.Error, "bad_host"),
        ConnectionEnd.BadContentLength => (CloseReason.Error, "bad_content_length"),
        ConnectionEnd.BadTransferEncoding => (CloseReason.Error, "bad_transfer_encoding"),
        ConnectionEnd.ConflictingFraming => (CloseReason.Error, "conflicting_framing"),
        ConnectionEnd.BadChunk => (CloseReason.Error, "bad_chunk"),
        ConnectionEnd.BodyTooLarge => (CloseReason.Error, "body_too_large"),
        ConnectionEnd.BadRequestTarget => (CloseReason.Error, "bad_request_target"),
        ConnectionEnd.TlsHandshakeFailed => (CloseReason.Error, "tls_handshake_failed"),
        ConnectionEnd.TlsError => (CloseReason.Error, "tls_error"),
        ConnectionEnd.AppAbort => (CloseReason.Error, "app_abort"),
        ConnectionEnd.AppError => (CloseReason.Error, "app_error"),
        ConnectionEnd.InternalError => (CloseReason.Error, "internal_error"),
        ConnectionEnd.WebSocketProtocolError => (CloseReason.Error, "websocket_protocol_error"),
        ConnectionEnd.Http2ProtocolError => (CloseReason.Error, "protocol_error"),
        ConnectionEnd.Http2FrameSizeError => (CloseReason.Error, "frame_size_error"),
        ConnectionEnd.Http2FlowControlError => (CloseReason.Error, "flow_control_error"),
        ConnectionEnd.Http2CompressionError => (CloseReason.Error, "compression_error"),
        ConnectionEnd.Http2StreamClosed => (CloseReason.Error, "stream_closed"),
        ConnectionEnd.Http2InadequateSecurity => (CloseReason.Error, "inadequate_security"),
        ConnectionEnd.RapidReset => (CloseReason.Error, "rapid_reset"),
        ConnectionEnd.ContinuationFlood => (CloseReason.Error, "continuation_flood"),
        ConnectionEnd.SettingsFlood => (CloseReason.Error, "settings_flood"),
        ConnectionEnd.PingFlood => (CloseReason.Error, "ping_flood"),
        ConnectionEnd.EmptyDataFlood => (CloseReason.Error, "empty_data_flood"),
        ConnectionEnd.HpackBomb => (CloseReason.Error, "hpack_bomb"),
        ConnectionEnd.FlowControlStall => (CloseReason.Error, "flow_control_stall"),
        ConnectionEnd.MaxConnections => (CloseReason.Backpressure, "max_connections"),
        ConnectionEnd.ShutdownIdle => (CloseReason.Shutdown, "shutdown_idle"),
        ConnectionEnd.ShutdownDrained => (CloseReason.Shutdown, "shutdown_drained"),
        ConnectionEnd.ShutdownAborted => (CloseReason.Shutdown, "shutdown_timeout"),
        _ => (CloseReason.Error, "internal_error"),
    };

    /// <summary>
    /// The <c>aborted</c> cause of a <c>ResponseCompleted</c> the server cut short because of <paramref name="end"/>:
    /// <c>shutdown</c> for any shutdown, else the fact's detail (<c>write_timeout</c>, <c>app_abort</c>,
    /// <c>app_error</c>, <c>flow_control_stall</c>, ...).
    /// </summary>
    public static string AbortCause(ConnectionEnd end)
    {
        var (reason, detail) = Describe(end);
        return reason == CloseReason.Shutdown ? "shutdown" : detail;
    }

    /// <summary>The contract's lower-case name of a reason.</summary>
    public static string Name(CloseReason reason) => reason switch
    {
        CloseReason.Complete => "complete",
        CloseReason.Timeout => "timeout",
        CloseReason.ClientDisconnect => "client_disconnect",
        CloseReason.Error => "error",
        CloseReason.Backpressure => "backpressure",
        CloseReason.Shutdown => "shutdown",
        _ => "error",
    };

    /// <summary>The contract's name of a protocol.</summary>
    public static string Name(ConnectionProtocol protocol) => protocol switch
    {
        ConnectionProtocol.H1 => "h1",
        ConnectionProtocol.H2 => "h2",
        ConnectionProtocol.WebSocket => "websocket",
        _ => "unknown",
    };
}
