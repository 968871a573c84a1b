"""The small numerical pieces of a transformer block, float32 in and out.

rmsnorm, rotary position embeddings, grouped-query attention, gated FFN
activations. Each follows the ggml op llama.cpp uses for it (ggml_rms_norm,
ggml_rope_ext, ggml_soft_max_ext, ggml_gelu / ggml_silu).
"""

from __future__ import annotations

import math

import numpy as np

_GELU_C = math.sqrt(2.0 / math.pi)


def rmsnorm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """x: (..., d) f32, w: (d,) -> x / rms(x) * w  (ggml_rms_norm then ggml_mul).

    Gemma's (1 + w) is already folded into w by llama.cpp's converter
    (convert_hf_to_gguf.py Gemma3Model: norm_shift = 1.0), so every arch uses plain w."""
    ms = (x * x).sum(axis=-1, keepdims=True) * (1.0 / x.shape[-1])  # (..., 1)
    return x * ((ms + eps) ** -0.5 * w)


def silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x), written with tanh so large |x| cannot overflow exp."""
    return x * (0.5 + 0.5 * np.tanh(0.5 * x))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (ggml_gelu; HF gelu_pytorch_tanh)."""
    return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x * x * x)))


class Rope:
    """Rotary position embedding of one kind of layer (ggml_rope_ext without YaRN).

    Pair i of a head rotates by pos * scale * base**(-2i/d) / factors[i]. The pairs are
    (2i, 2i+1) for LLAMA_ROPE_TYPE_NORM (llama: the converter permuted Q/K rows into
    that order) and (i, i + d/2) for LLAMA_ROPE_TYPE_NEOX (gemma3); see
    llama-model.cpp `llama_model_rope_type` and ggml-cpu ops.cpp `ggml_compute_forward_rope`.
    Rotations compose, so a cached key moves to another position by rotating it by
    the difference (what llama.cpp's K-shift does)."""

    def __init__(self, head_dim: int, base: float, scale: float = 1.0,
                 factors: np.ndarray | None = None, neox: bool = False):
        inv_freq = scale * base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)  # (d/2,)
        if factors is not None:  # llama3-style rope_freqs.weight
            inv_freq = inv_freq / np.asarray(factors, dtype=np.float64)
        self.inv_freq = inv_freq
        self.neox = neox

    def tables(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """pos: (n,) -> cos, sin: (n, 1, d/2) f32, broadcasting over heads."""
        ang = np.asarray(pos, dtype=np.float64)[:, None, None] * self.inv_freq  # (n, 1, d/2)
        return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)

    def apply(self, x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        """x: (..., d) rotated by angles whose cos/sin broadcast to (..., d/2); returns new array."""
        half = x.shape[-1] // 2
        if self.neox:
            x0, x1 = x[..., :half], x[..., half:]
        else:
            x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        o0, o1 = (out[..., :half], out[..., half:]) if self.neox else (out[..., 0::2], out[..., 1::2])
        np.subtract(x0 * cos, x1 * sin, out=o0)
        np.add(x0 * sin, x1 * cos, out=o1)
        return out


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Grouped-query softmax attention over cached keys.

    q: (n, n_head, d) already scaled; k, v: (n_kv, T, d); mask: (n, T) additive (0 / -inf) or None.
    Query head h reads kv head h // (n_head / n_kv), as HF repeat_kv and ggml's broadcast do.
    Returns (n, n_head * d)."""
    n, n_head, d = q.shape
    n_kv = k.shape[0]
    g = n_head // n_kv
    qg = q.reshape(n, n_kv, g, d).transpose(1, 2, 0, 3).reshape(n_kv, g * n, d)  # (n_kv, g*n, d)
    s = np.matmul(qg, k.transpose(0, 2, 1))                                         # (n_kv, g*n, T)
    if mask is not None:
        s = s.reshape(n_kv, g, n, -1)
        s += mask                                                                   # (n_kv, g, n, T)
        s = s.reshape(n_kv, g * n, -1)
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    o = np.matmul(s, v)                                                             # (n_kv, g*n, d)
    return o.reshape(n_kv, g, n, d).transpose(2, 0, 1, 3).reshape(n, n_head * d)
