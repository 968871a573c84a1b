"""config.json -> GGUF metadata, and HF tensor names -> GGUF tensor names, per architecture.

Follows llama.cpp's convert_hf_to_gguf.py (LlamaModel, Qwen2Model, Qwen3Model, Phi3MiniModel,
Gemma3Model: `set_gguf_parameters`, `modify_tensors`) and gguf-py's tensor_mapping.py, so that
ModelConfig.from_metadata and Model.from_gguf read a checkpoint exactly as they read the GGUF
the converter would write from it. Weight changes the converter makes are made here too:
llama's q/k rows permuted from HF's half-split rope layout to ggml's interleaved one, gemma's
RMS-norm weights stored as 1 + w.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import CheckpointError, UnsupportedError

# HF `architectures[0]` -> GGUF general.architecture
ARCHITECTURES = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3",
    "Phi3ForCausalLM": "phi3",
    "Gemma3ForCausalLM": "gemma3",
}

# per layer: HF name after `model.layers.N.` -> GGUF name after `blk.N.`
_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.qkv_proj.weight": "attn_qkv.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.gate_up_proj.weight": "ffn_up.weight",           # phi3: gate | up fused, named ffn_up
    "mlp.down_proj.weight": "ffn_down.weight",
}
# gemma3 has four norms per layer (tensor_mapping.py: post_attention_layernorm is
# ATTN_POST_NORM there, pre_feedforward_layernorm FFN_NORM)
_GEMMA3_LAYER_NAMES = _LAYER_NAMES | {
    "post_attention_layernorm.weight": "post_attention_norm.weight",
    "pre_feedforward_layernorm.weight": "ffn_norm.weight",
    "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
}
_TOP_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
              "lm_head.weight": "output.weight"}
_LAYER = re.compile(r"model\.layers\.(\d+)\.(.+)")


@dataclass(frozen=True)
class TensorPlan:
    """How one GGUF tensor is made from one HF tensor."""
    gguf_name: str
    hf_name: str
    transform: Callable[[np.ndarray], np.ndarray] | None = None   # float32 in, float32 out


class Hparams:
    """config.json values by name, each checked when read."""

    def __init__(self, config: dict, where: str):
        self.config, self.where = config, where

    def get(self, key: str, kind: type = int, default=None, required: bool = False):
        value = self.config.get(key)
        if value is None:
            if required:
                raise CheckpointError(f"{self.where}: '{key}' is missing")
            return default
        ok = isinstance(value, str) if kind is str else (
            isinstance(value, (int, float)) and not isinstance(value, bool)
            and (kind is float or float(value).is_integer()))
        if not ok or (kind is not str and value < 0):
            raise CheckpointError(f"{self.where}: '{key}' should be a non-negative {kind.__name__}, "
                                  f"got {value!r}")
        return kind(value)


def gguf_arch(config: dict, where: str) -> str:
    names = config.get("architectures")
    if not isinstance(names, list) or not names or not isinstance(names[0], str):
        raise CheckpointError(f"{where}: 'architectures' is missing or not a list of names")
    arch = ARCHITECTURES.get(names[0])
    if arch is None:
        raise UnsupportedError(f"{where}: architecture {names[0]!r} is not supported "
                               f"(supported: {', '.join(ARCHITECTURES)})")
    return arch


def model_metadata(config: dict, arch: str, where: str) -> dict:
    """The GGUF metadata keys convert_hf_to_gguf.py writes for the model's hyper-parameters
    (TextModel.set_gguf_parameters, then each architecture's own); floats rounded to float32,
    as the file stores them, so a folder and its converted GGUF read the same."""
    hp = Hparams(config, where)
    a = arch + "."
    gemma = arch == "gemma3"          # Gemma3Model fills in defaults the config may leave out
    n_embd = hp.get("hidden_size", required=True)
    n_head = hp.get("num_attention_heads", int, 8 if gemma else None, required=not gemma)
    if n_head == 0 or n_embd == 0:
        raise CheckpointError(f"{where}: hidden_size and num_attention_heads must be positive")
    head_dim = hp.get("head_dim", int, None)
    rope = rope_parameters(config)
    md = {
        "general.architecture": arch,
        a + "block_count": hp.get("num_hidden_layers", required=True),
        a + "context_length": hp.get("max_position_embeddings", int, 131072 if gemma else None,
                                     required=not gemma),
        a + "embedding_length": n_embd,
        a + "feed_forward_length": hp.get("intermediate_size", required=True),
        a + "attention.head_count": n_head,
        a + "attention.head_count_kv": hp.get("num_key_value_heads", int, 4 if gemma else n_head),
        a + "rope.freq_base": _f32(rope.get("rope_theta", 1_000_000.0 if gemma else 10000.0)),
        a + "attention.layer_norm_rms_epsilon": _f32(hp.get("rms_norm_eps", float, 1e-6)),
    }
    if gemma or head_dim is not None:
        md[a + "attention.key_length"] = md[a + "attention.value_length"] = head_dim or 256
    head_dim = head_dim or n_embd // n_head
    rope_type = str(rope.get("rope_type", rope.get("type", "default"))).lower()
    if rope_type == "linear" and rope.get("factor") is not None:
        md[a + "rope.scaling.type"] = "linear"
        md[a + "rope.scaling.factor"] = _f32(rope["factor"])
    elif rope_type not in ("default", "llama3", "longrope", "su"):
        raise UnsupportedError(f"{where}: rope scaling {rope_type!r} is not supported "
                               "(supported: default, linear, llama3, longrope for phi3)")
    if arch == "llama":               # LlamaModel.set_gguf_parameters
        md[a + "vocab_size"] = hp.get("vocab_size", required=True)
        md[a + "rope.dimension_count"] = head_dim
    elif arch == "phi3":              # Phi3MiniModel.set_gguf_parameters / generate_extra_tensors
        orig_ctx = int(rope.get("original_max_position_embeddings", md[a + "context_length"]))
        md[a + "rope.scaling.original_context_length"] = orig_ctx
        md[a + "rope.dimension_count"] = int(float(rope.get("partial_rotary_factor", 1.0)) * n_embd) // n_head
        md[a + "attention.sliding_window"] = hp.get("sliding_window", int, 0)
        if rope.get("long_factor"):
            scale = md[a + "context_length"] / orig_ctx
            md[a + "rope.scaling.attn_factor"] = _f32(
                math.sqrt(1 + math.log(scale) / math.log(orig_ctx)) if scale > 1.0 else 1.0)
    elif gemma:                       # Gemma3Model.set_gguf_parameters
        local = (config.get("rope_parameters") or {}).get("sliding_attention") or {}
        md[a + "rope.freq_base_swa"] = _f32(local.get("rope_theta", hp.get("rope_local_base_freq",
                                                                           float, 10000.0)))
        if config.get("sliding_window_pattern") != 1:
            md[a + "attention.sliding_window"] = hp.get("sliding_window", required=True)
        if hp.get("final_logit_softcapping", float, None):
            md[a + "final_logit_softcapping"] = _f32(hp.get("final_logit_softcapping", float))
    return md


def _f32(value) -> float:
    return float(np.float32(value))


def rope_parameters(config: dict) -> dict:
    """The rope settings of the (full-attention) layers: transformers >= 5 `rope_parameters`
    (per layer kind for gemma3), or < 5 `rope_scaling` plus `rope_theta`; as the converter's
    `rope_parameters.get("full_attention", rope_parameters)`."""
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if not isinstance(rope, dict):
        return {}
    rope = dict(rope.get("full_attention", rope))
    if "rope_theta" not in rope and isinstance(config.get("rope_theta"), (int, float)):
        rope["rope_theta"] = config["rope_theta"]
    return rope


def extra_tensors(config: dict, metadata: dict) -> dict[str, np.ndarray]:
    """Tensors the converter makes from config values: llama3's rope_freqs, phi3's LongRoPE factors."""
    arch = metadata["general.architecture"]
    if arch == "llama":
        factors = llama3_rope_factors(config, metadata["llama.rope.dimension_count"])
        return {} if factors is None else {"rope_freqs.weight": factors}
    rope = rope_parameters(config)
    if arch == "phi3" and rope.get("long_factor"):
        half = metadata["phi3.rope.dimension_count"] // 2
        long, short = (np.asarray(rope.get(k) or [], np.float32) for k in ("long_factor", "short_factor"))
        if long.shape != (half,) or short.shape != (half,):
            raise CheckpointError(f"rope long_factor / short_factor need {half} values each, "
                                  f"got {long.size} and {short.size}")
        return {"rope_factors_long.weight": long, "rope_factors_short.weight": short}
    return {}


def llama3_rope_factors(config: dict, head_dim: int) -> np.ndarray | None:
    """rope_freqs.weight (head_dim // 2,) float32 for llama3 rope scaling (convert_hf_to_gguf.py
    LlamaModel.generate_extra_tensors), or None for other rope types."""
    rope = rope_parameters(config)
    if str(rope.get("rope_type", rope.get("type"))).lower() != "llama3":
        return None
    base = float(rope.get("rope_theta", 10000.0))
    factor = float(rope.get("factor", 8.0))
    low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
    old_ctx = float(rope.get("original_max_position_embeddings", 8192))
    # float32 arithmetic as the converter's torch code does it: a Python float raised to a float32
    # tensor's powers in double precision, then rounded; scalar / tensor as scalar * (1 / tensor)
    f32 = np.float32
    exponents = np.arange(0, head_dim, 2, dtype=f32) / f32(head_dim)
    freqs = f32(1.0) / (np.float64(base) ** exponents.astype(np.float64)).astype(f32)
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    factors = []
    for freq in freqs:                                   # np.float32 each
        wavelen = f32(2 * math.pi) * (f32(1) / freq)
        if wavelen < high_wavelen:
            factors.append(f32(1))
        elif wavelen > low_wavelen:
            factors.append(f32(factor))
        else:
            smooth = (f32(old_ctx) * (f32(1) / wavelen) - f32(low)) / f32(high - low)
            factors.append(f32(1) / ((f32(1) - smooth) / f32(factor) + smooth))
    return np.array(factors, np.float32)


def _permute_rope(n_head: int) -> Callable[[np.ndarray], np.ndarray]:
    """LlamaModel.permute: within each head, rows (half 0, half 1) -> interleaved pairs."""
    def permute(w: np.ndarray) -> np.ndarray:
        rows = w.shape[0]
        return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    return permute


def _plus_one(w: np.ndarray) -> np.ndarray:
    return w + np.float32(1)


def tensor_plans(hf_names, metadata: dict, where: str) -> list[TensorPlan]:
    """One TensorPlan per HF tensor the model uses, in the HF file order; unknown names are an error."""
    arch = metadata["general.architecture"]
    a = arch + "."
    n_layer = metadata[a + "block_count"]
    n_head, n_head_kv = metadata[a + "attention.head_count"], metadata[a + "attention.head_count_kv"]
    layer_names = _GEMMA3_LAYER_NAMES if arch == "gemma3" else _LAYER_NAMES
    plans = []
    for hf in hf_names:
        m = _LAYER.fullmatch(hf)
        if m and int(m.group(1)) < n_layer and m.group(2) in layer_names:
            name = f"blk.{int(m.group(1))}.{layer_names[m.group(2)]}"
        elif hf in _TOP_NAMES:
            name = _TOP_NAMES[hf]
        elif hf.endswith("rotary_emb.inv_freq"):
            continue                    # recomputed from rope_theta, as the converter drops it
        else:
            raise UnsupportedError(f"{where}: tensor {hf!r} has no GGUF name for {arch}")
        if arch == "gemma3" and name == "output.weight":
            continue                    # Gemma3Model: the classifier is the embeddings
        transform = None
        if arch == "llama" and name.endswith(("attn_q.weight", "attn_q.bias")):
            transform = _permute_rope(n_head)
        elif arch == "llama" and name.endswith(("attn_k.weight", "attn_k.bias")):
            transform = _permute_rope(n_head_kv)
        elif arch == "gemma3" and name.endswith("norm.weight"):
            transform = _plus_one
        plans.append(TensorPlan(name, hf, transform))
    return plans
