"""float32 weights -> GGUF blocks: Q8_0, Q4_0, Q4_1, Q4_K, and F16 / F32.

Each follows ggml's reference quantizer in ggml/src/ggml-quants.c (`quantize_row_*_ref`), the
code llama.cpp's converter and llama-quantize run without an importance matrix; the block
layouts are drawn next to their dequantizers (legacy.py, kquants.py). Q8_0, Q4_0 and Q4_1 give
the very bytes of gguf-py's `gguf.quants.quantize`; gguf-py has no Q4_K quantizer, so Q4_K is
checked against ggml's own C library (`ggml_quantize_chunk`, from llama-cpp-python) byte for
byte, and always within its bounds when decoded by gguf-py (tests/test_quantize.py).
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
# Every sum runs over the 32 weights in order, in float32, as the C loops do (vectorized across
# sub-blocks), so the blocks are ggml's own bytes; nearest_int rounds halves to even (np.rint).

def _ordered_sum(terms) -> np.ndarray:
    """sum over i of terms(i), added in the order i = 0..31: (S,) float32."""
    total = terms(0)
    for i in range(1, 32):
        total = total + terms(i)
    return total


def _fit_scale_min(x: np.ndarray, w: np.ndarray, nmax: int = 15, rmin: float = -1.0,
                   rdelta: float = 0.1, nstep: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """make_qkx2_quants (use_mad false) on S sub-blocks at once: x, w (S, 32) f32 ->
    (scale (S,), -min (S,), codes (S, 32) uint8). Starts from the min..max grid, then tries
    nstep + 1 shifted grids, keeping the weighted least-squares (scale, min) of the best."""
    f32 = np.float32
    xt, wt = x.T.copy(), w.T.copy()                                    # (32, S): row i = weight i
    lo = np.minimum(x.min(axis=1), f32(0))                             # (S,)
    hi = x.max(axis=1)
    flat = hi == lo
    span = np.where(flat, f32(1), hi - lo)
    sum_w = _ordered_sum(lambda i: wt[i])
    sum_x = _ordered_sum(lambda i: wt[i] * xt[i])
    iscale = f32(nmax) / span
    scale = f32(1) / iscale
    codes = np.clip(np.rint(iscale * (xt - lo)), 0, nmax).astype(f32)          # (32, S)
    best = _ordered_sum(lambda i: wt[i] * ((scale * codes[i] + lo) - xt[i]) ** 2)
    best_min = lo            # as in C, each later grid starts from the best min found so far
    for step in range(nstep + 1):
        with np.errstate(divide="ignore", invalid="ignore"):
            iscale = (f32(rmin) + f32(rdelta) * f32(step) + f32(nmax)) / np.where(flat, f32(1), hi - best_min)
            l = np.clip(np.rint(iscale * (xt - best_min)), 0, nmax).astype(f32)  # (32, S)
        sum_l = _ordered_sum(lambda i: wt[i] * l[i])
        sum_l2 = _ordered_sum(lambda i: wt[i] * l[i] * l[i])
        sum_xl = _ordered_sum(lambda i: wt[i] * l[i] * xt[i])
        det = sum_w * sum_l2 - sum_l * sum_l
        ok = det > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / det
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det
            positive = this_min > 0
            this_min = np.where(positive, f32(0), this_min)
            this_scale = np.where(positive, sum_xl / sum_l2, this_scale)
        err = _ordered_sum(lambda i: wt[i] * ((this_scale * l[i] + this_min) - xt[i]) ** 2)
        better = ok & (err < best)
        best = np.where(better, err, best)
        scale = np.where(better, this_scale, scale)
        best_min = np.where(better, this_min, best_min)
        codes = np.where(better, l, codes)
    scale = np.where(flat, f32(0), scale).astype(f32)
    codes = np.where(flat, f32(0), codes)
    return scale, (-best_min).astype(f32), codes.T.astype(np.uint8)


def _q4_k(x: np.ndarray) -> np.ndarray:
    """(B, 256) -> (B, 144): d, dmin (f16) | 12 bytes of 6-bit scales and mins | 128 bytes of codes."""
    f32, n = np.float32, len(x)
    sub = x.reshape(n * 8, 32)                                         # (S, 32), S = 8 B
    sum_x2 = _ordered_sum(lambda i: sub[:, i] * sub[:, i])
    av = np.sqrt(sum_x2 / f32(32))                                     # (S,) per sub-block
    weights = av[:, None] + np.abs(sub)                                # (S, 32)
    scales, mins, fit_codes = _fit_scale_min(sub, weights)
    scales, mins = scales.reshape(n, 8), mins.reshape(n, 8)            # (B, 8) each
    max_scale = np.maximum(scales.max(axis=1), f32(0))
    max_min = np.maximum(mins.max(axis=1), f32(0))
    with np.errstate(divide="ignore"):
        inv_scale = np.where(max_scale > 0, f32(63) / max_scale, f32(0))
        inv_min = np.where(max_min > 0, f32(63) / max_min, f32(0))
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
    with np.errstate(divide="ignore", invalid="ignore"):
        codes = np.clip(np.rint((sub.reshape(n, 8, 32) + dm[:, :, None]) / d[:, :, None]), 0, 15)
    # a sub-block whose scale rounds to 0 keeps the codes of its fit (`if (!d) continue;`)
    codes = np.where(d[:, :, None] == 0, fit_codes.reshape(n, 8, 32), codes).astype(np.uint8)
    # 64 weights per 32 bytes: sub-block 2i in the low nibbles, 2i + 1 in the high ones
    qs = (codes[:, 0::2] | (codes[:, 1::2] << 4)).reshape(n, 128)
    return np.concatenate([d16.view(np.uint8).reshape(n, 2), dmin16.view(np.uint8).reshape(n, 2),
                           packed, qs], axis=1)


_ENCODERS = {"Q8_0": _q8_0, "Q4_0": _q4_0, "Q4_1": _q4_1, "Q4_K": _q4_k}
