"""Byte sources: random access to a model file on disk or in memory.

Every source has `name` (path or URL, for messages), `size` and
`read(offset, length)`, which returns exactly `length` bytes or raises
SourceError. The GGUF reader only ever talks to this interface. HTTP Range
reads are native-only (minfer_wasm/native/http_source.py): in the page, the
worker downloads the model in JavaScript and hands over its bytes.
"""

import mmap
import os
from typing import Protocol

from .errors import SourceError


class ByteSource(Protocol):
    name: str  # path or URL, used in error messages
    size: int  # total bytes

    def read(self, offset: int, length: int) -> bytes | memoryview:
        """Exactly `length` bytes starting at `offset`, or SourceError."""
        ...

    # Optional: `release(offset, length)` tells a source its caller is done with those bytes.


def check_range(name: str, size: int, offset: int, length: int) -> None:
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
        check_range(self.name, self.size, offset, length)
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
        check_range(self.name, self.size, offset, length)
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
