"""The files of a Hugging Face checkpoint, by name, each a ByteSource.

A checkpoint is several files (config.json, tokenizer.json, tokenizer_config.json, one or more
*.safetensors, maybe model.safetensors.index.json and chat_template.jinja). A FileSet hands them
out by name; natively a folder (FolderFiles, each file mmapped) or a base URL
(native/http_source.py UrlFiles, Range requests), in the page the buffers the user picked
(MemoryFiles).
"""

from __future__ import annotations

import json
import os
from typing import Protocol

from ..errors import CheckpointError
from ..sources import ByteSource, BytesSource, FileSource

MAX_JSON_BYTES = 64 << 20   # config / tokenizer / index files: larger ones are refused, not read


class FileSet(Protocol):
    name: str                                    # folder, URL or "page files", for messages

    def open(self, file_name: str) -> ByteSource | None:
        """The named file, or None when the checkpoint has no such file."""
        ...


def check_file_name(file_name: str, where: str) -> str:
    """A plain file name (no folder part): what an index or a caller may name."""
    if not file_name or "/" in file_name or "\\" in file_name or file_name in (".", ".."):
        raise CheckpointError(f"{where}: {file_name!r} is not a plain file name")
    return file_name


class FolderFiles:
    """The files of a local folder."""

    def __init__(self, path):
        self.name = os.fspath(path)

    def open(self, file_name: str) -> FileSource | None:
        path = os.path.join(self.name, check_file_name(file_name, self.name))
        return FileSource(path) if os.path.isfile(path) else None


class MemoryFiles:
    """Named bytes-like buffers already in memory (the page's picked files, tests)."""

    def __init__(self, buffers: dict, name: str = "memory"):
        self.name = name
        self._buffers = dict(buffers)

    def open(self, file_name: str) -> BytesSource | None:
        data = self._buffers.get(file_name)
        return None if data is None else BytesSource(data, f"{self.name}/{file_name}")


def read_json(files: FileSet, file_name: str, required: bool = True):
    """The parsed JSON file `file_name` of `files` (None when absent and not required)."""
    source = files.open(file_name)
    if source is None:
        if required:
            raise CheckpointError(f"{files.name}: {file_name} is missing")
        return None
    if source.size > MAX_JSON_BYTES:
        raise CheckpointError(f"{source.name}: {source.size} bytes, more than the "
                              f"{MAX_JSON_BYTES} a JSON file of a checkpoint may have")
    return parse_json(bytes(source.read(0, source.size)), source.name)


def read_text(files: FileSet, file_name: str) -> str | None:
    """The UTF-8 text of `file_name`, or None when absent."""
    source = files.open(file_name)
    if source is None:
        return None
    if source.size > MAX_JSON_BYTES:
        raise CheckpointError(f"{source.name}: {source.size} bytes is too large")
    try:
        return bytes(source.read(0, source.size)).decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{source.name}: invalid UTF-8 ({e.reason})") from None


def parse_json(data: bytes, name: str):
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{name}: invalid UTF-8 ({e.reason})") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{name}: not valid JSON ({getattr(e, 'msg', e)})") from None


