"""Model hyper-parameters, read once from GGUF metadata by their GGUF keys.

Key names and defaults follow llama.cpp: gguf-py `Keys` (constants.py) for the
names, src/llama-model.cpp `load_hparams` for what each architecture assumes
when a key is absent (e.g. gemma3: sliding-window pattern 6 with a local rope
base of 10000, attention scale head_dim**-0.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import GGUFError, UnsupportedError, quoted

SUPPORTED_ARCHS = ("gemma3", "llama", "phi3", "qwen2", "qwen3")

# What each architecture changes in the llama block (src/models/<arch>.cpp, llama_model_rope_type);
# gemma3's options depend on the sizes and are set in from_metadata. Mistral and Llama 3 files
# are `llama`: GQA comes from head_count_kv, llama3 rope scaling from the rope_freqs tensor.
ARCH_OPTIONS = {
    "llama": {},
    "qwen2": dict(rope_neox=True, qkv_bias=True),                # biases on q, k, v
    "qwen3": dict(rope_neox=True, qk_norm=True),                 # per-head q/k rmsnorm
    "phi3": dict(rope_neox=True, ffn_gate_up_fused=True),        # fused qkv and gate|up
}

# gemma3 layers use sliding-window attention except every 6th one
# (llama-model.cpp: hparams.set_swa_pattern(6) -> layer il is local iff il % 6 < 5).
GEMMA3_SWA_PERIOD = 6
GEMMA3_ROPE_BASE_SWA = 10000.0  # llama-model.cpp: rope_freq_base_train_swa = 10000.0f


# Bounds of every number that sizes a buffer or enters the math, by key without the architecture
# prefix: (lowest, highest, whether 0 means "off"). Generous: the largest released models have
# ~128 layers, n_embd 16384, n_ff 53248, 128 heads, a 262k vocabulary, contexts of 1M.
_BOUNDS = {
    "block_count": (1, 4096, False),
    "embedding_length": (1, 1 << 17, False),
    "feed_forward_length": (1, 1 << 20, False),
    "attention.head_count": (1, 4096, False),
    "attention.head_count_kv": (1, 4096, False),
    "attention.key_length": (1, 4096, False),
    "attention.value_length": (1, 4096, False),
    "rope.dimension_count": (1, 4096, False),
    "context_length": (1, 1 << 24, False),
    "vocab_size": (1, 1 << 22, False),
    "attention.sliding_window": (1, 1 << 24, True),
    "attention.layer_norm_rms_epsilon": (1e-12, 1.0, False),
    "rope.freq_base": (1e-3, 1e12, False),
    "rope.freq_base_swa": (1e-3, 1e12, False),
    "rope.scaling.factor": (1e-2, 1e4, True),
    "rope.scale_linear": (1e-2, 1e4, True),
    "attention.scale": (1e-6, 1e3, True),
    "final_logit_softcapping": (1e-3, 1e6, True),
}


def _check_bounds(key: str, value: int | float) -> None:
    """GGUFError naming the key and the value unless it is finite and inside _BOUNDS."""
    bounds = _BOUNDS.get(key.split(".", 1)[-1])
    if not math.isfinite(value):
        raise GGUFError(f"GGUF metadata key '{key}' = {value} is not a finite number")
    if bounds is not None and not (bounds[0] <= value <= bounds[1] or (value == 0 and bounds[2])):
        low, high, zero_ok = bounds
        shown = value if isinstance(value, int) else f"{value:g}"
        raise GGUFError(f"GGUF metadata key '{key}' = {shown} is out of range: expected "
                        f"{'0 or ' if zero_ok else ''}{low:g} to {high:g}")


def _get(md: dict, key: str, kind: type, default: Any = None, required: bool = False) -> Any:
    """metadata[key] checked to be an int / float / str (numbers: finite and within _BOUNDS);
    `default` when absent."""
    if key not in md:
        if required:
            raise GGUFError(f"GGUF metadata is missing the required key '{key}'")
        return default
    value = md[key]
    ok = isinstance(value, str) if kind is str else (
        isinstance(value, (int, float)) and not isinstance(value, bool)
        and (kind is float or float(value).is_integer()))
    if not ok:
        raise GGUFError(f"GGUF metadata key '{key}' should be a {kind.__name__}, got {quoted(value)}")
    if kind is not str:
        _check_bounds(key, value)
    return kind(value)


@dataclass(frozen=True)
class ModelConfig:
    arch: str                  # general.architecture: one of SUPPORTED_ARCHS
    n_vocab: int               # {arch}.vocab_size, else len(tokenizer.ggml.tokens)
    n_embd: int                # {arch}.embedding_length
    n_layer: int               # {arch}.block_count
    n_head: int                # {arch}.attention.head_count
    n_head_kv: int             # {arch}.attention.head_count_kv (default n_head)
    head_dim: int              # {arch}.attention.key_length (default n_embd // n_head)
    n_ff: int                  # {arch}.feed_forward_length
    n_ctx_train: int           # {arch}.context_length
    norm_eps: float            # {arch}.attention.layer_norm_rms_epsilon
    rope_base: float           # {arch}.rope.freq_base: global (full-attention) layers
    rope_scale: float = 1.0    # 1 / {arch}.rope.scaling.factor (linear), global layers only
    rope_base_swa: float = 10000.0  # {arch}.rope.freq_base_swa: sliding-window layers
    rope_neox: bool = False    # rotate (i, i + d/2) pairs (NeoX) instead of (2i, 2i+1)
    sliding_window: int = 0    # {arch}.attention.sliding_window; 0 = none
    swa_layers: tuple[bool, ...] = ()  # per layer: True when it uses the sliding window
    attn_scale: float = 1.0    # query scale before q.k (head_dim**-0.5 unless attention.scale)
    embd_scale: float = 1.0    # token embeddings are multiplied by this (gemma: sqrt(n_embd))
    final_logit_softcap: float = 0.0  # {arch}.final_logit_softcapping; 0 = none
    ffn_act: str = "silu"      # gate activation: "silu" (llama) | "gelu_tanh" (gemma3)
    qk_norm: bool = False      # rmsnorm of each q/k head before rope (attn_q_norm, attn_k_norm)
    post_norms: bool = False   # rmsnorm of attention / ffn outputs before the residual add
    qkv_bias: bool = False     # attn_q/k/v.bias added to the projections (qwen2)
    ffn_gate_up_fused: bool = False  # one ffn_up tensor of 2 n_ff rows: gate, then up (phi3)
    n_rot: int = 0             # {arch}.rope.dimension_count: the rotated leading dims of each
                               # head (partial rotary: Phi-4-mini's 3/4); from_metadata sets it
    rope_attn_factor: float = 1.0    # {arch}.rope.scaling.attn_factor: multiplies cos and sin
    n_ctx_orig: int = 0        # {arch}.rope.scaling.original_context_length (LongRoPE's switch)

    @classmethod
    def from_metadata(cls, metadata: dict) -> "ModelConfig":
        """Every hyper-parameter by its GGUF key; UnsupportedError for what this engine cannot run."""
        md = metadata
        arch = _get(md, "general.architecture", str, required=True)
        if arch not in SUPPORTED_ARCHS:
            raise UnsupportedError(
                f"unsupported model architecture '{arch}' (supported: {', '.join(SUPPORTED_ARCHS)})")
        a = arch + "."

        def need(key: str, kind: type) -> Any:
            value = _get(md, a + key, kind, required=True)
            if value <= 0:
                raise GGUFError(f"GGUF metadata key '{a + key}' must be positive, got {value}")
            return value

        def opt(key: str, kind: type, default: Any) -> Any:
            return _get(md, a + key, kind, default)

        for key in ("attention.head_count", "attention.head_count_kv"):
            if not isinstance(md.get(a + key, 0), (int, float)):
                raise UnsupportedError(f"per-layer '{a + key}' (an array) is not supported")
        n_embd, n_layer = need("embedding_length", int), need("block_count", int)
        n_head = need("attention.head_count", int)
        head_dim = opt("attention.key_length", int, n_embd // n_head)
        n_head_kv = opt("attention.head_count_kv", int, n_head)
        if n_head_kv <= 0 or n_head % n_head_kv or head_dim <= 0 or head_dim % 2:
            raise GGUFError(f"'{a}attention.head_count' {n_head}, head_count_kv {n_head_kv} and "
                            f"head size {head_dim}: need kv heads dividing heads and an even head size")
        if opt("attention.value_length", int, head_dim) != head_dim:
            raise UnsupportedError(f"'{a}attention.value_length' differs from the key length {head_dim}")
        n_rot = opt("rope.dimension_count", int, head_dim)
        if n_rot <= 0 or n_rot > head_dim or n_rot % 2:
            raise GGUFError(f"'{a}rope.dimension_count' is {n_rot}: need an even count of at most "
                            f"the head size {head_dim}")

        # rope scaling (llama-model.cpp: freq_scale = 1 / rope.scaling.factor, legacy rope.scale_linear);
        # llama3-style scaling comes as the rope_freqs.weight tensor, read by the model.
        scaling = opt("rope.scaling.type", str, None)
        if scaling not in (None, "none", "linear"):
            raise UnsupportedError(f"rope scaling '{scaling}' ('{a}rope.scaling.type') is not supported "
                                   "(supported: none, linear)")
        factor = opt("rope.scaling.factor", float, 0.0) or opt("rope.scale_linear", float, 0.0)
        rope_scale = 1.0 / factor if factor and scaling != "none" else 1.0

        n_vocab = opt("vocab_size", int, None)
        if n_vocab is None:
            tokens = md.get("tokenizer.ggml.tokens")
            if tokens is None:
                raise GGUFError(f"GGUF metadata has neither '{a}vocab_size' nor 'tokenizer.ggml.tokens'")
            n_vocab = len(tokens)

        common = dict(
            arch=arch, n_vocab=n_vocab, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
            n_head_kv=n_head_kv, head_dim=head_dim, n_rot=n_rot, n_ff=need("feed_forward_length", int),
            n_ctx_train=need("context_length", int),
            norm_eps=need("attention.layer_norm_rms_epsilon", float),
            rope_base=opt("rope.freq_base", float, 10000.0), rope_scale=rope_scale,
            attn_scale=opt("attention.scale", float, 0.0) or head_dim ** -0.5,
            final_logit_softcap=opt("final_logit_softcapping", float, 0.0),
            rope_attn_factor=opt("rope.scaling.attn_factor", float, 1.0),
            n_ctx_orig=opt("rope.scaling.original_context_length", int, 0),
        )
        if arch in ARCH_OPTIONS:
            return cls(**common, swa_layers=(False,) * n_layer, **ARCH_OPTIONS[arch])
        # gemma3 (src/models/gemma3.cpp): NeoX rope, QK norm, post norms, GELU-tanh,
        # embeddings * sqrt(n_embd); no sliding_window key means every layer is global.
        window = opt("attention.sliding_window", int, 0)
        return cls(**common, rope_base_swa=opt("rope.freq_base_swa", float, GEMMA3_ROPE_BASE_SWA),
                   rope_neox=True, sliding_window=window,
                   swa_layers=_swa_layers(md, a, n_layer, window),
                   embd_scale=math.sqrt(n_embd), ffn_act="gelu_tanh", qk_norm=True, post_norms=True)


def _swa_layers(md: dict, a: str, n_layer: int, window: int) -> tuple[bool, ...]:
    """Which layers use the sliding window: `attention.sliding_window_pattern` (a period, or one
    bool per layer) when present, else gemma3's period of 6 (the last of every 6 is global)."""
    if not window:
        return (False,) * n_layer
    key = a + "attention.sliding_window_pattern"
    pattern = md.get(key, GEMMA3_SWA_PERIOD)
    if isinstance(pattern, (int, float)) and not isinstance(pattern, bool):
        period = int(pattern)
        return tuple(period == 0 or il % period < period - 1 for il in range(n_layer))
    flags = [bool(f) for f in pattern]
    if len(flags) != n_layer:
        raise GGUFError(f"GGUF metadata key '{key}' has {len(flags)} entries for {n_layer} layers")
    return tuple(flags)
