"""HttpRangeSource: a model behind an http(s) URL, read with Range requests (native only).

Every download is bounded, as curl's --max-time and --speed-limit/--speed-time bound
a transfer: a total deadline for everything read from the URL, and a minimum rate
averaged over each `rate_window` seconds of a response (a read waits at most that
long for a byte). Redirects are followed at most `max_redirects` times per request.
A watchdog shuts the request's socket down when the deadline passes, so a server that
trickles its status line and headers cannot hold a read past it either.
"""

import contextlib
import functools
import http.client
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass

from ..errors import SourceError, quoted
from ..sources import check_range

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+)")
READ_BLOCK = 1 << 16        # bytes asked of the socket at a time: the clocks are checked in between
SNIFF_BYTES = 64            # bytes of a 200 answer read to tell a GGUF file from a web page


@dataclass(frozen=True)
class DownloadLimits:
    """Bounds of one model download (CLI: --download-deadline, --download-min-rate)."""

    deadline: float = 1800.0        # seconds for every request made for the URL, together
    min_rate: float = 16 * 1024     # bytes/s at least, averaged over each rate_window of a response
    rate_window: float = 15.0       # seconds; also the longest a read waits for the next byte
    max_redirects: int = 10         # per request (curl's --max-redirs default is 50, browsers' 20)

    def __post_init__(self):
        for field in ("deadline", "rate_window"):
            value = getattr(self, field)
            if not 0 < value < float("inf"):
                raise SourceError(f"download {field} must be a positive number of seconds, got {value}")
        if not 0 <= self.min_rate < float("inf"):
            raise SourceError(f"download minimum rate must be >= 0 bytes/s, got {self.min_rate}")
        if self.max_redirects < 0:
            raise SourceError(f"max_redirects must be >= 0, got {self.max_redirects}")


class _TooManyRedirects(urllib.request.HTTPRedirectHandler):
    """Counts the hops of one request; the hop past the limit is an error (urllib's own loop
    check, a repeat of the same URL, fires too late and ends in a three-line message)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.max_redirections = self.max_repeats = limit + 2   # never reached before our check

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        hops = getattr(req, "minfer_hops", 0) + 1
        if hops > self.limit:
            fp.close()
            raise SourceError(f"{req.minfer_origin}: too many redirects (more than {self.limit}; "
                              f"the last went to {quoted(newurl)})")
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.minfer_hops, new.minfer_origin = hops, req.minfer_origin
        return new


class _ReportsSocket:
    """Mixin of http.client connections: hands each socket it connects to `on_socket` (the
    watchdog's target)."""

    def __init__(self, *args, on_socket, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_socket = on_socket

    def connect(self):
        super().connect()
        self._on_socket(self.sock)


class _HTTPConnection(_ReportsSocket, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_ReportsSocket, http.client.HTTPSConnection):
    pass


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, on_socket):
        super().__init__()
        self._on_socket = on_socket

    def http_open(self, req):
        return self.do_open(functools.partial(_HTTPConnection, on_socket=self._on_socket), req)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, on_socket):
        super().__init__()
        self._on_socket = on_socket

    def https_open(self, req):
        return self.do_open(functools.partial(_HTTPSConnection, on_socket=self._on_socket), req,
                            context=self._context)


