"""The K-quant super-block formats: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (256 weights per block).

Layouts follow `block_q2_K` ... `block_q6_K` in llama.cpp ggml/src/ggml-common.h
and `dequantize_row_q2_K` ... in ggml/src/ggml-quants.c (gguf-py quants.py:
`Q2_K.dequantize_blocks` ...). Sub-blocks ("units") carry small integer scales
multiplied by the block's f16 `d` (and mins by `dmin`).

Each type below is one section: its block drawn in a comment (offsets in bytes),
where its planes sit (planes.py: unit u in field k of byte l, B units between
the fields of one byte), then its codes, scales and entry.
"""

from __future__ import annotations

import numpy as np

from .codes import QuantType, Scales, halves
from .planes import PlaneSpec, raw_bytes

QK_K = 256   # weights per super-block

_SHIFT2 = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 1, 4, 1)
_SHIFT1 = np.arange(8, dtype=np.uint8).reshape(1, 1, 8, 1)


def _crumbs(qs: np.ndarray) -> np.ndarray:
    """(R, NB, 64) bytes -> (R, NB, 256) two-bit codes in weight order (Q2_K / Q3_K qs)."""
    r, nb = qs.shape[:2]
    return ((qs.reshape(r, nb, 2, 1, 32) >> _SHIFT2) & 3).reshape(r, nb, 256)


def _bit_planes(h: np.ndarray) -> np.ndarray:
    """(R, NB, 32) bytes -> (R, NB, 256) 0/1: bit k of h[l] belongs to weight 32k + l."""
    r, nb = h.shape[:2]
    return ((h.reshape(r, nb, 1, 32) >> _SHIFT1) & 1).reshape(r, nb, 256)


def _nibble_chunks(qs: np.ndarray) -> np.ndarray:
    """(R, NB, 128) bytes -> (R, NB, 256): chunk c of 32 bytes gives q[64c..64c+31] (low
    nibbles) then q[64c+32..64c+63] (high nibbles)."""
    r, nb = qs.shape[:2]
    chunks = qs.reshape(r, nb, 4, 1, 32)
    return np.concatenate([chunks & 15, chunks >> 4], axis=3).reshape(r, nb, 256)


def _units(q: np.ndarray, unit: int) -> np.ndarray:
    """(R, NB, 256) -> (R, NB * 256 // unit, unit)."""
    return q.reshape(q.shape[0], -1, unit)


def _flat(a: np.ndarray) -> np.ndarray:
    """(R, NB, k) -> (R, NB * k): one entry per unit."""
    return a.reshape(a.shape[0], -1)


# Q2_K (84 B): 16 units of 16 weights                                (q in 0..3)
#   | scales[16] 0..15 | qs[64] 16..79 | d:f16 80 | dmin:f16 82 |
#   scales[i] = sc[i] | mn[i] << 4
#   qs: two halves h of 32 bytes; bits 2k..2k+1 of qs[32h + l] = q[128h + 32k + l]
#   w = d * sc[i] * q - dmin * mn[i]
#   plane: qs, unit 8h + 2k + t in field k of byte 32h + 16t + l (B=2)
def _q2_k_scales(b):
    scales = b[..., 0:16]
    return Scales(d=halves(b[..., 80:82]), m=-halves(b[..., 82:84]),
                  sc=_flat(scales & 15), mn=_flat(scales >> 4))


Q2_K = QuantType(type_id=10, name="Q2_K", block_size=QK_K, type_size=84, unit=16, offset=0, code_bits=2,
                 planes=(PlaneSpec(bits=2, shift=0, stride=2, source=raw_bytes(16, 80)),),
                 codes=lambda b: _units(_crumbs(b[..., 16:80]), 16),
                 scales=_q2_k_scales)


# Q3_K (110 B): 16 units of 16 weights            (q in 0..7: ggml subtracts 4 where hmask is 0)
#   | hmask[32] 0..31 | qs[64] 32..95 (as Q2_K) | scales[12] 96..107 | d:f16 108 |
#   bit k of hmask[l] is bit 2 of q[32k + l]
#   scales: 16 six-bit values s[i]; low 4 bits in nibbles of bytes 0..7
#   (s[i] for i < 8 low nibble of byte i, s[8+i] high nibble of byte i), high 2
#   bits at bits 2k..2k+1 of byte 8 + i for s[4k + i]
#   w = d * (s[i] - 32) * (q - 4)
#   planes: qs as Q2_K's; hmask, unit 2k + t in bit k of byte 16t + l (B=2)
def _q3_k_codes(b):
    return _units(_crumbs(b[..., 32:96]) | (_bit_planes(b[..., 0:32]) << 2), 16)


def _q3_k_scales(b):
    r, nb = b.shape[:2]
    s = b[..., 96:108]
    low = (s[..., 0:8].reshape(r, nb, 1, 8) >> np.array([0, 4], np.uint8).reshape(2, 1)) & 15
    high = (s[..., 8:12].reshape(r, nb, 1, 4) >> np.array([0, 2, 4, 6], np.uint8).reshape(4, 1)) & 3
    sc = low.reshape(r, nb, 16) | (high.reshape(r, nb, 16) << 4)
    return Scales(d=halves(b[..., 108:110]), sc=_flat(sc.astype(np.int8) - np.int8(32)))


