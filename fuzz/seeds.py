#!/usr/bin/python3
"""Builds the AFL++ seed corpora (fuzz/corpus/TARGET/) from the test suite's own requests and frames.

HTTP/1.1 heads and chunked bodies are the C# string literals of tests/ that hold a request; HPACK blocks are the
RFC 7541 Appendix C vectors of HpackAppendixCTests; HTTP/2 frames and WebSocket frames are built here the way the
tests build them (a preface-free frame sequence; masked client frames). Deterministic: same tests, same seeds.
"""
import hashlib, os, re, struct, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")

def put(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def csharp_literals(text):
    for m in re.finditer(r'(?<![@$])"((?:[^"\\\n]|\\.)*)"', text):
        yield m.group(1)

def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("latin-1", "replace"); i += 1; continue
        n = s[i + 1]
        simple = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", '"': b'"', "'": b"'"}
        if n in simple:
            out += simple[n]; i += 2
        elif n == "u":
            out += bytes([int(s[i + 2:i + 6], 16) & 0xFF]); i += 6
        elif n == "x":
            m = re.match(r"[0-9a-fA-F]{1,4}", s[i + 2:])
            out += bytes([int(m.group(0), 16) & 0xFF]); i += 2 + len(m.group(0))
        else:
            out += n.encode("latin-1", "replace"); i += 2
    return bytes(out)

def http1():
    heads = 0
    for dirpath, _, files in os.walk(os.path.join(ROOT, "tests")):
        for f in files:
            if not f.endswith(".cs"):
                continue
            text = open(os.path.join(dirpath, f), encoding="utf-8").read()
            for lit in csharp_literals(text):
                if "HTTP/1." not in lit or "\\r\\n" not in lit:
                    continue
                data = unescape(lit)
                head, sep, body = data.partition(b"\r\n\r\n")
                put("h1-head", head + sep)
                heads += 1
                if b"chunked" in head.lower() and body:
                    put("h1-chunked", body)
    for body in [b"5\r\nhello\r\n0\r\n\r\n", b"5;a=b\r\nhello\r\n0\r\n\r\n", b'5;a="b"\r\nhello\r\n0\r\nX-T: v\r\n\r\n',
                 b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", b"0\r\n\r\n"]:
        put("h1-chunked", body)
    return heads

def hpack():
    text = open(os.path.join(ROOT, "tests", "Pounce.Tests", "Http2", "HpackAppendixCTests.cs"), encoding="utf-8").read()
    for m in re.finditer(r'const string \w+ = "([0-9a-f ]+)"', text):
        put("hpack", bytes.fromhex(m.group(1).replace(" ", "")))

def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload

def http2():
    block = bytes.fromhex("828684410f7777772e6578616d706c652e636f6d")
    settings = frame(4, 0, 0, struct.pack(">HI", 3, 100) + struct.pack(">HI", 4, 65535))
    seqs = [
        settings + frame(4, 1, 0, b""),
        frame(1, 5, 1, block),
        frame(1, 4 | 8, 3, b"\x02" + block + b"\0\0"),
        frame(1, 0x20 | 4, 5, b"\0\0\0\0\x10" + block),
        frame(1, 0, 7, block[:5]) + frame(9, 4, 7, block[5:]),
        frame(0, 1, 1, b"hello"),
        frame(6, 0, 0, b"12345678") + frame(8, 0, 0, struct.pack(">I", 1000)),
        frame(3, 0, 1, struct.pack(">I", 8)) + frame(2, 0, 3, struct.pack(">IB", 1, 16)),
        frame(7, 0, 0, struct.pack(">II", 5, 0) + b"debug"),
        frame(5, 4, 1, struct.pack(">I", 2) + block),
    ]
    for s in seqs:
        put("h2-frames", s)

def ws_frame(opcode, payload, fin=True, masked=True, rsv=0):
    mask = bytes([0x37, 0xFA, 0x21, 0x3D])
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    m = 0x80 if masked else 0
    head = bytes([b0, m | n]) if n < 126 else bytes([b0, m | 126]) + struct.pack(">H", n) if n < 65536 else bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    return head + mask + bytes(p ^ mask[i & 3] for i, p in enumerate(payload))

def websocket():
    # The first byte selects the scanner's options (bit 0: masks required, bit 1: UTF-8 checked, the rest: split size).
    seqs = [
        ws_frame(1, "fine".encode()), ws_frame(1, "κόσμε".encode()),
        ws_frame(1, bytes([0xce, 0xba, 0xe1]), fin=False) + ws_frame(9, b"p") + ws_frame(0, bytes([0xbd, 0xb9])),
        ws_frame(2, bytes(300)), ws_frame(1, bytes(70000)[:200]), ws_frame(8, struct.pack(">H", 1000) + b"bye"),
        ws_frame(1, b"not masked", masked=False), ws_frame(1, bytes([0xed, 0xa0, 0x80])), ws_frame(1, b"rsv", rsv=4),
        ws_frame(10, b""), ws_frame(2, bytes(130)),
    ]
    for s in seqs:
        for flags in (0, 3, 0x13):
            put("ws-scanner", bytes([flags]) + s)

def certs():
    with tempfile.TemporaryDirectory() as d:
        key, cert, pfx = (os.path.join(d, n) for n in ("k.pem", "c.pem", "c.pfx"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "3650", "-subj", "/CN=localhost"], check=True, capture_output=True)
        subprocess.run(["openssl", "pkcs12", "-export", "-inkey", key, "-in", cert, "-out", pfx, "-passout", "pass:pw"],
                       check=True, capture_output=True)
        c, k, p = (open(x, "rb").read() for x in (cert, key, pfx))
    put("cert-config", b"\x00" + c + k)            # mode 0: one PEM file with the key
    put("cert-config", b"\x00" + c + b"\x00" + k)  # mode 0: certificate, then a key file
    put("cert-config", b"\x01" + p)                # mode 1: PKCS#12, password "pw"
    put("cert-config", b"\x02" + b'{"Pounce":{"MaxConnections":500,"LogFormat":"json","KeepAliveTimeout":"00:00:05","Port":8080}}')
    put("cert-config", b"\x02" + b'{"Pounce":{"LogSlowRequestsThreshold":"-1","Workers":0}}')

if __name__ == "__main__":
    n = http1(); hpack(); http2(); websocket(); certs()
    for t in sorted(os.listdir(OUT)):
        print(t, len(os.listdir(os.path.join(OUT, t))), "seeds", file=sys.stderr)
    print("h1 heads read from tests:", n, file=sys.stderr)
