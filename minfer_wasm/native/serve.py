"""`minfer-wasm serve`: a static file server for the built site, with HTTP Range support.

The page reads models with Range requests, so single byte ranges get `206 Partial Content` with
`Content-Range` (RFC 9110 section 14); every file says `Accept-Ranges: bytes`. MIME types are
fixed here rather than taken from the OS table: browsers insist on `application/wasm` for
streaming compilation and a JavaScript type for module scripts.
"""

from __future__ import annotations

import json
import os
import re
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from ..errors import SourceError
from .model_store import DEFAULT_MODEL, cache_dir

MIME_TYPES = {
    ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json", ".wasm": "application/wasm", ".zip": "application/zip",
    ".whl": "application/zip", ".gz": "application/gzip", ".gguf": "application/octet-stream", ".svg": "image/svg+xml",
    ".png": "image/png", ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8", ".map": "application/json",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
COPY_CHUNK = 1 << 20


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single `bytes=` range; None means serve the whole file
    (a multi-range or unknown unit, which RFC 9110 lets a server ignore)."""
    match = _RANGE.match(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":                     # suffix range: the last N bytes
        if int(last) == 0:
            raise RangeNotSatisfiable
        return max(size - int(last), 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable
    return start, end


class SiteHandler(SimpleHTTPRequestHandler):
    """GET/HEAD of files under `directory`, with Range; no directory listings."""

    protocol_version = "HTTP/1.1"       # keep-alive: the page makes many parallel range requests
    quiet = False

    def guess_type(self, path) -> str:
        return MIME_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            url_path = self.path.split("?", 1)[0]
            if not url_path.endswith("/"):      # so relative URLs resolve inside the folder
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", url_path + "/" + self.path[len(url_path):])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            path = os.path.join(path, "index.html")
        try:
            f = open(path, "rb")
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        stat = os.fstat(f.fileno())
        size = stat.st_size
        try:
            byte_range = parse_range(self.headers["Range"], size) if self.headers["Range"] else None
        except RangeNotSatisfiable:
            f.close()
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        start, end = byte_range or (0, size - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if byte_range else HTTPStatus.OK)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if byte_range:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Last-Modified", self.date_time_string(int(stat.st_mtime)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        f.seek(start)
        self._remaining = end - start + 1
        return f

    def copyfile(self, source, outputfile) -> None:
        """Copy only the requested range; a client that hangs up is not an error."""
        try:
            while self._remaining > 0:
                block = source.read(min(COPY_CHUNK, self._remaining))
                if not block:
                    break
                outputfile.write(block)
                self._remaining -= len(block)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format, *args) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def make_server(site_dir, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False,
                handler: type[SiteHandler] = SiteHandler) -> ThreadingHTTPServer:
    """A threaded server for `site_dir` (not started); port 0 picks a free port."""
    handler_class = type(handler.__name__, (handler,), {"quiet": quiet})
    server = ThreadingHTTPServer((host, port), partial(handler_class, directory=str(site_dir)))
    server.daemon_threads = True
    return server


def ensure_site(site_dir=None, model: str | None = DEFAULT_MODEL, pyodide_mirror=None, pyodide_dir=None,
                log: Callable[[str], None] = print) -> Path:
    """A built site: `site_dir` as given, or the default one, (re)built when its inputs changed."""
    from .site import build_site, source_fingerprint

    if site_dir is not None:
        site = Path(site_dir).expanduser()
        if not (site / "index.html").is_file():
            raise SourceError(f"{site}: no index.html; build it with `minfer-wasm build-site --out {site}`")
        return site
    site = cache_dir() / "site"
    try:
        built = json.loads((site / "site.json").read_text()).get("fingerprint")
    except (OSError, ValueError):
        built = None
    if built != source_fingerprint(model, pyodide_mirror, pyodide_dir):
        build_site(site, model=model, pyodide_mirror=pyodide_mirror, pyodide_dir=pyodide_dir, log=log)
    return site


def serve(port: int = 8000, host: str = "127.0.0.1", site_dir=None, model: str | None = DEFAULT_MODEL,
          pyodide_mirror=None, pyodide_dir=None, log: Callable[[str], None] = print) -> None:
    """Build the site if needed and serve it until interrupted."""
    site = ensure_site(site_dir, model, pyodide_mirror, pyodide_dir, log)
    server = make_server(site, host, port)
    log(f"serving {site} at http://{host}:{server.server_address[1]}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