Q3_K = QuantType(type_id=11, name="Q3_K", block_size=QK_K, type_size=110, unit=16, offset=4, code_bits=3,
                 planes=(PlaneSpec(bits=2, shift=0, stride=2, source=raw_bytes(32, 96)),
                         PlaneSpec(bits=1, shift=2, stride=2, source=raw_bytes(0, 32))),
                 codes=_q3_k_codes,
                 scales=_q3_k_scales)


# Q4_K (144 B): 8 units of 32 weights                                (q in 0..15)
#   | d:f16 0 | dmin:f16 2 | scales[12] 4..15 | qs[128] 16..143 |
#   scales: six-bit sc[j], mn[j] (`get_scale_min_k4`):
#     j < 4: sc = b[j] & 63, mn = b[j+4] & 63
#     j >= 4: sc = b[j+4] & 15 | (b[j-4] >> 6) << 4, mn = b[j+4] >> 4 | (b[j] >> 6) << 4
#   qs: four chunks c of 32 bytes; low nibble of qs[32c + l] = q[64c + l],
#   high nibble = q[64c + 32 + l]
#   w = d * sc[j] * q - dmin * mn[j]
#   plane: qs, unit 2c + k in nibble k of byte 32c + l (B=1)
def _scale_min_k4(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, NB, 12) packed six-bit scales -> sc, mn: (R, NB, 8) uint8 (`get_scale_min_k4`)."""
    lo, hi, mix = s[..., 0:4], s[..., 4:8], s[..., 8:12]
    sc = np.concatenate([lo & 63, (mix & 15) | ((lo >> 6) << 4)], axis=-1)
    mn = np.concatenate([hi & 63, (mix >> 4) | ((hi >> 6) << 4)], axis=-1)
    return sc, mn


def _q4_k_scales(b):
    sc, mn = _scale_min_k4(b[..., 4:16])
    return Scales(d=halves(b[..., 0:2]), m=-halves(b[..., 2:4]), sc=_flat(sc), mn=_flat(mn))


Q4_K = QuantType(type_id=12, name="Q4_K", block_size=QK_K, type_size=144, unit=32, offset=0, code_bits=4,
                 planes=(PlaneSpec(bits=4, shift=0, source=raw_bytes(16, 144)),),
                 codes=lambda b: _units(_nibble_chunks(b[..., 16:144]), 32),
                 scales=_q4_k_scales)


# Q5_K (176 B): as Q4_K with | qh[32] 16..47 | qs[128] 48..175 |     (q in 0..31)
#   bit j of qh[l] is bit 4 of q[32j + l]
#   planes: qs as Q4_K's; qh, unit k in bit k of byte l (B=1)
def _q5_k_codes(b):
    return _units(_nibble_chunks(b[..., 48:176]) | (_bit_planes(b[..., 16:48]) << 4), 32)


Q5_K = QuantType(type_id=13, name="Q5_K", block_size=QK_K, type_size=176, unit=32, offset=0, code_bits=5,
                 planes=(PlaneSpec(bits=4, shift=0, source=raw_bytes(48, 176)),
                         PlaneSpec(bits=1, shift=4, source=raw_bytes(16, 48))),
                 codes=_q5_k_codes,
                 scales=_q4_k_scales)


# Q6_K (210 B): 16 units of 16 weights                               (q in 0..63)
#   | ql[128] 0..127 | qh[64] 128..191 | scales[16]:int8 192..207 | d:f16 208 |
#   two halves h of 128 weights: ql[64h + l] low nibble = q[128h + l],
#   high nibble = q[128h + 64 + l] (l < 64); bits 2k..2k+1 of qh[32h + l] are
#   bits 4..5 of q[128h + 32k + l]
#   w = d * scales[i] * (q - 32)
#   planes: ql, unit 8h + 4k + t in nibble k of byte 64h + 16t + l (B=4); qh as Q2_K's qs
def _q6_k_codes(b):
    r, nb = b.shape[:2]
    ql = b[..., 0:128].reshape(r, nb, 2, 1, 64)
    low = np.concatenate([ql & 15, ql >> 4], axis=3).reshape(r, nb, 256)
    qh = b[..., 128:192].reshape(r, nb, 2, 1, 32)
    high = ((qh >> _SHIFT2) & 3).reshape(r, nb, 256)
    return _units(low | (high << 4), 16)


Q6_K = QuantType(type_id=14, name="Q6_K", block_size=QK_K, type_size=210, unit=16, offset=32, code_bits=6,
                 planes=(PlaneSpec(bits=4, shift=0, stride=4, source=raw_bytes(0, 128)),
                         PlaneSpec(bits=2, shift=4, stride=2, source=raw_bytes(128, 192))),
                 codes=_q6_k_codes,
                 scales=lambda b: Scales(d=halves(b[..., 208:210]), sc=_flat(b[..., 192:208].view(np.int8))))

K_TYPES = [Q2_K, Q3_K, Q4_K, Q5_K, Q6_K]
