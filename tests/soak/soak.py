#!/usr/bin/python3
"""Fault soak for Pounce: loopback only, bounded in time and requests, stops by itself.

Runs the demo server (`pounce` with no app) with JSON lifecycle logging to a file, warms it up, then drives, one
phase after the other: HTTP/1.1 keep-alive and `Connection: close` (wrk), pipelined HTTP/1.1 (raw sockets), h2c
multiplexed (h2load), WebSocket sessions (python3-websockets), and a fault client doing every kind of abort (reset
mid-head, mid-body, mid-response and mid-WebSocket, FIN mid-head, half-close, slow reader past the write timeout).
Then it stops the server and checks the lifecycle contract's invariants on the JSON log, and the server's RSS.

    /usr/bin/python3 tests/soak/soak.py [--seconds 20] [--abortive 2000] [--ws 500] [--pipelined 200]

Exit code 0 only when there are 0 violations. Needs wrk, h2load (Debian: wrk, nghttp2-client) and
python3-websockets; the .NET SDK builds the server.
"""
import argparse, asyncio, collections, json, os, random, re, shutil, signal, socket, struct, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def log(*a):
    print(*a, flush=True)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def rss_kb(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0

def memory(pid):
    """What the process holds, from /proc: RSS split into anonymous (heaps, stacks), file-backed and shared memory, and
    its threads."""
    m = {k: rss_kb(pid, k) for k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads")}
    return m

def describe(m):
    # .NET maps JIT-compiled code twice through shared memory (W^X), so code shows as shmem.
    return (f"RSS {m['VmRSS'] / 1024:.1f} MiB (anon {m['RssAnon'] / 1024:.1f}, file {m['RssFile'] / 1024:.1f}, "
            f"shmem {m['RssShmem'] / 1024:.1f}), "
            f"threads {m['Threads']}")

class Counters:
    """The server's GC figures (heap size per generation after the last collection, its fragmentation, committed
    memory) through dotnet-counters, when asked. Attaching changes the process a little (an EventPipe session), so it
    runs from start to end, warm-up included."""

    def __init__(self, pid, directory):
        tool = shutil.which("dotnet-counters") or os.path.expanduser("~/.dotnet/tools/dotnet-counters")
        self.file = os.path.join(directory, "counters.csv")
        self.proc = subprocess.Popen([tool, "collect", "-p", str(pid), "--refresh-interval", "1", "--format", "csv",
                                      "-o", self.file, "--counters", "System.Runtime[dotnet.gc.last_collection.heap.size,"
                                      "dotnet.gc.last_collection.heap.fragmentation.size,dotnet.gc.last_collection.memory.committed_size]"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def latest(self):
        last = {}
        try:
            with open(self.file) as f:
                for line in f:
                    parts = line.rstrip("\n").split(",")
                    if len(parts) == 5 and parts[1] == "System.Runtime":
                        try:
                            last[parts[2]] = float(parts[4])
                        except ValueError:
                            pass
        except OSError:
            return "no counters"
        mib = lambda v: f"{v / 1048576:.1f}"
        heap = {k.split("=")[-1].rstrip("]"): v for k, v in last.items() if k.startswith("dotnet.gc.last_collection.heap.size")}
        frag = sum(v for k, v in last.items() if k.startswith("dotnet.gc.last_collection.heap.fragmentation"))
        committed = sum(v for k, v in last.items() if k.startswith("dotnet.gc.last_collection.memory.committed"))
        gens = ", ".join(f"{g} {mib(heap[g])}" for g in ("gen0", "gen1", "gen2", "loh", "poh") if g in heap)
        return f"GC heap {mib(sum(heap.values()))} MiB ({gens}), fragmentation {mib(frag)}, committed {mib(committed)} MiB"

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()

def gcdump(pid, directory, name, top=25):
    """Live objects by type (dotnet-gcdump: it makes the runtime run a full, blocking GC first), and the RSS after it."""
    tool = shutil.which("dotnet-gcdump") or os.path.expanduser("~/.dotnet/tools/dotnet-gcdump")
    path = os.path.join(directory, name + ".gcdump")
    run([tool, "collect", "-p", str(pid), "-o", path], 120)
    report = run([tool, "report", path], 120).splitlines()
    log(f"  {name} live objects (after a full GC): {describe(memory(pid))}")
    for line in report[:top]:
        log("    " + line)

def run(cmd, timeout):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r.stdout + r.stderr

# ------------------------------------------------------------------------------------------------------------------
# Load phases
# ------------------------------------------------------------------------------------------------------------------

def wrk(port, seconds, connections, extra=()):
    out = run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", *extra, f"http://127.0.0.1:{port}/plaintext"], seconds + 60)
    m = re.search(r"(\d+) requests in", out)
    return int(m.group(1)) if m else 0

def h2load(port, requests, clients, streams):
    out = run(["h2load", "-n", str(requests), "-c", str(clients), "-m", str(streams), f"http://127.0.0.1:{port}/plaintext"], 600)
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done", out)
    return int(m.group(1)) if m else 0

async def pipelined(port, connections, batches, depth=16):
    done = 0
    async def one():
        nonlocal done
        r, w = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(batches):
            w.write(b"GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n" * depth)
            await w.drain()
            got = 0
            buf = b""
            while got < depth:
                chunk = await r.read(65536)
                if not chunk:
                    return
                buf += chunk
                got = buf.count(b"HTTP/1.1 200")
            done += got
        w.close()
    sem = asyncio.Semaphore(16)
    async def guarded():
        async with sem:
            await asyncio.wait_for(one(), 60)
    await asyncio.gather(*(guarded() for _ in range(connections)), return_exceptions=True)
    return done

async def websockets_phase(port, sessions):
    import websockets
    ok = 0
    async def one(i):
        nonlocal ok
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=20, close_timeout=20) as ws:
            for k in range(3):
                await ws.send(f"soak {i} {k}")
                await ws.recv()
        ok += 1
    sem = asyncio.Semaphore(20)
    async def guarded(i):
        async with sem:
            try:
                await asyncio.wait_for(one(i), 60)
            except Exception:
                pass
    await asyncio.gather(*(guarded(i) for i in range(sessions)))
    return ok

# ------------------------------------------------------------------------------------------------------------------
# The fault client: every kind of abort
# ------------------------------------------------------------------------------------------------------------------

def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()

WS_HANDSHAKE = (b"GET /ws HTTP/1.1\r\nHost: soak\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")

def fault(port, kind):
    s = socket.socket()
    s.settimeout(30)
    if kind == "slow_reader":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    try:
        if kind == "reset_mid_head":
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: so")
            time.sleep(0.005)
            reset(s)
        elif kind == "fin_mid_head":
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHo")
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
            s.close()
        elif kind == "reset_mid_body":
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
            time.sleep(0.005)
            reset(s)
        elif kind == "reset_mid_response":
            s.sendall(b"GET /download?mb=2 HTTP/1.1\r\nHost: soak\r\n\r\n")
            got = 0
            while got < 16384:
                chunk = s.recv(16384)
                if not chunk:
                    break
                got += len(chunk)
            reset(s)
        elif kind == "half_close":
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
            s.close()
        elif kind == "reset_mid_websocket":
            s.sendall(WS_HANDSHAKE)
            s.recv(4096)
            s.sendall(bytes([0x81, 0x84, 1, 2, 3, 4]) + bytes(b ^ m for b, m in zip(b"ping", [1, 2, 3, 4])))
            time.sleep(0.005)
            reset(s)
        elif kind == "slow_reader":
            s.sendall(b"GET /download?mb=64 HTTP/1.1\r\nHost: soak\r\n\r\n")
            s.settimeout(60)
            time.sleep(0.1)
            # Read nothing until the server gives up (ResponseWriteTimeout), then drain to its close.
            deadline = time.time() + 60
            time.sleep(3)
            try:
                while time.time() < deadline and s.recv(1 << 20):
                    pass
            except OSError:
                pass
            s.close()
    except OSError:
        s.close()

KINDS = ["reset_mid_head", "fin_mid_head", "reset_mid_body", "reset_mid_response", "half_close", "reset_mid_websocket"]

async def faults(port, count, slow_readers):
    loop = asyncio.get_running_loop()
    kinds = collections.Counter()
    sem = asyncio.Semaphore(32)
    async def one(kind):
        async with sem:
            await loop.run_in_executor(None, fault, port, kind)
            kinds[kind] += 1
    jobs = [one(KINDS[i % len(KINDS)]) for i in range(count)] + [one("slow_reader") for _ in range(slow_readers)]
    await asyncio.gather(*jobs)
    return kinds

# ------------------------------------------------------------------------------------------------------------------
# The contract's invariants on the JSON log
# ------------------------------------------------------------------------------------------------------------------

def check(logfile):
    violations = collections.Counter()
    examples = {}
    def bad(kind, detail):
        violations[kind] += 1
        examples.setdefault(kind, detail)
    opened, completed, after = collections.Counter(), {}, 0
    started, endings = {}, collections.Counter()
    per_conn_responses, per_conn_bytes = collections.Counter(), collections.Counter()
    counts = collections.Counter()
    lines = 0
    with open(logfile, "rb") as f:
        for raw in f:
            lines += 1
            try:
                e = json.loads(raw)
            except ValueError:
                bad("invalid_json", raw[:200])
                continue
            ev = e.get("event")
            if ev is None:
                msg = json.dumps(e)
                if "LogLinesDropped" in msg or "dropped" in str(e.get("message", "")).lower():
                    bad("dropped_lines", msg[:300])
                if e.get("level") in ("error", "critical"):
                    bad("error_log_line", msg[:300])
                continue
            counts[ev] += 1
            cid = e.get("connection_id")
            if cid in completed:
                bad("event_after_connection_completed", json.dumps(e)[:300])
            if ev == "ConnectionOpened":
                opened[cid] += 1
            elif ev == "ConnectionCompleted":
                completed[cid] = e
                if e.get("detail") == "internal_error":
                    bad("internal_error", json.dumps(e)[:300])
            elif ev == "RequestStarted":
                rid = e["request_id"]
                if rid in started:
                    bad("request_started_twice", rid)
                started[rid] = cid
            elif ev in ("ResponseCompleted", "ClientDisconnected"):
                rid = e["request_id"]
                endings[rid] += 1
                per_conn_bytes[cid] += e.get("bytes_sent", 0)
                if ev == "ResponseCompleted":
                    per_conn_responses[cid] += 1
    for cid, n in opened.items():
        if n != 1:
            bad("connection_opened_not_once", cid)
        if cid not in completed:
            bad("connection_without_completed", cid)
    for cid in completed:
        if opened[cid] != 1:
            bad("completed_without_opened", cid)
        c = completed[cid]
        if c["requests_served"] != per_conn_responses[cid]:
            bad("requests_served_mismatch", f"{cid}: {c['requests_served']} vs {per_conn_responses[cid]} ResponseCompleted")
        if c["total_bytes_sent"] != per_conn_bytes[cid]:
            bad("total_bytes_sent_mismatch", f"{cid}: {c['total_bytes_sent']} vs {per_conn_bytes[cid]}")
    for rid in started:
        if endings[rid] != 1:
            bad("request_endings_not_one", f"{rid}: {endings[rid]}")
    for rid in endings:
        if rid not in started:
            bad("ending_without_request_started", rid)
    reasons = collections.Counter(f"{c['reason']}/{c['detail']}" for c in completed.values())
    return lines, counts, violations, examples, reasons, len(completed)

# ------------------------------------------------------------------------------------------------------------------

def one_round(port, seconds, h2_requests, pipelined_connections, ws, abortive, slow_readers, report=False):
    say = log if report else (lambda *a: None)
    totals = {}
    totals["h1_keepalive"] = wrk(port, seconds, 32)
    say("h1 keep-alive:", totals["h1_keepalive"])
    totals["h1_close"] = wrk(port, max(1, seconds // 2), 16, ["-H", "Connection: close"])
    say("h1 close:", totals["h1_close"])
    totals["h1_pipelined"] = asyncio.run(pipelined(port, pipelined_connections, 20))
    say("h1 pipelined:", totals["h1_pipelined"])
    totals["h2c"] = h2load(port, h2_requests, 8, 32)
    say("h2c multiplexed:", totals["h2c"])
    totals["websocket"] = asyncio.run(websockets_phase(port, ws))
    say("websocket sessions:", totals["websocket"])
    kinds = asyncio.run(faults(port, abortive, slow_readers))
    say("abortive clients:", sum(kinds.values()), dict(kinds))
    return totals, kinds

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20, help="duration of each wrk phase")
    ap.add_argument("--h2-requests", type=int, default=200000)
    ap.add_argument("--pipelined", type=int, default=200, help="pipelining connections (20 batches of 16 each)")
    ap.add_argument("--ws", type=int, default=500, help="WebSocket sessions")
    ap.add_argument("--abortive", type=int, default=2000, help="abortive clients (plus --slow-readers)")
    ap.add_argument("--slow-readers", type=int, default=20)
    ap.add_argument("--warmup-seconds", type=int, default=8, help="duration of the warm-up round's wrk phase")
    ap.add_argument("--keep", action="store_true", help="keep the log file")
    ap.add_argument("--counters", action="store_true", help="also report the GC heap (dotnet-counters)")
    ap.add_argument("--gcdump", action="store_true", help="also list live objects after warm-up and at the end (dotnet-gcdump; "
                    "forces a full GC after each RSS figure is taken)")
    args = ap.parse_args()
    for tool in ("wrk", "h2load"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (Debian: {'wrk' if tool == 'wrk' else 'nghttp2-client'})")

    subprocess.run(["dotnet", "build", os.path.join(ROOT, "src", "Pounce.Cli"), "-c", "Release", "-v", "q", "-nologo"], check=True,
                   stdout=subprocess.DEVNULL)
    dll = os.path.join(ROOT, "src", "Pounce.Cli", "bin", "Release", "net10.0", "Pounce.Cli.dll")
    port = free_port()
    logdir = tempfile.mkdtemp(prefix="pounce-soak-")
    logfile = os.path.join(logdir, "soak.log")
    cmd = ["dotnet", dll, "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--lifecycle-logging",
           "--log-format", "json", "--log-level", "debug", "--log-file", logfile, "--no-access-log",
           "--response-write-timeout", "2", "--max-connections", "20000"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(logdir, "stderr.txt"), "w"))
    t0 = time.time()
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        log(f"server pid {server.pid} on 127.0.0.1:{port}, log {logfile}")
        counters = Counters(server.pid, logdir) if args.counters else None
        # Warm-up: a round of every phase (JIT, pools, buffers), then the post-warm-up RSS. Long enough for tiered
        # compilation to reach its final code and the pools their working size: after a 2 s round the main round still
        # added ~12 MiB that did not grow with its length (GC committed memory, JIT code, runtime data).
        one_round(port, args.warmup_seconds, 8000 * args.warmup_seconds, 20, 60, 300, 2)
        time.sleep(5)
        rss_warm = rss_kb(server.pid)
        log(f"RSS after warm-up: {rss_warm / 1024:.1f} MiB")
        log(f"  after warm-up: {describe(memory(server.pid))}" + (f"; {counters.latest()}" if counters else ""))
        if args.gcdump:
            gcdump(server.pid, logdir, "warm-up")
        totals, kinds = one_round(port, args.seconds, args.h2_requests, args.pipelined, args.ws, args.abortive, args.slow_readers, report=True)
        rss_peak = rss_kb(server.pid, "VmHWM")
        time.sleep(10)  # idle: the heartbeat and GC settle
        rss_end = rss_kb(server.pid)
        log(f"  end: {describe(memory(server.pid))}" + (f"; {counters.latest()}" if counters else ""))
        if args.gcdump:
            gcdump(server.pid, logdir, "end")
        if counters:
            counters.stop()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    elapsed = time.time() - t0
    lines, counts, violations, examples, reasons, connections = check(logfile)
    requests = counts["ResponseCompleted"] + counts["ClientDisconnected"]
    log("")
    log(f"elapsed {elapsed:.0f} s; log lines {lines}; connections {connections}; requests ended {requests} "
        f"(ResponseCompleted {counts['ResponseCompleted']}, ClientDisconnected {counts['ClientDisconnected']}); "
        f"abortive clients {sum(kinds.values())}")
    log("connection endings:", dict(reasons.most_common()))
    growth = (rss_end - rss_warm) / rss_warm * 100 if rss_warm else 0
    log(f"RSS start (post-warm-up) {rss_warm / 1024:.1f} MiB, peak {rss_peak / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB ({growth:+.1f} %)")
    if growth > 10:
        violations["rss_not_back_within_10_percent"] += 1
    log(f"invariant violations: {sum(violations.values())}", dict(violations))
    for k, v in examples.items():
        log(f"  e.g. {k}: {v}")
    if not args.keep and not violations:
        shutil.rmtree(logdir, ignore_errors=True)
    sys.exit(1 if violations else 0)

if __name__ == "__main__":
    main()
