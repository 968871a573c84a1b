"""The 32-weight block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.

Layouts follow `block_q4_0` ... `block_q8_0` in llama.cpp ggml/src/ggml-common.h
and `dequantize_row_q4_0` ... in ggml/src/ggml-quants.c (gguf-py quants.py:
`Q4_0.dequantize_blocks` ...). One block holds weights w[0..31]; all multi-byte
fields are little-endian, `d` and `m` IEEE halves. Units are whole blocks.

Each type below is one section: its block drawn in a comment, then its entry.
The 4-bit codes of blocks 2i and 2i+1 are repacked into the nibbles of one plane
byte, and Q5's bit 4 into a plane of its own (planes.py).
"""

from __future__ import annotations

import numpy as np

from .codes import QuantType, Scales, halves
from .planes import PlaneSpec, pack_fields, raw_bytes

QK = 32   # weights per block, and per unit (one scale per block)

_LOW = np.uint64(0x0F0F0F0F0F0F0F0F)


def nibbles(qs: np.ndarray) -> np.ndarray:
    """(R, NB, 16) packed bytes -> (R, NB, 32) codes: low nibbles are w[0..15], high w[16..31]."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1)


def _high_bits(qh: np.ndarray) -> np.ndarray:
    """(R, NB, 4) bytes of a little-endian u32 -> (R, NB, 32) 0/1: bit j is bit 4 of w[j]."""
    return np.unpackbits(qh, axis=-1, bitorder="little")


def _with_high_bits(low: np.ndarray, qh: np.ndarray) -> np.ndarray:
    return low | (_high_bits(qh) << 4)


def paired_nibbles(qs: np.ndarray) -> np.ndarray:
    """(R, NB, 16) qs -> (R, ceil(NB/2), 32) plane bytes: byte l = q[2i][l] | q[2i+1][l] << 4,
    straight from the packed nibbles (8 bytes per uint64 op)."""
    r, nb = qs.shape[:2]
    if nb % 2:
        qs = np.concatenate([qs, np.zeros((r, 1, 16), np.uint8)], axis=1)
    w = np.ascontiguousarray(qs).view(np.uint64)             # (R, NB, 2)
    even, odd = w[:, 0::2], w[:, 1::2]                       # q[j] | q[j+16] << 4 of blocks 2i, 2i+1
    low = (even & _LOW) | ((odd & _LOW) << np.uint64(4))     # bytes 0..15 of the pair
    high = ((even >> np.uint64(4)) & _LOW) | (odd & ~_LOW)   # bytes 16..31
    return np.concatenate([low, high], axis=-1).view(np.uint8)


def _nibble_plane(start: int) -> PlaneSpec:
    """The 4-bit codes in qs = bytes start..start+15, blocks 2i and 2i+1 sharing plane bytes."""
    return PlaneSpec(bits=4, shift=0, source=lambda b: paired_nibbles(b[..., start:start + 16]))


def _bit4_plane(start: int) -> PlaneSpec:
    """Q5's bit 4 from qh = bytes start..start+3, blocks 8i..8i+7 sharing plane bytes."""
    return PlaneSpec(bits=1, shift=4, source=lambda b: pack_fields(_high_bits(b[..., start:start + 4]), 1))


def _d(b):
    return Scales(d=halves(b[..., 0:2]))


def _d_m(b):
    return Scales(d=halves(b[..., 0:2]), m=halves(b[..., 2:4]))


# Q4_0 (18 B)  | d:f16 | qs[16]: qs[j] = q[j] | q[j+16] << 4 |        w = d * (q - 8)
Q4_0 = QuantType(type_id=2, name="Q4_0", block_size=QK, type_size=18, unit=QK, offset=8, code_bits=4,
                 planes=(_nibble_plane(2),),
                 codes=lambda b: nibbles(b[..., 2:18]),
                 scales=_d)

# Q4_1 (20 B)  | d:f16 | m:f16 | qs[16] (as Q4_0) |                   w = d * q + m
Q4_1 = QuantType(type_id=3, name="Q4_1", block_size=QK, type_size=20, unit=QK, offset=0, code_bits=4,
                 planes=(_nibble_plane(4),),
                 codes=lambda b: nibbles(b[..., 4:20]),
                 scales=_d_m)

# Q5_0 (22 B)  | d:f16 | qh:u32 | qs[16] (as Q4_0) |                  w = d * (q - 16)
#              q[j] (5 bits) = nibble from qs | (bit j of qh) << 4
Q5_0 = QuantType(type_id=6, name="Q5_0", block_size=QK, type_size=22, unit=QK, offset=16, code_bits=5,
                 planes=(_nibble_plane(6), _bit4_plane(2)),
                 codes=lambda b: _with_high_bits(nibbles(b[..., 6:22]), b[..., 2:6]),
                 scales=_d)

# Q5_1 (24 B)  | d:f16 | m:f16 | qh:u32 | qs[16] (as Q5_0) |           w = d * q + m
Q5_1 = QuantType(type_id=7, name="Q5_1", block_size=QK, type_size=24, unit=QK, offset=0, code_bits=5,
                 planes=(_nibble_plane(8), _bit4_plane(4)),
                 codes=lambda b: _with_high_bits(nibbles(b[..., 8:24]), b[..., 4:8]),
                 scales=_d_m)

# Q8_0 (34 B)  | d:f16 | qs[32]: int8 q[j] |                          w = d * q
#              the plane is qs as it stands (the codes themselves)
Q8_0 = QuantType(type_id=8, name="Q8_0", block_size=QK, type_size=34, unit=QK, offset=0, code_bits=8,
                 planes=(PlaneSpec(bits=8, shift=0, source=raw_bytes(2, 34)),),
                 codes=lambda b: b[..., 2:34].view(np.int8),
                 scales=_d)

LEGACY_TYPES = [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0]
