"""float32 weights -> GGUF blocks: Q8_0, Q4_0, Q4_1, Q4_K, and F16 / F32.

Each follows ggml's reference quantizer in ggml/src/ggml-quants.c (`quantize_row_*_ref`), the
code llama.cpp's converter and llama-quantize run without an importance matrix; the block
layouts are drawn next to their dequantizers (legacy.py, kquants.py). Q8_0, Q4_0 and Q4_1 give
the very bytes of gguf-py's `gguf.quants.quantize` (tests/test_quantize.py); gguf-py has no
Q4_K quantizer, so Q4_K is checked by decoding it back (gguf-py's dequantize) within its bounds.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from .floats import F16, F32
from .kquants import K_TYPES
from .legacy import LEGACY_TYPES

QUANTIZE_TYPES = ("f32", "f16", "q8_0", "q4_0", "q4_1", "q4_k")   # --quantize / convert --type
_BY_NAME = {t.name: t for t in LEGACY_TYPES + K_TYPES}
Q8_0, Q4_0, Q4_1, Q4_K = (_BY_NAME[n] for n in ("Q8_0", "Q4_0", "Q4_1", "Q4_K"))
QUANT_ROWS = 1024          # rows quantized at a time: bounds the temporaries


def type_for(name: str):
    """The registry entry for a --quantize / --type name."""
    table = {"f32": F32, "f16": F16, "q8_0": Q8_0, "q4_0": Q4_0, "q4_1": Q4_1, "q4_k": Q4_K}
    if name not in table:
        raise UnsupportedError(f"unknown quantization type {name!r} (supported: {', '.join(table)})")
    return table[name]


def quantize(weights: np.ndarray, qtype) -> np.ndarray:
    """weights: (rows, cols) float32 -> (rows, cols // block_size * type_size) uint8 GGUF bytes."""
    rows, cols = weights.shape
    if qtype is F32 or qtype is F16:
        return np.ascontiguousarray(weights, qtype.dtype).view(np.uint8).reshape(rows, -1)
    if cols % qtype.block_size:
        raise UnsupportedError(f"a row of {cols} weights is not a multiple of the {qtype.name} "
                               f"block size {qtype.block_size}")
    encode = _ENCODERS[qtype.name]
    out = np.empty((rows, cols // qtype.block_size * qtype.type_size), np.uint8)
    for r0 in range(0, rows, QUANT_ROWS):
        part = np.asarray(weights[r0:r0 + QUANT_ROWS], np.float32)
        blocks = part.reshape(-1, qtype.block_size)                    # (B, block_size)
        out[r0:r0 + QUANT_ROWS] = encode(blocks).reshape(len(part), -1)
    return out


def _f16_bytes(values: np.ndarray) -> np.ndarray:
    """(B,) float32 -> (B, 2) uint8: ggml's GGML_FP32_TO_FP16 (round to nearest even)."""
    return values.astype(np.float16).view(np.uint8).reshape(-1, 2)


def _inverse(d: np.ndarray) -> np.ndarray:
    """1 / d, and 0 where d is 0 (ggml: `const float id = d ? 1.0f/d : 0.0f`)."""
    with np.errstate(divide="ignore"):
        return np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """(B, 32) codes 0..15 -> (B, 16): weight j in the low nibble of byte j, j + 16 in the high."""
    return (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)


def _q8_0(x: np.ndarray) -> np.ndarray:
    """quantize_row_q8_0_ref: d = max|x| / 127, q = roundf(x / d) (halves away from zero)."""
    d = np.abs(x).max(axis=1) / np.float32(127)                        # (B,)
    v = x * _inverse(d)[:, None]
    q = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))             # C roundf
    return np.concatenate([_f16_bytes(d), q.astype(np.int8).view(np.uint8)], axis=1)


def _q4_0(x: np.ndarray) -> np.ndarray:
    """quantize_row_q4_0_ref: d = (the value of largest magnitude) / -8, q = (int)(x/d + 8.5) <= 15."""
    amax_at = np.abs(x).argmax(axis=1)
    d = x[np.arange(len(x)), amax_at] / np.float32(-8)                 # (B,)
    q = np.trunc(x * _inverse(d)[:, None] + np.float32(8.5)).astype(np.uint8)
    return np.concatenate([_f16_bytes(d), _pack_nibbles(np.minimum(q, 15))], axis=1)


def _q4_1(x: np.ndarray) -> np.ndarray:
    """quantize_row_q4_1_ref: d = (max - min) / 15, m = min, q = (int)((x - m)/d + 0.5) <= 15."""
    lo, hi = x.min(axis=1), x.max(axis=1)                              # (B,)
    d = (hi - lo) / np.float32(15)
    q = np.trunc((x - lo[:, None]) * _inverse(d)[:, None] + np.float32(0.5)).astype(np.uint8)
    return np.concatenate([_f16_bytes(d), _f16_bytes(lo), _pack_nibbles(np.minimum(q, 15))], axis=1)


# ---- Q4_K: 8 sub-blocks of 32, each with a 6-bit scale and min (ggml-quants.c quantize_row_q4_K_ref)

def _fit_scale_min(x: np.ndarray, w: np.ndarray, nmax: int = 15, rmin: float = -1.0,
                   rdelta: float = 0.1, nstep: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """make_qkx2_quants over many sub-blocks at once: x, w (S, 32) -> (scale, -min) (S,) each.
    Starts from the min..max grid, then tries nstep shifted grids and keeps the weighted
    least-squares (scale, min) of the best one."""
    f32 = np.float32
    lo = np.minimum(x.min(axis=1), 0)                                  # (S,)
    hi = x.max(axis=1)
    span = hi - lo
    flat = span == 0
    safe_span = np.where(flat, f32(1), span)
    sum_w, sum_x = w.sum(axis=1), (w * x).sum(axis=1)
    iscale = f32(nmax) / safe_span
    scale = f32(1) / iscale
    codes = np.clip(np.rint(iscale[:, None] * (x - lo[:, None])), 0, nmax)      # (S, 32)
    best = (w * (scale[:, None] * codes + lo[:, None] - x) ** 2).sum(axis=1)
    best_min = lo.copy()
    for step in range(nstep + 1):
        iscale = f32(rmin + rdelta * step + nmax) / safe_span
        l = np.clip(np.rint(iscale[:, None] * (x - lo[:, None])), 0, nmax).astype(f32)
        sum_l, sum_l2, sum_xl = (w * l).sum(axis=1), (w * l * l).sum(axis=1), (w * l * x).sum(axis=1)
        det = sum_w * sum_l2 - sum_l * sum_l
        ok = det > 0
        safe_det = np.where(ok, det, f32(1))
        this_scale = (sum_w * sum_xl - sum_x * sum_l) / safe_det
        this_min = (sum_l2 * sum_x - sum_l * sum_xl) / safe_det
        positive = this_min > 0
        this_min = np.where(positive, f32(0), this_min)
        this_scale = np.where(positive, sum_xl / np.where(sum_l2 > 0, sum_l2, f32(1)), this_scale)
        err = (w * (this_scale[:, None] * l + this_min[:, None] - x) ** 2).sum(axis=1)
        better = ok & (err < best)
        best = np.where(better, err, best)
        scale = np.where(better, this_scale, scale)
        best_min = np.where(better, this_min, best_min)
    scale = np.where(flat, f32(0), scale)
    return scale.astype(f32), (-np.where(flat, lo, best_min)).astype(f32)


def _q4_k(x: np.ndarray) -> np.ndarray:
    """(B, 256) -> (B, 144): d, dmin (f16) | 12 bytes of 6-bit scales and mins | 128 bytes of codes."""
    f32, n = np.float32, len(x)
    sub = x.reshape(n, 8, 32)                                          # (B, 8, 32)
    av = np.sqrt((x * x).sum(axis=1) / f32(256))                       # (B,)
    weights = av[:, None, None] + np.abs(sub)                          # (B, 8, 32)
    scales, mins = _fit_scale_min(sub.reshape(-1, 32), weights.reshape(-1, 32))
    scales, mins = scales.reshape(n, 8), mins.reshape(n, 8)            # (B, 8) each
    max_scale, max_min = scales.max(axis=1), mins.max(axis=1)
    inv_scale = np.where(max_scale > 0, f32(63) / np.where(max_scale > 0, max_scale, 1), 0)
    inv_min = np.where(max_min > 0, f32(63) / np.where(max_min > 0, max_min, 1), 0)
    ls = np.minimum(np.rint(inv_scale[:, None] * scales), 63).astype(np.uint8)     # (B, 8)
    lm = np.minimum(np.rint(inv_min[:, None] * mins), 63).astype(np.uint8)
    packed = np.empty((n, 12), np.uint8)                               # get_scale_min_k4 layout
    packed[:, 0:4] = ls[:, :4] | ((ls[:, 4:] >> 4) << 6)
    packed[:, 4:8] = lm[:, :4] | ((lm[:, 4:] >> 4) << 6)
    packed[:, 8:12] = (ls[:, 4:] & 0xF) | ((lm[:, 4:] & 0xF) << 4)
    d16 = (max_scale / f32(63)).astype(np.float16)
    dmin16 = (max_min / f32(63)).astype(np.float16)
    d = d16.astype(f32)[:, None] * ls.astype(f32)                      # (B, 8) effective scales
    dm = dmin16.astype(f32)[:, None] * lm.astype(f32)
    safe_d = np.where(d == 0, f32(1), d)
    codes = np.clip(np.rint((sub + dm[:, :, None]) / safe_d[:, :, None]), 0, 15)
    codes = np.where(d[:, :, None] == 0, 0, codes).astype(np.uint8)    # (B, 8, 32)
    # 64 weights per 32 bytes: sub-block 2i in the low nibbles, 2i + 1 in the high ones
    qs = (codes[:, 0::2] | (codes[:, 1::2] << 4)).reshape(n, 128)
    return np.concatenate([d16.view(np.uint8).reshape(n, 2), dmin16.view(np.uint8).reshape(n, 2),
                           packed, qs], axis=1)


_ENCODERS = {"Q8_0": _q8_0, "Q4_0": _q4_0, "Q4_1": _q4_1, "Q4_K": _q4_k}
