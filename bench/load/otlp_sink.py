#!/usr/bin/env python3
"""A stand-in OTLP/HTTP receiver for the load script's `otel` row.

Accepts every POST (/v1/traces, /v1/metrics, /v1/logs), reads its body and answers 200 with an empty protobuf body
(an empty Export*ServiceResponse), so the server under test pays the full cost of building and exporting its
telemetry while the receiver costs as little as possible. Prints one line `Listening on http://127.0.0.1:PORT`
when ready; on SIGTERM/SIGINT prints `posts=N bytes=M` and exits 0.
"""

import argparse
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

posts = 0
received = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        global posts, received
        length = int(self.headers.get("Content-Length") or 0)
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                return
            left -= len(chunk)
        with lock:
            posts += 1
            received += length
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"Listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
    print(f"posts={posts} bytes={received}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
