"""Unquantized tensor types: F32, F16, BF16 (one weight per "block").

Kept in memory in their file dtype; BF16 as uint16 bit patterns, widened to
float32 by a 16-bit left shift (`ggml_compute_bf16_to_fp32` in ggml-impl.h,
gguf-py `BF16.dequantize_blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True, kw_only=True)
class FloatType:
    type_id: int
    name: str
    block_size: int
    type_size: int
    dtype: type                                  # how the bytes are kept in memory
    to_f32: Callable[[np.ndarray], np.ndarray]   # stored array -> float32, same shape


F32 = FloatType(type_id=0, name="F32", block_size=1, type_size=4, dtype=np.float32,
                to_f32=lambda a: a.astype(np.float32, copy=False))

F16 = FloatType(type_id=1, name="F16", block_size=1, type_size=2, dtype=np.float16,
                to_f32=lambda a: a.astype(np.float32))


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


BF16 = FloatType(type_id=30, name="BF16", block_size=1, type_size=2, dtype=np.uint16, to_f32=_bf16_to_f32)

FLOAT_TYPES = [F32, F16, BF16]
