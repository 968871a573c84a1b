"""The numpy side of the kernel tests: reference products and error measures.

numpy only (no gguf-py), so tests/pyodide_node/check_kernels.py uses it inside Pyodide too.
The reference product is float64 `x @ W.T` with W from minfer_wasm.quants.dequantize (bit-exact
against gguf-py, tests/test_quants.py). The kernels round activations to integers in
[-ACT_MAX, ACT_MAX] per 32 values (quant_kernels.c; ggml's quantize_row_q8_0 with 8191 for 127);
`rounded_activations` redoes that rounding here from its description. So:
  - against the product of the rounded activations the kernels err only by float32 sums
    (`own` below ACCUMULATION_TOL, relative to the whole product);
  - against the exact product each output may differ by at most what rounding can do: every
    activation moves by at most half its group's step d = amax / ACT_MAX, so output (t, r) by at
    most sum_k |W[r, k]| * d(t, k) / 2 (`excess` = the largest difference over that bound, <= 1).
    Typically the error is far below that worst case: about 1e-4 of the product's norm for
    gaussian activations (`exact`, reported, not bounded).
"""

import numpy as np

from minfer_wasm.ggml_types import GGML_TYPE_INFO
from minfer_wasm.quants import dequantize

KERNEL_TYPES = ["F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"]
TYPE_IDS = {info.name: tid for tid, info in GGML_TYPE_INFO.items()}
FLOAT_KERNELS = ("F32", "F16")

ACCUMULATION_TOL = 1e-5   # ||got - want|| / ||want||: float32 sums (measured below 3e-7)
ACT_MAX = 8191            # quant_kernels.c: activations round to integers in [-ACT_MAX, ACT_MAX]


def weights(blocks: np.ndarray, name: str) -> np.ndarray:
    """(R, NB, type_size) uint8 GGUF blocks -> (R, K) float64 weights."""
    info = GGML_TYPE_INFO[TYPE_IDS[name]]
    shape = (blocks.shape[0], blocks.shape[1] * info.block_size)
    return dequantize(np.ascontiguousarray(blocks).tobytes(), TYPE_IDS[name], shape).astype(np.float64)


def group_steps(x: np.ndarray, levels: int = ACT_MAX) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, K) float32 -> (n, K/32, 32) float32 values and, per group, (n, K/32, 1) float32 steps d
    and their inverses as the kernels compute them: d = amax / levels, 1 / d = levels / amax; 0 and
    0 for an all-zero group; 2^-126 and 2^126 when amax <= levels * 2^-126 (quant_kernels.c
    tiny_group: levels / amax would overflow float32)."""
    n, k = x.shape
    g = x.reshape(n, k // 32, 32).astype(np.float32)
    amax = np.abs(g).max(axis=-1, keepdims=True)
    tiny = (amax > 0) & (amax <= np.float32(levels * 2.0 ** -126))
    with np.errstate(divide="ignore", over="ignore"):
        inv = np.where(amax > 0, np.float32(levels) / amax, np.float32(0)).astype(np.float32)
    d = np.where(tiny, np.float32(2.0 ** -126), amax / np.float32(levels)).astype(np.float32)
    return g, d, np.where(tiny, np.float32(2.0 ** 126), inv).astype(np.float32)


def rounded_activations(x: np.ndarray, levels: int = ACT_MAX) -> np.ndarray:
    """(n, K) float32 -> (n, K) float64: d * q with q = round-half-even(x / d) in [-levels, levels]
    per 32 values (group_steps), computed in float32 as the kernels do. levels=127 is the int8
    rounding of ggml's quantize_row_q8_0."""
    g, d, inv = group_steps(x, levels)
    return (np.rint(g * inv).astype(np.float64) * d.astype(np.float64)).reshape(x.shape)


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got.astype(np.float64) - want) / np.linalg.norm(want))


def product_errors(name: str, blocks: np.ndarray, x: np.ndarray, got: np.ndarray) -> tuple[float, float, float]:
    """(own, exact, excess) for the kernels' product `got` of `blocks` and x (see the top)."""
    w = weights(blocks, name)
    exact = x.astype(np.float64) @ w.T                              # (n, R)
    slack = ACCUMULATION_TOL * (np.abs(x.astype(np.float64)) @ np.abs(w).T)
    if name in FLOAT_KERNELS:
        bound, own = slack, relative_error(got, exact)
    else:
        _, d, _ = group_steps(x)
        half_steps = np.repeat(d.astype(np.float64) / 2, 32, axis=-1).reshape(x.shape)
        bound = half_steps @ np.abs(w).T + slack
        own = relative_error(got, rounded_activations(x) @ w.T)
    excess = float(np.max(np.abs(got - exact) / bound))
    return own, relative_error(got, exact), excess
