"""A small GGUF (version 3) writer: metadata, the tensor table, then aligned tensor data.

The layout the reader (minfer_wasm/gguf.py) walks, as gguf-py's GGUFWriter writes it: values
typed like gguf-py types them (ints as uint32 or int64 when out of its range, floats as float32,
token types as an int32 array, scores as a float32 array), tensors aligned to 32 bytes.
Tensor bytes come from a callback one tensor at a time, so a model is never in memory twice.
"""

from __future__ import annotations

import os
import struct
from typing import Callable, Iterable

import numpy as np

from ..errors import MinferError

ALIGNMENT = 32
# GGUF value types (gguf-py GGUFValueType)
UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, INT64 = 4, 5, 6, 7, 8, 9, 11


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _value(key: str, value) -> bytes:
    """type id + encoded value."""
    if isinstance(value, (bool, np.bool_)):
        return struct.pack("<IB", BOOL, bool(value))
    if isinstance(value, (int, np.integer)):
        v = int(value)
        return struct.pack("<II", UINT32, v) if 0 <= v < 1 << 32 else struct.pack("<Iq", INT64, v)
    if isinstance(value, (float, np.floating)):
        return struct.pack("<If", FLOAT32, float(value))
    if isinstance(value, str):
        return struct.pack("<I", STRING) + _string(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value) if not isinstance(value, np.ndarray) else value
        if len(items) and all(isinstance(v, str) for v in items):
            return struct.pack("<IIQ", ARRAY, STRING, len(items)) + b"".join(map(_string, items))
        arr = np.asarray(items)
        if arr.ndim == 1 and np.issubdtype(arr.dtype, np.floating):
            return struct.pack("<IIQ", ARRAY, FLOAT32, len(arr)) + arr.astype("<f4").tobytes()
        if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
            return struct.pack("<IIQ", ARRAY, INT32, len(arr)) + arr.astype("<i4").tobytes()
    raise MinferError(f"GGUF metadata {key!r}: cannot write a value of type {type(value).__name__}")


def write_gguf(path, metadata: dict, tensors: Iterable, tensor_bytes: Callable[[str], object],
               log: Callable[[str], None] = lambda _: None) -> None:
    """Write `metadata` and `tensors` (TensorInfo: name, ggml_type, numpy shape, nbytes) to
    `path`; tensor_bytes(name) gives each tensor's nbytes bytes. Written to path.partial first."""
    tensors = list(tensors)
    header = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(metadata))]
    for key, value in metadata.items():
        header.append(_string(key) + _value(key, value))
    offset = 0
    for t in tensors:
        ne = tuple(reversed(t.shape))
        header.append(_string(t.name) + struct.pack(f"<I{len(ne)}QIQ", len(ne), *ne, t.ggml_type, offset))
        offset += -(-t.nbytes // ALIGNMENT) * ALIGNMENT
    head = b"".join(header)
    partial = os.fspath(path) + ".partial"
    try:
        with open(partial, "wb") as f:
            f.write(head + bytes(-len(head) % ALIGNMENT))
            for i, t in enumerate(tensors):
                data = memoryview(np.ascontiguousarray(tensor_bytes(t.name))).cast("B")
                if len(data) != t.nbytes:
                    raise MinferError(f"tensor {t.name!r}: {len(data)} bytes, expected {t.nbytes}")
                f.write(data)
                f.write(bytes(-t.nbytes % ALIGNMENT))
                log(f"[{i + 1}/{len(tensors)}] {t.name} {t.shape}")
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
