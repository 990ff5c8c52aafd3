"""A web server for the web attack tests (e2e/attack-web*.itest.ts), run inside a sandbox:

  /fault/<name>  answers with the raw bytes of FAULTS[name] (hostile response heads), then
                 closes the connection (with a TCP reset for "mid-body-reset")
  /echo...       200, JSON: the path and the request headers as the server received them
  /ws            a WebSocket that answers its first text message with JSON of the request headers
                 and the message
  anything else  a file of /tmp/www (pages the test writes)

Usage: python3 hostile-web-server.py PORT [BIND_ADDRESS, default 0.0.0.0]
"""
import base64
import hashlib
import json
import os
import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FILL = b"".join(b"X-Fill-%d: %s\r\n" % (i, b"a" * 1000) for i in range(100))
FAULTS = {
    "status000": b"HTTP/1.1 000 X\r\nContent-Length: 2\r\n\r\nok",
    "status999": b"HTTP/1.1 999 Whatever\r\nContent-Length: 2\r\n\r\nok",
    "reason-control-char": b"HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok",
    "reason-del": b"HTTP/1.1 200 O\x7fK\r\nContent-Length: 2\r\n\r\nok",
    "header-name-space": b"HTTP/1.1 200 OK\r\nBad Name: v\r\nContent-Length: 2\r\n\r\nok",
    "header-value-control": b"HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok",
    "huge-head": b"HTTP/1.1 200 OK\r\n" + FILL + b"Content-Length: 2\r\n\r\nok",
    "garbage": bytes(range(256)) * 4,
    "switching-protocols": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: Upgrade\r\n\r\nhello",
    "continue-then-close": b"HTTP/1.1 100 Continue\r\n\r\n",
    "both-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok",
    "empty": b"",
    "mid-body-reset": b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"a" * 4096,
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n",
}


def ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    head = bytes([0x81, n]) if n < 126 else bytes([0x81, 126]) + struct.pack("!H", n)
    return head + payload


def ws_read_text(f) -> bytes:
    b1, b2 = f.read(2)
    n = b2 & 0x7F
    if n == 126:
        n = struct.unpack("!H", f.read(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", f.read(8))[0]
    mask = f.read(4) if b2 & 0x80 else b"\0\0\0\0"
    data = f.read(n)
    return bytes(c ^ mask[i % 4] for i, c in enumerate(data))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def headers_json(self):
        return [[k, v] for k, v in self.headers.items()]

    def do_GET(self):
        if self.path.startswith("/fault/"):
            return self.fault(self.path[len("/fault/"):])
        if self.path.startswith("/echo"):
            return self.echo()
        if self.path == "/ws":
            return self.websocket()
        name = os.path.basename(self.path.split("?")[0]) or "index.html"
        try:
            with open(os.path.join("/tmp/www", name), "rb") as f:
                body = f.read()
        except OSError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8" if name.endswith(".html") else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.echo()

    def echo(self):
        body = json.dumps({"path": self.path, "headers": self.headers_json()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def fault(self, name):
        self.wfile.write(FAULTS[name])
        self.wfile.flush()
        if name == "mid-body-reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        protocols = [p.strip() for p in (self.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
        chosen = "Sec-WebSocket-Protocol: %s\r\n" % protocols[0] if protocols else ""
        self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n" % (accept, chosen)).encode())
        self.wfile.flush()
        message = ws_read_text(self.rfile).decode()
        self.wfile.write(ws_frame(json.dumps({"message": message, "headers": self.headers_json()}).encode()))
        self.wfile.flush()
        self.close_connection = True


ThreadingHTTPServer((sys.argv[2] if len(sys.argv) > 2 else "0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
