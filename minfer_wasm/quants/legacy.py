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

Units are whole blocks; the 4-bit codes of blocks 2i and 2i+1 are repacked into
the nibbles of one plane byte, and Q5's bit 4 into a plane of its own (planes.py).
"""

from __future__ import annotations

import numpy as np

from .codes import QuantType, Scales, f16_to_f32
from .planes import PlaneSpec


def _nibbles(qs: np.ndarray) -> np.ndarray:
    """(R, NB, 16) packed bytes -> (R, NB, 32) codes: low nibbles are w[0..15], high w[16..31]."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1)


def _with_high_bits(low: np.ndarray, qh: np.ndarray) -> np.ndarray:
    """Add bit 4: (R, NB, 4) bytes of a little-endian u32 whose bit j belongs to w[j]."""
    return low | (np.unpackbits(qh, axis=-1, bitorder="little") << 4)


def _qtype(type_id, name, type_size, offset, code_bits, planes, codes, scales):
    return QuantType(type_id, name, 32, type_size, 32, offset, code_bits, planes, codes, scales)


def _d(b):
    return Scales(d=f16_to_f32(b[..., 0:2]))


def _d_m(b):
    return Scales(d=f16_to_f32(b[..., 0:2]), m=f16_to_f32(b[..., 2:4]))


# planes packed from the codes: nibbles of two blocks per byte; Q5's bit 4 of 8 blocks per byte
_Q4 = (PlaneSpec(bits=4, shift=0),)
_Q5 = (PlaneSpec(bits=4, shift=0), PlaneSpec(bits=1, shift=4))

LEGACY_TYPES = [
    _qtype(2, "Q4_0", 18, 8, 4, _Q4, lambda b: _nibbles(b[..., 2:18]), _d),
    _qtype(3, "Q4_1", 20, 0, 4, _Q4, lambda b: _nibbles(b[..., 4:20]), _d_m),
    _qtype(6, "Q5_0", 22, 16, 5, _Q5, lambda b: _with_high_bits(_nibbles(b[..., 6:22]), b[..., 2:6]), _d),
    _qtype(7, "Q5_1", 24, 0, 5, _Q5, lambda b: _with_high_bits(_nibbles(b[..., 8:24]), b[..., 4:8]), _d_m),
    _qtype(8, "Q8_0", 34, 0, 8, (PlaneSpec(8, 0, start=2, stop=34),), lambda b: b[..., 2:34].view(np.int8), _d),
]
