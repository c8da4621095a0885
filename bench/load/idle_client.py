#!/usr/bin/env python3
"""Opens N keep-alive connections to a server on loopback and holds them idle.

Each connection sends one `GET <path>` and reads the whole response, so the server has set the
connection up completely (first request served, now waiting for the next one). Then it prints
    READY open=<connections still open> failed=<count> seconds=<time taken>
and holds them until it is killed or --hold seconds pass.

Plain sockets, or TLS with --tls (certificate not verified: a loopback test server's self-signed one); runs on
any python3 (run.sh prefers Debian's /usr/bin/python3).
Only 127.0.0.0/8 and ::1 are accepted as targets.
"""
import argparse
import ipaddress
import resource
import selectors
import socket
import ssl
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/plaintext")
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--batch", type=int, default=200, help="connections opened (and answered) at a time")
    p.add_argument("--timeout", type=float, default=120.0, help="give up opening after this many seconds")
    p.add_argument("--hold", type=float, default=120.0, help="hold the connections at most this many seconds")
    p.add_argument("--tls", action="store_true", help="connect with TLS (HTTP/1.1 ALPN), one handshake at a time")
    return p.parse_args()


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY or hard >= needed else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def response_complete(buf):
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    length = 0
    for line in buf[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and value.strip().lower().endswith(b"chunked"):
            # Small responses only (the bench app's /plaintext): complete once the last chunk and the empty
            # trailer section have arrived.
            return buf.endswith(b"0\r\n\r\n") and len(buf) > head_end + 4
    return len(buf) >= head_end + 4 + length


def open_tls(host, port, request, deadline, context):
    """One TLS connection, blocking: handshake, request, whole response. Returns the socket or None."""
    raw = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        raw.settimeout(max(0.1, deadline - time.monotonic()))
        raw.connect((host, port))
        s = context.wrap_socket(raw, server_hostname="localhost")
        s.sendall(request)
        buf = bytearray()
        while not response_complete(buf):
            chunk = s.recv(65536)
            if not chunk:
                s.close()
                return None
            buf += chunk
        s.setblocking(False)
        return s
    except OSError:
        raw.close()
        return None


def open_batch(host, port, request, count, deadline, context=None):
    """Opens `count` connections, sends the request on each, waits for every response."""
    if context is not None:
        done = [s for s in (open_tls(host, port, request, deadline, context) for _ in range(count)) if s is not None]
        return done, count - len(done)
    sel = selectors.DefaultSelector()
    pending = {}
    failed = 0
    for _ in range(count):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            s.connect((host, port))
            s.sendall(request)
            s.setblocking(False)
        except OSError:
            s.close()
            failed += 1
            continue
        pending[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    done = []
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=min(1.0, max(0.0, deadline - time.monotonic()))):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(s)
                s.close()
                del pending[s]
                failed += 1
                continue
            pending[s] += chunk
            if response_complete(pending[s]):
                sel.unregister(s)
                del pending[s]
                done.append(s)
    for s in list(pending):
        sel.unregister(s)
        s.close()
        failed += 1
    sel.close()
    return done, failed


def main():
    args = parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        sys.exit("idle_client: only loopback addresses are allowed")
    limit = raise_fd_limit(args.connections + 64)
    if limit < args.connections + 16:
        sys.exit(f"idle_client: open-file limit {limit} is too low for {args.connections} connections")

    request = f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n\r\n".encode("ascii")
    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["http/1.1"])
    start = time.monotonic()
    deadline = start + args.timeout
    sockets = []
    failed = 0
    while len(sockets) + failed < args.connections and time.monotonic() < deadline:
        n = min(args.batch, args.connections - len(sockets) - failed)
        done, bad = open_batch(args.host, args.port, request, n, deadline, context)
        sockets.extend(done)
        failed += bad
    failed += args.connections - len(sockets) - failed

    # Connections the server closed meanwhile (a short keep-alive timeout) do not count as open.
    sel = selectors.DefaultSelector()
    for s in sockets:
        sel.register(s, selectors.EVENT_READ)
    closed = {key.fileobj for key, _ in sel.select(timeout=0)}
    open_count = len(sockets) - len(closed)
    print(f"READY open={open_count} failed={failed + len(closed)} seconds={time.monotonic() - start:.2f}", flush=True)

    # Hold until killed or --hold runs out. A socket the server closes is dropped from the watch list.
    for s in closed:
        sel.unregister(s)
    hold_until = time.monotonic() + args.hold
    while time.monotonic() < hold_until:
        for key, _ in sel.select(timeout=min(1.0, max(0.0, hold_until - time.monotonic()))):
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
    for s in sockets:
        s.close()


if __name__ == "__main__":
    main()