class HttpRangeSource:
    """A file behind an HTTP(S) URL, read with Range requests.

    Reads shorter than `chunk_size` are served from whole aligned chunks kept in
    a small LRU (the header parser makes many small reads); longer reads (tensor
    data) are fetched with one request and not cached.
    """

    def __init__(self, url: str, chunk_size: int = 1 << 20, cache_chunks: int = 16,
                 limits: DownloadLimits = DownloadLimits()):
        self.name = url
        self.chunk_size = chunk_size
        self.limits = limits
        self._cache_chunks = cache_chunks
        self._chunks: OrderedDict[int, bytes] = OrderedDict()  # chunk index -> bytes
        self._socket = None     # the socket of the request in flight (for the watchdog)
        self._opener = urllib.request.build_opener(
            _TooManyRedirects(limits.max_redirects), _WatchedHTTPHandler(self._watch),
            _WatchedHTTPSHandler(self._watch))
        self._started = time.monotonic()
        self.size = self._probe_size()

    # ---- clocks ---------------------------------------------------------------------------

    def _time_left(self) -> float:
        left = self._started + self.limits.deadline - time.monotonic()
        if left <= 0:
            raise SourceError(f"{self.name}: download deadline of {self.limits.deadline:g} s passed "
                              "(--download-deadline)")
        return left

    def _watch(self, sock) -> None:
        self._socket = sock

    def _expire(self) -> None:
        """The watchdog: the deadline passed during a request; unblock whatever read waits."""
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def _request(self, start: int, end: int):
        """_open(start, end) under the watchdog, which fires when the deadline passes. Once it
        has, whatever then fails (headers cut short by the shut socket, say) is the deadline."""
        watchdog = threading.Timer(self._time_left(), self._expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            with self._open(start, end) as response:
                yield response
        except SourceError:
            self._time_left()   # the deadline's message when that is what ran out
            raise
        finally:
            watchdog.cancel()
            self._socket = None

    def _timed_out(self, waited: float) -> SourceError:
        self._time_left()   # the deadline's message when that is what ran out
        return SourceError(f"{self.name}: the server stalled: no data for {waited:.3g} s")

    def _body(self, response, length: int, offset: int) -> bytes:
        """Up to `length` bytes of the response body (fewer only at its end), the deadline and
        the minimum rate checked after every socket read."""
        limits, parts, got = self.limits, [], 0
        window_start, window_bytes = time.monotonic(), 0
        while got < length:
            try:
                data = response.read1(min(READ_BLOCK, length - got))
            except (TimeoutError, socket.timeout):
                raise self._timed_out(min(self.limits.rate_window, self._time_left())) from None
            except (OSError, http.client.HTTPException) as e:   # connection dropped mid-body
                self._time_left()
                raise SourceError(f"{self.name}: read failed at offset {offset + got} "
                                  f"({type(e).__name__})") from None
            if not data:
                self._time_left()
                break
            parts.append(data)
            got += len(data)
            window_bytes += len(data)
            self._time_left()
            now = time.monotonic()
            if now - window_start >= limits.rate_window:
                rate = window_bytes / (now - window_start)
                if rate < limits.min_rate:
                    raise SourceError(
                        f"{self.name}: download too slow: {rate / 1024:.3g} KiB/s over "
                        f"{now - window_start:.3g} s, below the minimum of "
                        f"{limits.min_rate / 1024:.3g} KiB/s (--download-min-rate)")
                window_start, window_bytes = now, 0
        return b"".join(parts)

    # ---- requests -------------------------------------------------------------------------

    def _open(self, start: int, end: int):
        """Response to `Range: bytes=start-end` (inclusive); SourceError on any failure."""
        request = urllib.request.Request(self.name, headers={"Range": f"bytes={start}-{end}"})
        request.minfer_origin = self.name
        wait = min(self.limits.rate_window, self._time_left())
        try:
            return self._opener.open(request, timeout=wait)
        except urllib.error.HTTPError as e:
            if e.code == 416:  # range not satisfiable: the caller decides
                return e
            e.close()
            self._time_left()
            raise SourceError(f"{self.name}: HTTP {e.code} {quoted(str(e.reason))}") from None
        except urllib.error.URLError as e:
            self._time_left()
            if isinstance(e.reason, (TimeoutError, socket.timeout)):
                raise self._timed_out(wait) from None
            raise SourceError(f"{self.name}: cannot connect ({quoted(str(e.reason))})") from None
        except (TimeoutError, socket.timeout):
            raise self._timed_out(wait) from None
        except http.client.RemoteDisconnected:
            self._time_left()
            raise SourceError(f"{self.name}: the server closed the connection without answering") from None
        except http.client.HTTPException as e:
            self._time_left()
            raise SourceError(f"{self.name}: not a valid HTTP answer ({type(e).__name__})") from None
        except (OSError, ValueError) as e:
            self._time_left()
            raise SourceError(f"{self.name}: request failed ({type(e).__name__}: "
                              f"{quoted(str(e))})") from None

    def _answered_200(self, response) -> SourceError:
        """The server sent a whole body instead of a range: a GGUF file whose server ignores
        Range, or (more often) a web page at a wrong URL."""
        head = self._body(response, SNIFF_BYTES, 0)
        if head.startswith(b"GGUF"):
            return SourceError(
                f"{self.name}: the server ignored the HTTP Range request (answered 200 with the "
                "whole file); serve the model from a server that supports Range requests")
        kind = response.headers.get("Content-Type") or "no Content-Type"
        return SourceError(f"{self.name}: the URL does not serve a model file (HTTP 200, "
                           f"{quoted(kind)}, starting {quoted(head[:24])}; a GGUF file starts "
                           "with b'GGUF')")

    def _probe_size(self) -> int:
        """Learn the size from `Content-Range: bytes 0-0/SIZE` of a one-byte request."""
        with self._request(0, 0) as response:
            header = response.headers.get("Content-Range", "")
            status = response.status
            if status == 200:
                raise self._answered_200(response)
        match = _CONTENT_RANGE.fullmatch(header.strip())
        if not match or status not in (206, 416):
            raise SourceError(
                f"{self.name}: unexpected answer to a Range request "
                f"(HTTP {status}, Content-Range {quoted(header)})")
        return int(match.group(3))

    def _fetch(self, offset: int, length: int) -> bytes:
        """Exactly bytes [offset, offset+length) from the server."""
        if length == 0:
            return b""
        with self._request(offset, offset + length - 1) as response:
            status = response.status
            if status == 200:
                raise self._answered_200(response)
            header = response.headers.get("Content-Range", "")
            match = _CONTENT_RANGE.fullmatch(header.strip())
            if status != 206 or not match or match.group(1) is None \
                    or int(match.group(1)) != offset or int(match.group(3)) != self.size:
                raise SourceError(
                    f"{self.name}: bad answer to Range bytes={offset}-{offset + length - 1} "
                    f"(HTTP {status}, Content-Range {quoted(header)}); did the file change?")
            data = self._body(response, length, offset)
        if len(data) != length:
            raise SourceError(
                f"{self.name}: short read at offset {offset}: got {len(data)} of {length} bytes")
        return data

    def _chunk(self, index: int) -> bytes:
        data = self._chunks.get(index)
        if data is None:
            start = index * self.chunk_size
            data = self._fetch(start, min(self.chunk_size, self.size - start))
            self._chunks[index] = data
            if len(self._chunks) > self._cache_chunks:
                self._chunks.popitem(last=False)
        else:
            self._chunks.move_to_end(index)
        return data

    def read(self, offset: int, length: int) -> bytes:
        check_range(self.name, self.size, offset, length)
        if length == 0 or length >= self.chunk_size:
            return self._fetch(offset, length)
        first, last = offset // self.chunk_size, (offset + length - 1) // self.chunk_size
        start = offset - first * self.chunk_size
        if first == last:
            return self._chunk(first)[start:start + length]
        return (self._chunk(first)[start:] + self._chunk(last))[:length]


class UrlFiles:
    """The files of a Hugging Face checkpoint under a base URL (minfer_wasm.hf.FileSet), each an
    HttpRangeSource within `limits`; a file the server answers 404 for is absent."""

    def __init__(self, base_url: str, limits: DownloadLimits = DownloadLimits()):
        self.name = base_url.rstrip("/")
        self.limits = limits

    def open(self, file_name: str):
        from ..hf.files import check_file_name

        url = f"{self.name}/{check_file_name(file_name, self.name)}"
        try:
            return HttpRangeSource(url, limits=self.limits)
        except SourceError as e:
            if str(e).startswith(f"{url}: HTTP 404"):
                return None
            raise
