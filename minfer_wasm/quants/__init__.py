"""Tensor types by ggml type id, bit-exact dequantization, and QuantTensor.

`GGML_TYPES` is the one registry: block formats (legacy.py, kquants.py), each
decoded into integer codes plus scales (codes.py), and plain floats (floats.py).
`dequantize(raw, ggml_type, shape)` matches gguf-py's `gguf.quants.dequantize`
bit for bit, in a new array (never a view of raw: that would keep a mapped file's
pages or a downloaded buffer alive). `QuantTensor` (tensor.py) keeps weights quantized and multiplies
with them directly.
"""

from __future__ import annotations

import numpy as np

from ..errors import GGUFError, UnsupportedError
from ..ggml_types import ggml_type_name
from .codes import QuantType, dequantize_codes
from .floats import FLOAT_TYPES, FloatType
from .kquants import K_TYPES
from .legacy import LEGACY_TYPES

GGML_TYPES: dict[int, QuantType | FloatType] = {t.type_id: t for t in FLOAT_TYPES + LEGACY_TYPES + K_TYPES}

_CHUNK = 1 << 20  # weights decoded per step, bounds the temporaries of dequantize()


def lookup(ggml_type: int, what: str = "tensor") -> QuantType | FloatType:
    """The registry entry for ggml_type, or UnsupportedError naming it and the supported ones."""
    qtype = GGML_TYPES.get(ggml_type)
    if qtype is None:
        names = ", ".join(t.name for t in GGML_TYPES.values())
        raise UnsupportedError(f"{what} has ggml type {ggml_type_name(ggml_type)} (id {ggml_type}); "
                               f"supported types: {names}")
    return qtype


def as_blocks(raw, qtype: QuantType | FloatType, shape, what: str = "tensor") -> np.ndarray:
    """raw bytes -> (rows, blocks per row, type_size) uint8, checking sizes against shape."""
    shape = tuple(int(s) for s in shape)
    cols = shape[-1] if shape else 1
    rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
    if cols % qtype.block_size:
        raise GGUFError(f"{what}: row length {cols} is not a multiple of the {qtype.name} "
                        f"block size {qtype.block_size}")
    data = np.frombuffer(raw, dtype=np.uint8)
    expected = rows * (cols // qtype.block_size) * qtype.type_size
    if data.size != expected:
        raise GGUFError(f"{what}: {data.size} bytes of {qtype.name} data, shape {shape} "
                        f"needs {expected}")
    return data.reshape(rows, cols // qtype.block_size, qtype.type_size)


def dequantize(raw, ggml_type: int, shape) -> np.ndarray:
    """A new float32 array of `shape` from the tensor's raw bytes, bit-exact vs gguf-py."""
    qtype = lookup(ggml_type)
    blocks = as_blocks(raw, qtype, shape)                 # (R, NB, type_size)
    rows, nb, _ = blocks.shape
    if isinstance(qtype, FloatType):    # F32: a view of raw, copied so the caller can drop raw
        w = qtype.to_f32(blocks.view(qtype.dtype))
        return (w.copy() if qtype.dtype is np.float32 else w).reshape(shape)
    out = np.empty((rows, nb * qtype.block_size), np.float32)
    step = max(1, _CHUNK // max(1, nb * qtype.block_size))
    for r0 in range(0, rows, step):
        b = blocks[r0:r0 + step]
        out[r0:r0 + step] = dequantize_codes(qtype.codes(b), qtype.scales(b), qtype)
    return out.reshape(shape)


from .tensor import QuantTensor  # noqa: E402  (tensor.py uses lookup/as_blocks above)

__all__ = ["GGML_TYPES", "QuantType", "FloatType", "QuantTensor", "dequantize", "lookup"]
