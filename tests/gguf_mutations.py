"""The header of a real GGUF file as editable fields, for the fuzz suite (test_fuzz_gguf.py).

`Header.read(path)` keeps only the bytes before the tensor data (1.8 MB for SmolLM2, 6.5 MB
for gemma3, most of it the vocabulary) and walks them once, independently of
minfer_wasm.gguf, recording where each structural field sits: counts, key lengths, value
types, array element types and counts, scalar values, and each tensor's name length,
n_dims, dims, ggml type and offset. Mutations return new header bytes; `HeaderSource`
`SplicedSource` serves them followed by the original tensor data, read from the real file.

Layout (docs/gguf.md): "GGUF" u32 version, u64 n_tensors, u64 n_kv, then n_kv x (string key,
u32 type, value), then n_tensors x (string name, u32 n_dims, u64 dims[n_dims], u32 type,
u64 offset); string = u64 length + bytes; array = u32 element type, u64 count, elements.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from minfer_wasm.sources import FileSource, check_range

_SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY = 8, 9
VALUE_CODE = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7,
              "u64": 10, "i64": 11, "f64": 12, "str": STRING, "arr": ARRAY}
_PACK = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B",
         10: "<Q", 11: "<q", 12: "<d"}


@dataclass(frozen=True)
class Field:
    kind: str       # "n_tensors", "key_len", "vtype", "etype", "count", "scalar", "n_dims", ...
    offset: int
    size: int       # 4 or 8 bytes
    owner: str      # the metadata key or tensor name it belongs to


@dataclass(frozen=True)
class Entry:
    """One metadata entry: [start, end) in the header; the value's type field at vtype_at."""
    key: str
    start: int
    vtype_at: int
    end: int


