"""Unquantized tensor types: F32, F16, BF16 (one weight per "block").

Kept in memory in their file dtype; BF16 as uint16 bit patterns, widened to
float32 by a 16-bit left shift (`ggml_compute_bf16_to_fp32` in ggml-impl.h,
gguf-py `BF16.dequantize_blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class FloatType:
    type_id: int
    name: str
    block_size: int
    type_size: int
    dtype: type                                  # how the bytes are kept in memory
    to_f32: Callable[[np.ndarray], np.ndarray]   # stored array -> float32, same shape


def _bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


FLOAT_TYPES = [
    FloatType(0, "F32", 1, 4, np.float32, lambda a: a.astype(np.float32, copy=False)),
    FloatType(1, "F16", 1, 2, np.float16, lambda a: a.astype(np.float32)),
    FloatType(30, "BF16", 1, 2, np.uint16, _bf16_to_f32),
]
