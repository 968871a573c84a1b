"""The small numerical pieces of a transformer block, float32 in and out.

rmsnorm, rotary position embeddings, grouped-query attention, gated FFN
activations. Each follows the ggml op llama.cpp uses for it (ggml_rms_norm,
ggml_rope_ext, ggml_soft_max_ext, ggml_gelu / ggml_silu). They write into
arrays the caller owns (`out=`, often their input): a decoded token is a few
hundred of these calls, and in Pyodide each costs microseconds on its own.
"""

from __future__ import annotations

import math

import numpy as np

_GELU_C = np.float32(math.sqrt(2.0 / math.pi))
_GELU_A = np.float32(0.044715)


def rmsnorm(x: np.ndarray, w: np.ndarray, eps: float, out: np.ndarray | None = None) -> np.ndarray:
    """x: (..., d) f32, w: (d,) or broadcasting to x -> x / rms(x) * w, into out (may be x).

    Gemma's (1 + w) is already folded into w by llama.cpp's converter
    (convert_hf_to_gguf.py Gemma3Model: norm_shift = 1.0), so every arch uses plain w.
    1 / sqrt, not ** -0.5: both are correctly rounded everywhere, powf is not (glibc's and
    Pyodide's differ in the last bit), so the page computes what the native engine does."""
    ms = (x * x).sum(axis=-1, keepdims=True) * (1.0 / x.shape[-1])  # (..., 1)
    return np.multiply(x, 1.0 / np.sqrt(ms + eps) * w, out=out)


def silu_mul(gate: np.ndarray, up: np.ndarray, tmp: np.ndarray) -> None:
    """gate <- silu(gate) * up, with silu(g) = g * sigmoid(g) = (g / 2) * (1 + tanh(g / 2)): tanh,
    so large |g| cannot overflow exp. tmp: scratch of gate's shape."""
    np.multiply(gate, 0.5, out=gate)
    np.tanh(gate, out=tmp)
    tmp += 1.0
    gate *= tmp
    gate *= up


def gelu_mul(gate: np.ndarray, up: np.ndarray, tmp: np.ndarray) -> None:
    """gate <- gelu(gate) * up, GELU's tanh approximation in the form of ggml_gelu_f32 (HF
    gelu_pytorch_tanh): 0.5 * g * (1 + tanh(sqrt(2 / pi) * g * (1 + 0.044715 * g * g)))."""
    np.multiply(gate, gate, out=tmp)
    tmp *= _GELU_A
    tmp += 1.0
    tmp *= gate
    tmp *= _GELU_C
    np.tanh(tmp, out=tmp)
    tmp += 1.0
    gate *= 0.5
    gate *= tmp
    gate *= up


