"""HttpRangeSource: a model behind an http(s) URL, read with Range requests (native only)."""

import http.client
import re
import urllib.error
import urllib.request
from collections import OrderedDict

from ..errors import SourceError
from ..sources import check_range

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+)")


class HttpRangeSource:
    """A file behind an HTTP(S) URL, read with Range requests.

    Reads shorter than `chunk_size` are served from whole aligned chunks kept in
    a small LRU (the header parser makes many small reads); longer reads (tensor
    data) are fetched with one request and not cached.
    """

    def __init__(self, url: str, chunk_size: int = 1 << 20, cache_chunks: int = 16,
                 timeout: float = 60.0):
        self.name = url
        self.chunk_size = chunk_size
        self._cache_chunks = cache_chunks
        self._timeout = timeout
        self._chunks: OrderedDict[int, bytes] = OrderedDict()  # chunk index -> bytes
        self.size = self._probe_size()

    def _open(self, start: int, end: int):
        """Response to `Range: bytes=start-end` (inclusive); SourceError on any failure."""
        request = urllib.request.Request(self.name, headers={"Range": f"bytes={start}-{end}"})
        try:
            return urllib.request.urlopen(request, timeout=self._timeout)
        except urllib.error.HTTPError as e:
            if e.code == 416:  # range not satisfiable: the caller decides
                return e
            raise SourceError(f"{self.name}: HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            raise SourceError(f"{self.name}: cannot connect ({e.reason})") from None
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise SourceError(f"{self.name}: request failed ({e!r})") from None

    def _no_range(self) -> SourceError:
        return SourceError(
            f"{self.name}: the server ignored the HTTP Range request (answered 200 with the "
            "whole file); serve the model from a server that supports Range requests")

    def _probe_size(self) -> int:
        """Learn the size from `Content-Range: bytes 0-0/SIZE` of a one-byte request."""
        with self._open(0, 0) as response:
            header = response.headers.get("Content-Range", "")
            status = response.status
        if status == 200:
            raise self._no_range()
        match = _CONTENT_RANGE.fullmatch(header.strip())
        if not match or status not in (206, 416):
            raise SourceError(
                f"{self.name}: unexpected answer to a Range request "
                f"(HTTP {status}, Content-Range {header!r})")
        return int(match.group(3))

    def _fetch(self, offset: int, length: int) -> bytes:
        """Exactly bytes [offset, offset+length) from the server."""
        if length == 0:
            return b""
        try:
            with self._open(offset, offset + length - 1) as response:
                status = response.status
                if status == 200:
                    raise self._no_range()
                match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
                if status != 206 or not match or match.group(1) is None \
                        or int(match.group(1)) != offset or int(match.group(3)) != self.size:
                    raise SourceError(
                        f"{self.name}: bad answer to Range bytes={offset}-{offset + length - 1} "
                        f"(HTTP {status}, Content-Range "
                        f"{response.headers.get('Content-Range')!r}); did the file change?")
                data = response.read(length)
        except (OSError, http.client.HTTPException) as e:  # connection dropped mid-body
            raise SourceError(f"{self.name}: read failed at offset {offset} ({e!r})") from None
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
    HttpRangeSource; a file the server answers 404 for is absent."""

    def __init__(self, base_url: str):
        self.name = base_url.rstrip("/")

    def open(self, file_name: str):
        from ..hf.files import check_file_name

        url = f"{self.name}/{check_file_name(file_name, self.name)}"
        try:
            return HttpRangeSource(url)
        except SourceError as e:
            if str(e).startswith(f"{url}: HTTP 404"):
                return None
            raise