@dataclass
class Header:
    data: bytes                                     # the header, up to the end of the tensor table
    file_size: int
    alignment: int
    data_offset: int                                # where the original file's tensor data starts
    fields: list[Field] = field(default_factory=list)
    entries: dict[str, Entry] = field(default_factory=dict)
    n_kv_at: int = 16

    @classmethod
    def read(cls, path) -> "Header":
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(0)
            data = f.read(4 << 20)
            while True:     # grow until the walk fits
                try:
                    return cls._walk(data, size)
                except (struct.error, IndexError):
                    more = f.read(3 * len(data))
                    if not more:
                        raise
                    data += more

    @classmethod
    def _walk(cls, buf: bytes, size: int) -> "Header":
        pos = 8
        fields: list[Field] = [Field("n_tensors", 8, 8, ""), Field("n_kv", 16, 8, "")]
        n_tensors, n_kv = struct.unpack_from("<QQ", buf, 8)
        pos = 24
        entries, alignment = {}, 32

        def string(owner: str, kind: str) -> str:
            nonlocal pos
            (n,) = struct.unpack_from("<Q", buf, pos)
            fields.append(Field(kind, pos, 8, owner))
            if pos + 8 + n > len(buf):
                raise IndexError
            text = buf[pos + 8:pos + 8 + n].decode() if kind != "str_len" else ""
            pos += 8 + n
            return text

        def value(vtype: int, owner: str) -> object:
            nonlocal pos
            if vtype in _SCALAR_SIZE:
                fields.append(Field("scalar", pos, _SCALAR_SIZE[vtype], owner))
                (v,) = struct.unpack_from(_PACK[vtype], buf, pos)
                pos += _SCALAR_SIZE[vtype]
                return v
            if vtype == STRING:
                return string(owner, "str_len")
            etype, count = struct.unpack_from("<IQ", buf, pos)
            fields.extend([Field("etype", pos, 4, owner), Field("count", pos + 4, 8, owner)])
            pos += 12
            if etype in _SCALAR_SIZE:
                pos += count * _SCALAR_SIZE[etype]
                if pos > len(buf):
                    raise IndexError
            else:   # only the first few elements' fields are recorded: vocabularies are long
                for i in range(count):
                    before = len(fields)
                    value(etype, owner)
                    if i >= 4:
                        del fields[before:]
            return None

        for _ in range(n_kv):
            start = pos
            key = string("", "key_len")
            (vtype,) = struct.unpack_from("<I", buf, pos)
            fields.append(Field("vtype", pos, 4, key))
            pos += 4
            v = value(vtype, key)
            if key == "general.alignment":
                alignment = v
            entries[key] = Entry(key, start, start + 8 + len(key.encode()), pos)
        for _ in range(n_tensors):
            name = string("", "name_len")
            (n_dims,) = struct.unpack_from("<I", buf, pos)
            fields.append(Field("n_dims", pos, 4, name))
            pos += 4
            fields.extend(Field("dim", pos + 8 * i, 8, name) for i in range(n_dims))
            pos += 8 * n_dims
            fields.extend([Field("ggml_type", pos, 4, name), Field("tensor_offset", pos + 4, 8, name)])
            pos += 12
            if pos > len(buf):
                raise IndexError
        data_offset = -(-pos // alignment) * alignment
        return cls(buf[:pos], size, alignment, data_offset, fields, entries)

    # ---- mutations: each returns new header bytes ---------------------------------------

    def with_field(self, f: Field, number: int) -> bytes:
        """The header with one structural field set to `number` (wrapped to its width)."""
        raw = (number % (1 << (8 * f.size))).to_bytes(f.size, "little")
        return self.data[:f.offset] + raw + self.data[f.offset + f.size:]

    def with_value(self, key: str, vtype: str, payload: bytes) -> bytes:
        """The header with metadata `key` replaced by a value of type `vtype`, given as the raw
        bytes that follow the type field (build them with scalar() or array())."""
        e = self.entries[key]
        return self.data[:e.vtype_at] + struct.pack("<I", VALUE_CODE[vtype]) + payload + self.data[e.end:]

    def with_added(self, key: str, vtype: str, payload: bytes) -> bytes:
        """The header with one more metadata entry (after the last one), n_kv raised by one."""
        last = max(self.entries.values(), key=lambda e: e.end)
        (n_kv,) = struct.unpack_from("<Q", self.data, self.n_kv_at)
        entry = encode_string(key) + struct.pack("<I", VALUE_CODE[vtype]) + payload
        data = self.data[:last.end] + entry + self.data[last.end:]
        return data[:self.n_kv_at] + struct.pack("<Q", n_kv + 1) + data[self.n_kv_at + 8:]

    def with_bytes(self, offset: int, raw: bytes) -> bytes:
        return self.data[:offset] + raw + self.data[offset + len(raw):]


def encode_string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def scalar(vtype: str, number) -> bytes:
    return struct.pack(_PACK[VALUE_CODE[vtype]], number)


def array(etype: str, items) -> bytes:
    """Payload of an array value: element type, count, elements (numbers or strings)."""
    if etype == "str":
        return struct.pack("<IQ", STRING, len(items)) + b"".join(encode_string(s) for s in items)
    code = VALUE_CODE[etype]
    return struct.pack("<IQ", code, len(items)) + b"".join(struct.pack(_PACK[code], x) for x in items)


class SplicedSource:
    """Mutated header bytes, padded to the alignment, followed by the original file's tensor data
    (read from the real file, never copied whole): a full model with an edited header."""

    def __init__(self, header: bytes, original: Header, path, name: str = "spliced.gguf"):
        self.name = name
        self.file = FileSource(path)
        pad = -len(header) % original.alignment
        self.header = header + bytes(pad)
        self.shift = original.data_offset - len(self.header)
        self.size = len(self.header) + original.file_size - original.data_offset
        self.patches: list[tuple[int, bytes]] = []     # (offset, bytes) written over the data

    def patch(self, offset: int, raw: bytes) -> None:
        """Reads of [offset, offset + len(raw)) return `raw` (e.g. NaN over a weight)."""
        self.patches.append((offset, raw))

    def read(self, offset: int, length: int) -> bytes | memoryview:
        check_range(self.name, self.size, offset, length)
        split = len(self.header)
        if offset >= split:
            data = self.file.read(offset + self.shift, length)
        else:
            data = self.header[offset:offset + length]
            if len(data) < length:
                data += bytes(self.file.read(split + self.shift, length - len(data)))
        for at, raw in self.patches:
            if at < offset + length and offset < at + len(raw):
                data = bytearray(data)
                lo, hi = max(at, offset), min(at + len(raw), offset + length)
                data[lo - offset:hi - offset] = raw[lo - at:hi - at]
        return data
