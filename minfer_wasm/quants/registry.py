"""The one table of supported tensor types, by ggml type id, and the checks that find a
tensor's entry and cut its bytes into blocks.

Plain floats (floats.py), the 32-weight block formats (legacy.py), the K-quants
(kquants.py) and the non-linear IQ4 formats (iquants.py). Adding a type is one section
in the file of its family: its block drawn in a comment, its codes, scales and planes,
and its entry in that file's list.
"""

from __future__ import annotations

import numpy as np

from ..errors import GGUFError, UnsupportedError
from ..ggml_types import ggml_type_name
from .codes import QuantType, dequantize_codes
from .floats import FLOAT_TYPES, FloatType
from .iquants import I_TYPES
from .kquants import K_TYPES
from .legacy import LEGACY_TYPES

GGML_TYPES: dict[int, QuantType | FloatType] = {t.type_id: t for t in
                                                FLOAT_TYPES + LEGACY_TYPES + K_TYPES + I_TYPES}


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


def decode_blocks(blocks: np.ndarray, qtype: QuantType | FloatType) -> np.ndarray:
    """(R, NB, type_size) uint8 -> (R, NB * block_size) float32 weights, bit-exact vs gguf-py
    (for F32, a view of the blocks)."""
    if isinstance(qtype, FloatType):
        return qtype.to_f32(blocks.view(qtype.dtype)).reshape(len(blocks), -1)
    return dequantize_codes(qtype.codes(blocks), qtype.scales(blocks), qtype)
