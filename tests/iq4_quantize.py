"""A small IQ4_NL / IQ4_XS quantizer for tests (gguf-py 0.19 only dequantizes these types).

Follows the outline of llama.cpp ggml-quants.c `quantize_row_iq4_nl_impl` without its
importance weights and scale search: per 32 weights, the scale that maps the value of
largest magnitude onto kvalues_iq4nl[0] = -127, each weight's nearest table value, then
the least-squares scale for those codes. IQ4_XS rounds the 8 sub-block scales of a
256-weight block to six-bit integers times one f16 d = -(largest scale) / 32. Good
enough to make real-model weights into valid blocks close to the originals; the bytes
need not match llama.cpp's (no test compares them).
"""

import numpy as np

from minfer_wasm.quants.iquants import KVALUES

# The midpoints between neighbouring KVALUES are multiples of 1/2, so every half-unit cell
# [u/2, (u+1)/2) has one nearest code: a lookup by cell (ties on a boundary go up).
_CELLS = np.arange(-256, 256) / 2 + 0.25                                     # (512,) cell centres
_NEAREST = np.abs(_CELLS[:, None] - KVALUES).argmin(axis=1).astype(np.uint8)  # (512,)


def _nearest_codes(v: np.ndarray) -> np.ndarray:
    """values in table units -> uint8 index of the nearest KVALUES entry (same shape)."""
    cell = np.clip(np.floor(v * 2), -256, 255).astype(np.int32) + 256
    return _NEAREST[cell]


def _pack(codes: np.ndarray) -> np.ndarray:
    """(..., 32) codes -> (..., 16) bytes: qs[j] = q[j] | q[j+16] << 4 (as Q4_0)."""
    return codes[..., :16] | (codes[..., 16:] << 4)


def _run_scales(x: np.ndarray) -> np.ndarray:
    """(N, 32) float32 -> (N, 1) float32 scale of each 32-weight run (0 for an all-zero run):
    codes from max / -127, then the least-squares scale sum(x * kv) / sum(kv^2) for them."""
    big = np.take_along_axis(x, np.abs(x).argmax(axis=1)[:, None], axis=1)     # (N, 1) signed
    with np.errstate(divide="ignore", invalid="ignore"):
        kv = KVALUES[_nearest_codes(np.where(big != 0, x / (big / KVALUES[0]), 0))]
        scale = (x * kv).sum(axis=1, keepdims=True) / (kv * kv).sum(axis=1, keepdims=True)
    return np.where(big != 0, scale, 0).astype(np.float32)


def _codes(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _nearest_codes(np.where(scale != 0, x / scale, 0))


def quantize_iq4_nl(w: np.ndarray) -> np.ndarray:
    """(R, K) float32, K a multiple of 32 -> (R, K // 32 * 18) uint8 IQ4_NL blocks."""
    x = w.reshape(-1, 32).astype(np.float32)                                  # (N, 32)
    d = _run_scales(x).astype(np.float16)                                     # (N, 1)
    qs = _pack(_codes(x, d.astype(np.float32)))                               # (N, 16)
    return np.concatenate([d.view(np.uint8), qs], axis=1).reshape(len(w), -1)


def quantize_iq4_xs(w: np.ndarray) -> np.ndarray:
    """(R, K) float32, K a multiple of 256 -> (R, K // 256 * 136) uint8 IQ4_XS blocks."""
    x = w.reshape(-1, 8, 32).astype(np.float32)                               # (N, 8, 32)
    n = len(x)
    s = _run_scales(x.reshape(-1, 32)).reshape(n, 8)                         # (N, 8)
    big = np.take_along_axis(s, np.abs(s).argmax(axis=1)[:, None], axis=1)    # (N, 1)
    d = (-big / 32).astype(np.float16)                                        # (N, 1)
    d32 = d.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        ls = np.clip(np.rint(np.where(d32 != 0, s / d32, 0)), -32, 31).astype(np.int32) + 32   # (N, 8)
    dl = (d32 * (ls - 32).astype(np.float32))[:, :, None]                     # (N, 8, 1)
    qs = _pack(_codes(x, dl)).reshape(n, 128)                                 # (N, 128)
    scales_h = sum(((ls[:, j] >> 4) & 3) << (2 * j) for j in range(8)).astype(np.uint16)   # (N,)
    scales_l = ((ls[:, 0::2] & 15) | ((ls[:, 1::2] & 15) << 4)).astype(np.uint8)             # (N, 4)
    return np.concatenate([d.view(np.uint8), scales_h[:, None].view(np.uint8), scales_l, qs],
                          axis=1).reshape(len(w), -1)
