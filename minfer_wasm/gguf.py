"""GGUF reader: header, metadata and tensor table over a ByteSource.

Layout (versions 2 and 3 are identical on little-endian files), following
llama.cpp ggml/src/gguf.cpp `gguf_init_from_file_impl` and docs/gguf.md:

    "GGUF" | u32 version | u64 n_tensors | u64 n_kv
    n_kv x      (string key | u32 value type | value)
    n_tensors x (string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type | u64 offset)
    padding to `general.alignment` (default 32) | tensor data
    string = u64 length | utf-8 bytes;  array = u32 element type | u64 count | elements

Only the header is read at open (1 MiB first, more when the vocab needs it);
tensor bytes are read when asked for. Every length and count is checked against
the bytes left in the source before anything is allocated, so a corrupt file
fails fast with a GGUFError naming the file, the field and the offset.
"""

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import GGUFError, UnsupportedError, quoted
from .ggml_types import GGML_TYPE_INFO, ggml_type_name, row_nbytes
from .sources import ByteSource

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4              # GGML_MAX_DIMS
MAX_ARRAY_DEPTH = 8       # arrays of arrays nested deeper than this are refused
FIRST_READ = 1 << 20      # bytes fetched before parsing; grown when the header is longer
INT64_MAX = (1 << 63) - 1

# GGUF value type id -> (scalar struct, little-endian numpy dtype); 8 = string, 9 = array
_NUMERIC = {vtype: (struct.Struct(fmt), np.dtype(dtype)) for vtype, fmt, dtype in [
    (0, "<B", "<u1"), (1, "<b", "<i1"), (2, "<H", "<u2"), (3, "<h", "<i2"),   # (u)int8, (u)int16
    (4, "<I", "<u4"), (5, "<i", "<i4"), (6, "<f", "<f4"), (7, "<B", "<u1"),   # (u)int32, f32, bool
    (10, "<Q", "<u8"), (11, "<q", "<i8"), (12, "<d", "<f8"),                   # (u)int64, f64
]}
STRING, ARRAY, BOOL, UINT32 = 8, 9, 7, 4
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    ggml_type: int          # GGML type id (0=F32, 1=F16, 2=Q4_0, ... 30=BF16)
    shape: tuple[int, ...]  # numpy order (reversed GGUF ne), e.g. (49152, 576)
    offset: int             # absolute byte offset in the source
    nbytes: int             # 0 when ggml_type is unknown (its size cannot be computed)


