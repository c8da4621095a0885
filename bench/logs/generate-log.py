#!/usr/bin/env python3
"""Writes a synthetic Pounce JSON lifecycle log of about SIZE bytes (default 1 GiB) to PATH, for timing
`pounce logs summary`: connections with 1-8 requests each (ConnectionOpened, RequestStarted, ResponseCompleted or
ClientDisconnected, an access line, ConnectionCompleted), the mix of a real debug-level log.
Usage: generate-log.py PATH [SIZE_BYTES]"""
import random, sys, datetime

path = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 30
rnd = random.Random(42)
paths = ["/", "/plaintext", "/api/users", "/api/orders", "/slow", "/download", "/health", "/static/app.js"] + [f"/item/{i}" for i in range(200)]
reasons = [("complete", "client_closed"), ("timeout", "keep_alive_timeout"), ("client_disconnect", "peer_reset"), ("error", "bad_request_line")]
t0 = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
written = 0
cid = 0
us = 0
with open(path, "w", buffering=1 << 22) as f:
    while written < size:
        cid += 1
        w = cid % 4 + 1
        port = 10000 + cid % 50000
        ts = lambda: (t0 + datetime.timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out = []
        out.append(f'{{"event":"ConnectionOpened","connection_id":{cid},"worker_id":{w},"timestamp":"{ts()}","level":"debug","client_addr":"10.0.{cid % 7}.{cid % 250}","client_port":{port},"server_addr":"127.0.0.1","server_port":8000,"protocol":"h1","tls":false}}\n')
        n = rnd.randint(1, 8)
        total = 0
        for k in range(1, n + 1):
            us += rnd.randint(50, 500)
            p = rnd.choice(paths)
            rid = f"{cid}-{k}"
            out.append(f'{{"event":"RequestStarted","connection_id":{cid},"worker_id":{w},"timestamp":"{ts()}","level":"debug","method":"GET","path":"{p}","http_version":"1.1","request_id":"{rid}"}}\n')
            dur = rnd.lognormvariate(0, 1.2)
            us += int(dur * 1000)
            b = rnd.randint(0, 20000)
            total += b
            if rnd.random() < 0.01:
                out.append(f'{{"event":"ClientDisconnected","connection_id":{cid},"worker_id":{w},"timestamp":"{ts()}","level":"warning","during_streaming":true,"client_addr":"10.0.{cid % 7}.{cid % 250}","request_id":"{rid}","method":"GET","path":"{p}","bytes_sent":{b}}}\n')
                break
            status = 500 if rnd.random() < 0.005 else 404 if rnd.random() < 0.02 else 200
            slow = ',"slow":true' if dur > 50 else ''
            out.append(f'{{"event":"ResponseCompleted","connection_id":{cid},"worker_id":{w},"timestamp":"{ts()}","level":"debug","status":{status},"bytes_sent":{b},"duration_ms":{dur:.3f}{slow},"method":"GET","path":"{p}","request_id":"{rid}"}}\n')
            out.append(f'{{"timestamp":"{ts()}","level":"info","category":"Pounce.Access","connection_id":{cid},"worker_id":{w},"request_id":"{rid}","client_addr":"10.0.{cid % 7}.{cid % 250}","method":"GET","path":"{p}","http_version":"1.1","status":{status},"bytes_sent":{b},"duration_ms":{dur:.3f},"user_agent":"load/1.0"}}\n')
        reason, detail = rnd.choice(reasons)
        out.append(f'{{"event":"ConnectionCompleted","connection_id":{cid},"worker_id":{w},"timestamp":"{ts()}","level":"debug","requests_served":{n},"total_bytes_sent":{total},"duration_ms":{us / 1000:.3f},"reason":"{reason}","detail":"{detail}","protocol":"h1","client_addr":"10.0.{cid % 7}.{cid % 250}"}}\n')
        s = "".join(out)
        f.write(s)
        written += len(s)
