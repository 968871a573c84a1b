"""Byte sources: random access to a model file on disk, over HTTP, or in memory.

Every source has `name` (path or URL, for messages), `size` and
`read(offset, length)`, which returns exactly `length` bytes or raises
SourceError. The GGUF reader only ever talks to this interface.
"""

import http.client
import mmap
import os
import re
import urllib.error
import urllib.request
from collections import OrderedDict
from typing import Protocol

from .errors import SourceError


class ByteSource(Protocol):
    name: str  # path or URL, used in error messages
    size: int  # total bytes

    def read(self, offset: int, length: int) -> bytes | memoryview:
        """Exactly `length` bytes starting at `offset`, or SourceError."""
        ...

    # Optional: `release(offset, length)` tells a source its caller is done with those bytes.


def _check_range(name: str, size: int, offset: int, length: int) -> None:
    if offset < 0 or length < 0 or offset + length > size:
        raise SourceError(
            f"{name}: read of {length} bytes at offset {offset} is outside the {size}-byte source")


class BytesSource:
    """A bytes-like object already in memory (browser downloads, tests)."""

    def __init__(self, data, name: str = "memory"):
        self.name = name
        self._view = memoryview(data).cast("B")
        self.size = len(self._view)

    def read(self, offset: int, length: int) -> memoryview:
        _check_range(self.name, self.size, offset, length)
        return self._view[offset:offset + length]


class FileSource:
    """A local file, memory-mapped; reads are zero-copy memoryview slices."""

    def __init__(self, path):
        self.name = os.fspath(path)
        try:
            with open(self.name, "rb") as f:
                self.size = os.fstat(f.fileno()).st_size
                # mmap refuses empty files; an empty source is fine until someone reads it
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if self.size else b""
        except FileNotFoundError:
            raise SourceError(f"{self.name}: no such file") from None
        except IsADirectoryError:
            raise SourceError(f"{self.name}: is a directory, expected a model file") from None
        except PermissionError:
            raise SourceError(f"{self.name}: permission denied") from None
        except OSError as e:
            raise SourceError(f"{self.name}: cannot open ({e.strerror or e})") from None
        self._view = memoryview(self._map)

    def read(self, offset: int, length: int) -> memoryview:
        _check_range(self.name, self.size, offset, length)
        return self._view[offset:offset + length]

    def release(self, offset: int, length: int) -> None:
        """Drop the mapped pages of a range from this process's resident memory (they are
        read again from the page cache if touched later): loaded weights are repacked, so
        keeping the file's pages too would count the model twice."""
        if not self.size or not hasattr(mmap, "MADV_DONTNEED"):
            return
        start = offset - offset % mmap.PAGESIZE
        end = min(offset + length, self.size)
        if end > start:
            self._map.madvise(mmap.MADV_DONTNEED, start, end - start)


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
        _check_range(self.name, self.size, offset, length)
        if length == 0 or length >= self.chunk_size:
            return self._fetch(offset, length)
        first, last = offset // self.chunk_size, (offset + length - 1) // self.chunk_size
        start = offset - first * self.chunk_size
        if first == last:
            return self._chunk(first)[start:start + length]
        return (self._chunk(first)[start:] + self._chunk(last))[:length]


def open_source(arg) -> ByteSource:
    """http(s) URL -> HttpRangeSource, anything else -> FileSource."""
    arg = os.fspath(arg)
    if arg.lower().startswith(("http://", "https://")):
        return HttpRangeSource(arg)
    return FileSource(arg)
