"""A model server on another port that stalls, for the page's load deadlines and cancels.

CORS is allowed, so a page on the test site can reach it. A GET for /trickle... answers the
1-byte Range probe, then sends the first 1 KiB of every chunk it is asked for and stalls. Any
other path takes the request and never answers. Both hold their connection until the server
stops.
"""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StallingHandler(BaseHTTPRequestHandler):
    release: threading.Event      # set when the server stops: stalled requests end
    size = 64 << 20               # the model size /trickle claims

    def log_message(self, *args):
        pass

    def _cors(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Range")
        self.send_header("Access-Control-Expose-Headers", "Content-Range, ETag")

    def do_OPTIONS(self):
        self.send_response(204)
        self._cors()
        self.end_headers()

    def do_GET(self):
        if not self.path.startswith("/trickle"):
            self.release.wait(120)
            return
        start, end = (int(v) for v in self.headers["Range"].split("=")[1].split("-"))
        self.send_response(206)
        self._cors()
        self.send_header("Content-Range", f"bytes {start}-{end}/{self.size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if end == start:            # the probe
            self.wfile.write(b"G")
            return
        self.wfile.write(b"GGUF" + bytes(1020))
        self.wfile.flush()
        self.release.wait(120)


@contextlib.contextmanager
def stalling_server():
    """The server's base URL (http://127.0.0.1:PORT), serving until the block ends."""
    handler = type("Stalling", (StallingHandler,), {"release": threading.Event()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        handler.release.set()
        httpd.shutdown()
        httpd.server_close()