class _Cursor:
    """Walks the header from offset 0, fetching more of the source when needed."""

    def __init__(self, source: ByteSource):
        self.source, self.name, self.size = source, source.name, source.size
        self.buf = bytes(source.read(0, min(FIRST_READ, self.size)))  # bytes: fastest to slice
        self.pos = 0

    def error(self, problem: str, what: str, offset: int | None = None) -> GGUFError:
        at = self.pos if offset is None else offset
        return GGUFError(f"{self.name}: {problem} in {what} at offset {at}")

    def need(self, n: int, what: str) -> None:
        """Make buf hold [pos, pos+n); GGUFError if the file ends first."""
        end = self.pos + n
        if end <= len(self.buf):
            return
        if end > self.size:
            raise self.error(
                f"file ends at byte {self.size} but {n} more bytes are needed (truncated file?)",
                what)
        grown = min(self.size, max(end, 2 * len(self.buf)))
        self.buf = b"".join((self.buf, self.source.read(len(self.buf), grown - len(self.buf))))

    def check_count(self, count: int, min_item: int, what: str) -> None:
        """Refuse a count (or length) just read that cannot fit in the rest of the file,
        `min_item` bytes per item, before anything is allocated for it."""
        if count * min_item > self.size - self.pos:
            raise self.error(
                f"count {count} cannot fit in the {self.size - self.pos} bytes left", what,
                self.pos - 8)

    def u32(self, what: str) -> int:
        self.need(4, what)
        (value,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return value

    def u64(self, what: str) -> int:
        self.need(8, what)
        (value,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return value

    def string(self, what: str) -> str:
        start = self.pos
        n = self.u64(what)
        self.check_count(n, 1, f"length of {what}")
        self.need(n, what)
        try:
            text = self.buf[self.pos:self.pos + n].decode()
        except UnicodeDecodeError as e:
            raise self.error(f"invalid UTF-8 ({e.reason})", what, start) from None
        self.pos += n
        return text

    def strings(self, count: int, what: str) -> list[str]:
        """`count` strings; one tight loop, since vocabularies hold 50k-260k of them."""
        self.check_count(count, 8, what)
        out: list[str] = []
        append, unpack = out.append, _U64.unpack_from
        buf, pos, end = self.buf, self.pos, len(self.buf)
        try:
            for i in range(count):
                if pos + 8 > end:
                    self.pos = pos
                    self.need(8, f"length of {what}[{i}]")
                    buf, end = self.buf, len(self.buf)
                (n,) = unpack(buf, pos)
                pos += 8
                if pos + n > end:
                    self.pos = pos
                    self.check_count(n, 1, f"length of {what}[{i}]")
                    self.need(n, f"{what}[{i}]")
                    buf, end = self.buf, len(self.buf)
                append(buf[pos:pos + n].decode())
                pos += n
        except UnicodeDecodeError as e:
            raise self.error(f"invalid UTF-8 ({e.reason})", f"{what}[{len(out)}]", pos - 8) from None
        self.pos = pos
        return out

    def numbers(self, vtype: int, count: int, what: str) -> np.ndarray:
        dtype = _NUMERIC[vtype][1]  # little-endian
        self.check_count(count, dtype.itemsize, what)
        self.need(count * dtype.itemsize, what)
        array = np.frombuffer(self.buf, dtype, count, self.pos)  # (count,) view into the header
        self.pos += count * dtype.itemsize
        return array != 0 if vtype == BOOL else array.astype(dtype.newbyteorder("="))

    def value(self, vtype: int, what: str) -> Any:
        """One metadata value: int/float/bool/str, np.ndarray, list[str] or list."""
        if vtype in _NUMERIC:
            scalar = _NUMERIC[vtype][0]
            self.need(scalar.size, what)
            (item,) = scalar.unpack_from(self.buf, self.pos)
            self.pos += scalar.size
            return item != 0 if vtype == BOOL else item
        if vtype == STRING:
            return self.string(what)
        if vtype == ARRAY:
            return self.array(what, depth=0)
        raise self.error(f"unknown value type {vtype}", what, self.pos - 4)

    def array(self, what: str, depth: int) -> Any:
        etype = self.u32(f"element type of {what}")
        count = self.u64(f"element count of {what}")
        if etype in _NUMERIC:
            return self.numbers(etype, count, what)
        if etype == STRING:
            return self.strings(count, what)
        if etype == ARRAY:
            if depth + 1 >= MAX_ARRAY_DEPTH:
                raise self.error(f"arrays nested deeper than {MAX_ARRAY_DEPTH}", what)
            self.check_count(count, 12, what)
            return [self.array(f"{what}[{i}]", depth + 1) for i in range(count)]
        raise self.error(f"unknown array element type {etype}", what, self.pos - 12)


def _read_version(cur: _Cursor) -> int:
    cur.need(4, "magic")
    magic = cur.buf[:4]
    if magic != GGUF_MAGIC:
        raise cur.error(f"not a GGUF file: magic is {magic!r}, expected {GGUF_MAGIC!r}", "file header")
    cur.pos = 4
    version = cur.u32("version")
    if version in (2, 3):
        return version
    if version == 1:
        raise UnsupportedError(
            f"{cur.name}: GGUF version 1 is no longer supported; re-convert the model "
            "with a current llama.cpp")
    if version & 0xFFFF == 0 and int.from_bytes(version.to_bytes(4, "little"), "big") in (2, 3):
        raise UnsupportedError(f"{cur.name}: big-endian GGUF files are not supported")
    raise cur.error(f"unknown GGUF version {version} (supported: 2, 3)", "version", 4)


def _read_metadata(cur: _Cursor, n_kv: int) -> dict[str, Any]:
    cur.check_count(n_kv, 8 + 4 + 1, "metadata count")  # key, type, smallest value
    metadata: dict[str, Any] = {}
    for i in range(n_kv):
        start = cur.pos
        key = cur.string(f"key of metadata entry #{i}")
        if key in metadata:
            raise cur.error("duplicate key", f"metadata {quoted(key)}", start)
        vtype = cur.u32(f"value type of metadata {quoted(key)}")
        if key == "general.alignment" and vtype != UINT32:
            raise cur.error(f"value type {vtype} (expected uint32)", f"metadata {quoted(key)}", cur.pos - 4)
        metadata[key] = cur.value(vtype, f"metadata {quoted(key)}")
        if key == "general.alignment" and (metadata[key] == 0 or metadata[key] & (metadata[key] - 1)):
            raise cur.error(f"alignment {metadata[key]} is not a power of two",
                            f"metadata {quoted(key)}", cur.pos - 4)
    return metadata


def _read_tensor_infos(cur: _Cursor, n_tensors: int) -> list[tuple[int, str, int, tuple, int, int]]:
    """(field offset, name, ggml type, shape, offset relative to data, nbytes) per tensor."""
    infos, seen = [], set()
    for i in range(n_tensors):
        start = cur.pos
        name = cur.string(f"name of tensor #{i}")
        if name in seen:
            raise cur.error("duplicate tensor name", f"tensor {quoted(name)}", start)
        seen.add(name)
        n_dims = cur.u32(f"n_dims of tensor {quoted(name)}")
        if n_dims > MAX_DIMS:
            raise cur.error(f"n_dims {n_dims} exceeds {MAX_DIMS}", f"tensor {quoted(name)}", cur.pos - 4)
        cur.need(8 * n_dims, f"dims of tensor {quoted(name)}")
        ne = struct.unpack_from(f"<{n_dims}Q", cur.buf, cur.pos)
        if any(d > INT64_MAX for d in ne) or math.prod(ne) > INT64_MAX:
            raise cur.error(f"dims {list(ne)} overflow int64", f"tensor {quoted(name)}")
        cur.pos += 8 * n_dims
        ggml_type = cur.u32(f"ggml type of tensor {quoted(name)}")
        rel = cur.u64(f"data offset of tensor {quoted(name)}")
        nbytes = 0
        info = GGML_TYPE_INFO.get(ggml_type)
        if info is not None:
            n_cols = ne[0] if ne else 1
            if n_cols % info.block_size:
                raise cur.error(
                    f"row length {n_cols} is not a multiple of the {info.name} block size "
                    f"{info.block_size}", f"tensor {quoted(name)}", start)
            nbytes = math.prod(ne[1:]) * row_nbytes(ggml_type, n_cols)
        infos.append((start, name, ggml_type, tuple(reversed(ne)), rel, nbytes))
    return infos


def _parse(source: ByteSource) -> dict[str, Any]:
    cur = _Cursor(source)
    version = _read_version(cur)
    n_tensors = cur.u64("tensor count")
    cur.check_count(n_tensors, 8 + 4 + 4 + 8, "tensor count")  # name, n_dims, type, offset
    n_kv = cur.u64("metadata count")
    metadata = _read_metadata(cur, n_kv)
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    infos = _read_tensor_infos(cur, n_tensors)
    data_offset = -(-cur.pos // alignment) * alignment
    tensors: dict[str, TensorInfo] = {}
    for start, name, ggml_type, shape, rel, nbytes in infos:
        where = f"tensor {quoted(name)} ({ggml_type_name(ggml_type)}, shape {shape})"
        if rel % alignment:
            raise cur.error(f"data offset {rel} is not a multiple of the alignment {alignment}",
                            where, start)
        if data_offset + rel + nbytes > cur.size:
            raise cur.error(
                f"data [{data_offset + rel}, {data_offset + rel + nbytes}) runs past the end of "
                f"the {cur.size}-byte file (truncated file?)", where, start)
        tensors[name] = TensorInfo(name, ggml_type, shape, data_offset + rel, nbytes)
    return dict(source=source, version=version, alignment=alignment, data_offset=data_offset,
                metadata=metadata, tensors=tensors)


class GGUFFile:
    """A parsed GGUF header; tensor data stays in the source until asked for."""

    def __init__(self, source: ByteSource, version: int, alignment: int, data_offset: int,
                 metadata: dict[str, Any], tensors: dict[str, TensorInfo]):
        self.source = source
        self.version = version
        self.alignment = alignment
        self.data_offset = data_offset
        self.metadata = metadata    # scalars -> int/float/bool/str; numeric arrays -> np.ndarray;
                                    # string arrays -> list[str]; nested arrays -> list
        self.tensors = tensors      # in file order

    @classmethod
    def open(cls, source: ByteSource) -> "GGUFFile":
        """Parse the header of a ByteSource."""
        return cls(**_parse(source))

    def tensor_bytes(self, name: str) -> bytes | memoryview:
        """The raw bytes of one tensor, read from the source now."""
        info = self.tensors.get(name)
        if info is None:
            raise GGUFError(f"{self.source.name}: no tensor named {quoted(name)}")
        if info.ggml_type not in GGML_TYPE_INFO:
            raise UnsupportedError(
                f"{self.source.name}: tensor {quoted(name)} has {ggml_type_name(info.ggml_type)}, "
                "which this engine cannot load")
        return self.source.read(info.offset, info.nbytes)

    def release_all(self) -> None:
        """Tell the source no byte is needed any more (the header is parsed, the weights loaded):
        page faults while reading one tensor also map pages of its already-released neighbours."""
        release = getattr(self.source, "release", None)
        if release is not None:
            release(0, self.source.size)

    def release_tensor(self, name: str) -> None:
        """Tell the source the tensor's bytes are no longer needed (a no-op for most sources)."""
        release = getattr(self.source, "release", None)
        if release is not None:
            info = self.tensors[name]
            release(info.offset, info.nbytes)
