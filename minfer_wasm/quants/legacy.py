"""The 32-weight block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.

Layouts follow `block_q4_0` ... `block_q8_0` in llama.cpp ggml/src/ggml-common.h
and `dequantize_row_q4_0` ... in ggml/src/ggml-quants.c (gguf-py quants.py:
`Q4_0.dequantize_blocks` ...). All multi-byte fields are little-endian; `d`
and `m` are IEEE halves. One block holds weights w[0..31]:

  Q4_0 (18 B)  | d:f16 | qs[16]: qs[j] = q[j] | q[j+16] << 4 |        w = d * (q - 8)
  Q4_1 (20 B)  | d:f16 | m:f16 | qs[16] (as Q4_0) |                   w = d * q + m
  Q5_0 (22 B)  | d:f16 | qh:u32 | qs[16] (as Q4_0) |                  w = d * (q - 16)
  Q5_1 (24 B)  | d:f16 | m:f16 | qh:u32 | qs[16] |                     w = d * q + m
               q[j] (5 bits) = nibble from qs | (bit j of qh) << 4
  Q8_0 (34 B)  | d:f16 | qs[32]: int8 q[j] |                          w = d * q
"""

from __future__ import annotations

import numpy as np

from .codes import Codes, QuantType, f16_to_f32


def _nibbles(qs: np.ndarray) -> np.ndarray:
    """(R, NB, 16) packed bytes -> (R, NB, 32) codes: low nibbles are w[0..15], high w[16..31]."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1)


def _high_bits(qh: np.ndarray) -> np.ndarray:
    """(R, NB, 4) bytes of a little-endian u32 -> (R, NB, 32) 0/1: bit j is weight j's bit 4."""
    return np.unpackbits(qh, axis=-1, bitorder="little")


def _decode_q4_0(b: np.ndarray) -> Codes:
    return Codes(q=_nibbles(b[..., 2:18]), d=f16_to_f32(b[..., 0:2]))


def _decode_q4_1(b: np.ndarray) -> Codes:
    return Codes(q=_nibbles(b[..., 4:20]), d=f16_to_f32(b[..., 0:2]), m=f16_to_f32(b[..., 2:4]))


def _decode_q5_0(b: np.ndarray) -> Codes:
    q = _nibbles(b[..., 6:22]) | (_high_bits(b[..., 2:6]) << 4)
    return Codes(q=q, d=f16_to_f32(b[..., 0:2]))


def _decode_q5_1(b: np.ndarray) -> Codes:
    q = _nibbles(b[..., 8:24]) | (_high_bits(b[..., 4:8]) << 4)
    return Codes(q=q, d=f16_to_f32(b[..., 0:2]), m=f16_to_f32(b[..., 2:4]))


def _decode_q8_0(b: np.ndarray) -> Codes:
    return Codes(q=b[..., 2:34].view(np.int8), d=f16_to_f32(b[..., 0:2]))


LEGACY_TYPES = [
    QuantType(2, "Q4_0", 32, 18, unit=32, offset=8, low_bits=4, high_bits=0, decode=_decode_q4_0),
    QuantType(3, "Q4_1", 32, 20, unit=32, offset=0, low_bits=4, high_bits=0, decode=_decode_q4_1),
    QuantType(6, "Q5_0", 32, 22, unit=32, offset=16, low_bits=4, high_bits=1, decode=_decode_q5_0),
    QuantType(7, "Q5_1", 32, 24, unit=32, offset=0, low_bits=4, high_bits=1, decode=_decode_q5_1),
    QuantType(8, "Q8_0", 32, 34, unit=32, offset=0, low_bits=8, high_bits=0, decode=_decode_q8_0),
]
