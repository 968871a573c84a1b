"""A loopback HTTP server that misbehaves on purpose, for test_fuzz_http.py.

It speaks raw sockets, so that it can break HTTP itself (garbage status lines, trickled
headers). A request for `/<behaviour>[/<arg>]` gets that behaviour over the served file
`server.data`; `honest` serves Range requests correctly. Times are the issue's, scaled down
(1 KiB every 5 s becomes 1 KiB every `server.tick` seconds).
"""

from __future__ import annotations

import re
import socketserver
import threading
import time


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            request_line = self.rfile.readline(65537).decode("latin-1").strip()
            headers = {}
            while (line := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            path = request_line.split(" ")[1] if " " in request_line else "/"
            behaviour, _, arg = path.strip("/").partition("/")
            server = self.server
            server.hits += 1
            rng = re.fullmatch(r"bytes=(\d+)-(\d+)", headers.get("range", ""))
            start, end = (int(rng.group(1)), int(rng.group(2))) if rng else (0, len(server.data) - 1)
            getattr(self, "b_" + behaviour.replace("-", "_"), self.b_not_found)(arg, start, end)
        except (ConnectionError, OSError):
            pass        # the client gave up: that is what the deadlines are for

    # ---- helpers ------------------------------------------------------------------------

    def send(self, raw: bytes) -> None:
        self.wfile.write(raw)
        self.wfile.flush()

    def head(self, status: str, headers: dict) -> bytes:
        lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def ranged(self, start: int, end: int, total: int | None = None, first: int | None = None):
        """(head, body) of a correct 206, optionally lying in Content-Range."""
        data = self.server.data
        end = min(end, len(data) - 1)
        body = data[start:end + 1]
        total = len(data) if total is None else total
        first = start if first is None else first
        return self.head("206 Partial Content", {
            "Content-Range": f"bytes {first}-{first + len(body) - 1}/{total}",
            "Content-Length": len(body)}), body

    # ---- behaviours -----------------------------------------------------------------------

    def b_honest(self, arg, start, end):
        head, body = self.ranged(start, end)
        self.send(head + body)

    def b_not_found(self, arg, start, end):
        self.send(self.head("404 Not Found", {"Content-Length": 0}))

    def b_drip(self, arg, start, end):
        """The body in pieces of `arg` bytes (default 1 KiB), one per tick."""
        piece = int(arg or 1024)
        head, body = self.ranged(start, end)
        self.send(head)
        for i in range(0, len(body), piece):
            time.sleep(self.server.tick)
            self.send(body[i:i + piece])

    def b_drip_headers(self, arg, start, end):
        head, body = self.ranged(start, end)
        for i in range(len(head)):
            time.sleep(self.server.tick / 10)
            self.send(head[i:i + 1])
        self.send(body)

    def b_silence(self, arg, start, end):
        time.sleep(self.server.tick * 20)

    def b_silence_after_head(self, arg, start, end):
        head, body = self.ranged(start, end)
        self.send(head + body[:len(body) // 2])
        time.sleep(self.server.tick * 20)

    def b_close(self, arg, start, end):
        pass

    def b_short_body(self, arg, start, end):
        head, body = self.ranged(start, end)
        self.send(head + body[:len(body) // 2])

    def b_redirect_loop(self, arg, start, end):
        self.send(self.head("302 Found", {"Location": "/redirect-loop", "Content-Length": 0}))

    def b_redirect_chain(self, arg, start, end):
        hop = int(arg or 0) + 1
        self.send(self.head("301 Moved", {"Location": f"/redirect-chain/{hop}", "Content-Length": 0}))

    def b_redirect_file(self, arg, start, end):
        self.send(self.head("302 Found", {"Location": "file:///etc/passwd", "Content-Length": 0}))

    def b_redirect_once(self, arg, start, end):
        self.send(self.head("307 Temporary Redirect", {"Location": "/honest", "Content-Length": 0}))

    def b_html(self, arg, start, end):
        body = b"<!DOCTYPE html><html><head><title>Not here</title></head><body>" + b"x" * 4000
        self.send(self.head("200 OK", {"Content-Type": "text/html", "Content-Length": len(body)}) + body)

    def b_whole_file(self, arg, start, end):
        data = memoryview(self.server.data)
        self.send(self.head("200 OK", {"Content-Length": len(data)}))
        for i in range(0, len(data), 1 << 16):     # the client reads a few bytes and hangs up
            self.send(data[i:i + (1 << 16)])

    def b_wrong_start(self, arg, start, end):
        head, body = self.ranged(start, end, first=start + 1 if start else 0)
        self.send(head + body)

    def b_wrong_total(self, arg, start, end):
        head, body = self.ranged(start, end, total=len(self.server.data) + (1 if start else 0))
        self.send(head + body)

    def b_huge_total(self, arg, start, end):
        head, body = self.ranged(start, end, total=2**70)
        self.send(head + body)

    def b_no_content_range(self, arg, start, end):
        body = self.server.data[start:end + 1]
        self.send(self.head("206 Partial Content", {"Content-Length": len(body)}) + body)

    def b_bad_content_range(self, arg, start, end):
        body = self.server.data[start:end + 1]
        self.send(self.head("206 Partial Content", {"Content-Range": "bytes " + "9" * 5000,
                                                    "Content-Length": len(body)}) + body)

    def b_garbage(self, arg, start, end):
        self.send(b"HELLO THERE\r\n\r\n" + bytes(range(256)) * 4)

    def b_long_reason(self, arg, start, end):
        self.send(self.head("500 " + "Z" * 20000, {"Content-Length": 0}))

    def b_many_headers(self, arg, start, end):
        self.send(self.head("206 Partial Content", {f"X-{i}": i for i in range(500)}))

    def b_bad_length(self, arg, start, end):
        self.send(self.head("206 Partial Content", {"Content-Range": f"bytes 0-0/{len(self.server.data)}",
                                                    "Content-Length": "-5"}) + b"G")

    def b_chunked(self, arg, start, end):
        head, body = self.ranged(start, end)
        head = head.replace(f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked")
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 4096]), body[i:i + 4096])
                          for i in range(0, len(body), 4096))
        self.send(head + chunks + b"0\r\n\r\n")

    def b_status(self, arg, start, end):
        """Any status code, with an empty body."""
        self.send(self.head(f"{int(arg)} Whatever", {"Content-Length": 0}))

    def b_cut(self, arg, start, end):
        """A correct answer cut after `arg` bytes of the whole response."""
        head, body = self.ranged(start, end)
        self.send((head + body)[:int(arg)])


class HostileServer:
    """The server on 127.0.0.1, one thread per connection; `url(behaviour)` to reach it."""

    def __init__(self, data, tick: float = 0.1):
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.tcp.daemon_threads = True
        self.tcp.data, self.tcp.tick, self.tcp.hits = data, tick, 0
        self.thread = threading.Thread(target=self.tcp.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.tcp.server_address[1]}/{behaviour}"

    def close(self) -> None:
        self.tcp.shutdown()
        self.tcp.server_close()
