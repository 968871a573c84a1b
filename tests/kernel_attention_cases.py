"""Cases and references for the compiled attention (glue_kernels.c minfer_attention), shared by
the native test (test_kernels_attention.py) and its Pyodide run (pyodide_node/check_glue.py).

A case has the model's layouts: q a view of a q | k | v buffer (n, n_head, d) (model.Buffers),
keys and values views of a (2, n_kv, slots, d) cache with spare slots (kv_cache.KVCache), the
additive mask kv_cache.begin makes (causal, or a sliding window's ring), and the cache's unit
(1 for float32, 2^112 for float16 keys and values, which are stored divided by it).
"""

import numpy as np

from minfer_wasm.f16 import F16_UNIT
from minfer_wasm.layers import attention

# name: (n, n_head, n_kv, d, T, unit, mask kind)
SHAPES = {
    "smollm2 decode": (1, 9, 3, 64, 50, 1.0, None),
    "smollm2 decode f16": (1, 9, 3, 64, 301, F16_UNIT, None),
    "smollm2 prompt f16": (31, 9, 3, 64, 40, F16_UNIT, "causal"),
    "gemma3 ring": (6, 4, 1, 256, 21, F16_UNIT, "window"),
    "odd sizes": (3, 6, 2, 6, 9, 1.0, "causal"),
}


def attention_case(name: str, seed: int) -> dict:
    """The buffers (arrays a .npz keeps): qkv (n, (n_head + 2 n_kv) d), kv (2, n_kv, T + 7, d),
    mask (n, T) float32 or None, unit, n_head, T; with_views() adds q, k and v."""
    n, n_head, n_kv, d, T, unit, kind = SHAPES[name]
    rng = np.random.default_rng(seed)
    qkv = rng.standard_normal((n, (n_head + 2 * n_kv) * d), dtype=np.float32)
    q = qkv[:, :n_head * d].reshape(n, n_head, d)
    q *= np.float32(0.6)                   # scores of a few units, their max spread ~ 30
    kv = (rng.standard_normal((2, n_kv, T + 7, d)) * 2).astype(np.float32)
    if unit != 1.0:                        # float16 values, stored divided by the unit
        kv = kv.astype(np.float16).astype(np.float32) / np.float32(unit)
    pos = np.arange(T - n, T)                                                # (n,) query positions
    mask = None
    if kind == "causal":
        mask = np.where(np.arange(T)[None] <= pos[:, None], 0.0, -np.inf).astype(np.float32)
    elif kind == "window":                 # a ring's slots hold positions in another order
        held = rng.permutation(T)
        mask = np.where((held[None] <= pos[:, None]) & (held[None] > pos[:, None] - 12), 0.0, -np.inf)
        mask = mask.astype(np.float32)
    return with_views({"qkv": qkv, "kv": kv, "mask": mask, "unit": unit, "n_head": n_head, "T": T})


def with_views(case: dict) -> dict:
    """The case with q (n, n_head, d), k and v (n_kv, T, d): views of its buffers, as the model's."""
    n_head, T, kv = int(case["n_head"]), int(case["T"]), case["kv"]
    q = case["qkv"][:, :n_head * kv.shape[-1]].reshape(len(case["qkv"]), n_head, kv.shape[-1])
    return {**case, "q": q, "k": kv[0, :, :T], "v": kv[1, :, :T]}


def numpy_attention(case: dict) -> np.ndarray:
    """The numpy path (layers.attention): (n, n_head * d)."""
    n, n_head, d = case["q"].shape
    out = np.empty((n, n_head * d), np.float32)
    with np.errstate(all="ignore"):
        attention(case["q"], case["k"], case["v"], case["mask"], out, case["unit"])
    return out


def exact_attention(case: dict) -> np.ndarray:
    """float64 softmax(q k^T unit + mask) (v unit), query head h on kv head h // (n_head / n_kv)."""
    q, unit = case["q"].astype(np.float64), float(case["unit"])
    k, v = case["k"].astype(np.float64) * unit, case["v"].astype(np.float64) * unit
    n, n_head, d = q.shape
    kv_of = np.arange(n_head) // (n_head // len(k))
    s = np.einsum("nhd,htd->nht", q, k[kv_of])                               # (n, n_head, T)
    if case["mask"] is not None:
        s = s + case["mask"][:, None, :]
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (np.einsum("nht,htd->nhd", p, v[kv_of]) / p.sum(axis=-1)[..., None]).reshape(n, n_head * d)


def attention_error(case: dict, got: np.ndarray) -> float:
    """max |got - exact| / max |exact| of a case."""
    exact = exact_attention(case)
    return float(np.abs(got - exact).max() / np.abs(exact).max())