class Rope:
    """Rotary position embedding of one kind of layer (ggml_rope_ext without YaRN).

    Pair i of a head rotates by pos * scale * base**(-2i/d) / factors[i]. The pairs are
    (2i, 2i+1) for LLAMA_ROPE_TYPE_NORM (llama: the converter permuted Q/K rows into
    that order) and (i, i + d/2) for LLAMA_ROPE_TYPE_NEOX (gemma3); see
    llama-model.cpp `llama_model_rope_type` and ggml-cpu ops.cpp `ggml_compute_forward_rope`.
    Rotations compose, so a cached key moves to another position by rotating it by
    the difference (what llama.cpp's K-shift does).

    A head (d,) is viewed as its pairs: (2, d/2) for NEOX (the halves), (d/2, 2) for NORM,
    with `partner` the same view with the two members of every pair swapped. Then
        rotated = pairs * c + partner * s,   c = (cos, cos), s = (-sin, sin)
    which is x0 cos - x1 sin, x1 cos + x0 sin for each pair (x0, x1): three whole-array
    calls for every head of a step at once.

    Partial rotary (n_rot < head_dim, ggml's n_dims): only each head's first n_rot values
    rotate, with frequencies base**(-2i/n_rot); d above is then n_rot, the rest pass through."""

    def __init__(self, head_dim: int, base: float, scale: float = 1.0,
                 factors: np.ndarray | None = None, neox: bool = False, n_rot: int | None = None):
        self.n_rot = n_rot = n_rot or head_dim
        inv_freq = scale * base ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)  # (n_rot/2,)
        if factors is not None:  # llama3's rope_freqs.weight, phi3's LongRoPE factors
            inv_freq = inv_freq / np.asarray(factors, dtype=np.float64)
        self.inv_freq = inv_freq
        self.neox = neox
        self.pair_axis = -2 if neox else -1    # where a pair's two members sit in pairs()

    def pairs(self, x: np.ndarray) -> np.ndarray:
        """x: (..., head_dim) -> a view of its rotated part, (..., 2, n_rot/2) (NEOX) or
        (..., n_rot/2, 2) (NORM). (Splitting the last axis of x[..., :n_rot] never copies.)"""
        half = self.n_rot // 2
        rotated = x if self.n_rot == x.shape[-1] else x[..., :self.n_rot]
        return rotated.reshape(*x.shape[:-1], *((2, half) if self.neox else (half, 2)))

    def partner(self, x: np.ndarray) -> np.ndarray:
        """pairs(x) with the two members of every pair swapped (a view)."""
        p = self.pairs(x)
        return p[..., ::-1, :] if self.neox else p[..., ::-1]

    def tables(self, pos, head_scales: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """pos: (n,) -> c, s: (n, heads, 2, d/2) or (n, heads, d/2, 2) f32 for rotate();
        head_scales (heads,) multiply each head's result (the attention scale on query heads),
        else one head that broadcasts."""
        ang = np.asarray(pos, dtype=np.float64)[:, None] * self.inv_freq           # (n, d/2)
        cos, sin = np.cos(ang), np.sin(ang)
        c = np.stack([cos, cos], axis=self.pair_axis)[:, None]                     # (n, 1, pairs)
        s = np.stack([-sin, sin], axis=self.pair_axis)[:, None]
        if head_scales is not None:
            scales = np.asarray(head_scales, dtype=np.float64)[:, None, None]      # (heads, 1, 1)
            c, s = c * scales, s * scales
        return c.astype(np.float32), s.astype(np.float32)

    def rotate(self, x: np.ndarray, tables: tuple[np.ndarray, np.ndarray], tmp: np.ndarray) -> None:
        """Rotate x: (..., heads, d) f32 in place by tables(); tmp: scratch of x's shape."""
        c, s = tables
        t = self.pairs(tmp)
        np.multiply(self.partner(x), s, out=t)
        p = self.pairs(x)
        p *= c
        p += t


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None,
              out: np.ndarray, unit: float = 1.0) -> None:
    """Grouped-query softmax attention over cached keys, into out: (n, n_head * d) f32.

    q: (n, n_head, d) already scaled; k, v: (n_kv, T, d) the keys and values divided by unit
    (a power of two; KVCache.unit); mask: (n, T) additive (0 / -inf) or None. q and the
    softmax weights are multiplied by unit instead: exact, and far fewer numbers (for the
    float16 cache, unit = 2**112: |q| must stay below 2**16, as the keys themselves do).
    Query head h reads kv head h // (n_head / n_kv), as HF repeat_kv and ggml's broadcast do.
    The weights are normalized after they meet v (the sum divides (n_head, d), not (n_head, T))."""
    n, n_head, d = q.shape
    n_kv = k.shape[0]
    g = n_head // n_kv
    qg = q.reshape(n, n_kv, g, d).transpose(1, 2, 0, 3).reshape(n_kv, g * n, d)  # (n_kv, g*n, d)
    if unit != 1.0:
        qg = qg * unit
    s = np.matmul(qg, k.transpose(0, 2, 1))                                         # (n_kv, g*n, T)
    if mask is not None:
        s4 = s.reshape(n_kv, g, n, -1)
        s4 += mask                                                                  # (n_kv, g, n, T)
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    total = s.sum(axis=-1, keepdims=True)                                           # (n_kv, g*n, 1)
    if unit != 1.0:
        s *= unit
    if n == 1:   # out's row is (n_kv, g, d) in head order already
        o = np.matmul(s, v, out=out.reshape(n_kv, g, d))
        o /= total
        return
    o = np.matmul(s, v)                                                             # (n_kv, g*n, d)
    o /= total
    out[...] = o.reshape(n_kv, g, n, d).transpose(2, 0, 1, 3).reshape(n, n_head * d)
