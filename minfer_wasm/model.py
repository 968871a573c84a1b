"""The transformer forward pass for the `llama`, `gemma3`, `qwen2`, `qwen3` and `phi3` GGUF
architectures: one pre-norm block whose differences are named options of ModelConfig.

Follows llama.cpp's graphs (src/models/<arch>.cpp, `llm_build_<arch>` before they became
`llama_model_<arch>::graph`):
- llama.cpp (Llama 2/3, Mistral, SmolLM): GQA through head_count_kv; llama3 rope scaling as
  the `rope_freqs` tensor dividing each pair's frequency.
- qwen2.cpp: NeoX rope, biases on q, k and v (`qkv_bias`).
- qwen3.cpp: NeoX rope, rmsnorm of every q and k head before rope (`qk_norm`), no biases.
- phi3.cpp: NeoX rope, `attn_qkv` and `ffn_up` (gate rows, then up rows: `ffn_gate_up_fused`)
  stored fused, LongRoPE: `rope_factors_short` / `rope_factors_long` by the context size
  (llama_model::get_rope_factors) and cos, sin scaled by rope.scaling.attn_factor; partial
  rotary (rope.dimension_count < head size, Phi-4-mini) as ggml_rope_ext's n_dims.
- gemma3.cpp: per-head q/k rmsnorm, post-attention and post-ffw norms, GELU-tanh gating,
  embeddings scaled by sqrt(n_embd), sliding-window layers with their own rope base.
Weights keep their GGUF tensor names: `blk.3.attn_norm.weight` is `blocks[3].attn_norm`;
projections of one input sharing a type are fused (`attn_q|attn_k|attn_v` -> `attn_qkv`,
`ffn_gate|ffn_up` -> `ffn_gate_up`) so one pass over the weights serves them. A prompt
goes through each weight as one batch (QuantTensor.matmul); a decoded token uses matvec.

A step's activations live in work buffers (`Buffers`) that every layer reuses, written
in place (`out=`): q | k | v side by side, so q and k are normed and rotated as one array
and k | v go to the cache in one copy. In Pyodide every numpy call costs microseconds,
so a decoded token is counted in calls per layer as much as in floating-point work.
"""

from __future__ import annotations

import numpy as np

from .config import ModelConfig
from .errors import GGUFError, InputError, UnsupportedError
from .kv_cache import MAX_STEP, KVCache
from .layers import Rope, attention, gelu_mul, rmsnorm, silu_mul
from .profile import CLOCK
from .quants import QuantTensor, dequantize, load_tensor

DEFAULT_N_CTX = 4096
MAX_CONTEXT_BYTES = 4 << 30     # a context's KV cache and attention buffers: wasm32's whole address space


class Block:
    """One transformer layer; attribute names are the GGUF tensor names under `blk.N.`."""
    attn_norm: np.ndarray            # (n_embd,)
    attn_qkv: "Projections"          # attn_q (n_head*head_dim, n_embd), attn_k and attn_v
                                     # (n_head_kv*head_dim, n_embd), or them fused as attn_qkv
    attn_qkv_bias: np.ndarray | None  # (n_head*head_dim + 2*n_head_kv*head_dim,)  qkv_bias only
    attn_output: QuantTensor         # (n_embd, n_head * head_dim)
    ffn_norm: np.ndarray             # (n_embd,)
    ffn_gate_up: "Projections"       # ffn_gate, ffn_up: (n_ff, n_embd) each (phi3: one ffn_up
                                     # of (2 n_ff, n_embd), gate rows first)
    ffn_down: QuantTensor            # (n_embd, n_ff)
    attn_qk_norm: np.ndarray         # (n_head + n_head_kv, head_dim)  qk_norm only: attn_q_norm
                                     # for each query head, then attn_k_norm for each kv head
    post_attention_norm: np.ndarray  # (n_embd,)     post_norms only
    post_ffw_norm: np.ndarray        # (n_embd,)     post_norms only


def _mm(w: QuantTensor, x: np.ndarray, out: np.ndarray) -> None:
    """out = x @ w.T for x: (n, cols), out: (n, rows): matvec for one token, one batched matmul otherwise."""
    if CLOCK.running:               # a profile is being taken (minfer_wasm/profile.py)
        CLOCK.timed(w.path, _product, w, x, out)
    else:
        _product(w, x, out)


def _product(w: QuantTensor, x: np.ndarray, out: np.ndarray) -> None:
    if len(x) == 1:
        w.matvec(x[0], out=out[0])
    else:
        w.matmul(x, out=out)


class Projections:
    """Several projections of one input, their outputs side by side. Neighbours of one ggml type
    are fused into a single matrix (QuantTensor.concat_rows): one matvec instead of several."""

    def __init__(self, tensors: list[QuantTensor], name: str):
        runs: list[list[QuantTensor]] = []
        for t in tensors:
            if runs and runs[-1][0].ggml_type == t.ggml_type:
                runs[-1].append(t)
            else:
                runs.append([t])
        self.parts = []   # (weights, its columns of the output)
        end = 0
        for run in runs:
            w = run[0] if len(run) == 1 else QuantTensor.concat_rows(run, name)
            self.parts.append((w, slice(end, end + w.shape[0])))
            end += w.shape[0]

    def __call__(self, x: np.ndarray, out: np.ndarray) -> None:
        """x: (n, cols) -> out: (n, sum of the projections' rows), in order."""
        for w, cols in self.parts:
            _mm(w, x, out[:, cols])


class Buffers:
    """The work arrays of one forward step of n tokens, reused by every layer."""

    def __init__(self, c: ModelConfig, n: int):
        q_dim, kv_dim, f32 = c.n_head * c.head_dim, c.n_head_kv * c.head_dim, np.float32
        self.h = np.empty((n, c.n_embd), f32)                   # normed input of the projections
        self.qkv = np.empty((n, q_dim + 2 * kv_dim), f32)       # q | k | v
        heads = c.n_head + c.n_head_kv
        self.qk = self.qkv[:, :q_dim + kv_dim].reshape(n, heads, c.head_dim)    # (n, n_head + n_kv, d)
        self.q = self.qk[:, :c.n_head]                                          # (n, n_head, d)
        self.kv = self.qkv[:, q_dim:].reshape(n, 2, c.n_head_kv, c.head_dim)    # (n, 2, n_kv, d)
        self.rope_tmp = np.empty((n, heads, c.head_dim), f32)
        self.att = np.empty((n, q_dim), f32)                    # attention output, heads side by side
        self.out = np.empty((n, c.n_embd), f32)                 # attn_output / ffn_down output
        self.gate_up = np.empty((n, 2 * c.n_ff), f32)           # gate | up
        self.gate, self.up = self.gate_up[:, :c.n_ff], self.gate_up[:, c.n_ff:]  # (n, n_ff) each
        self.act_tmp = np.empty((n, c.n_ff), f32)


class _Loader:
    """Reads named tensors from a GGUFFile, checking each shape against the config."""

    def __init__(self, gguf, kernels):
        self.gguf, self.kernels = gguf, kernels

    def info(self, name: str, shape: tuple[int, ...]):
        info = self.gguf.tensors.get(name)
        if info is None:
            raise GGUFError(f"{self.gguf.source.name}: tensor '{name}' is missing")
        if tuple(info.shape) != shape:
            raise GGUFError(f"{self.gguf.source.name}: tensor '{name}' has shape {tuple(info.shape)}, "
                            f"expected {shape}")
        return info

    def matrix(self, name: str, shape: tuple[int, int]) -> QuantTensor:
        tensor = load_tensor(self.info(name, shape), self.gguf.tensor_bytes(name), self.kernels)
        if not tensor.views_source:
            self.gguf.release_tensor(name)  # the tensor holds its own repacked copy
        return tensor

    def vector(self, name: str, size: int) -> np.ndarray:
        info = self.info(name, (size,))
        vector = dequantize(self.gguf.tensor_bytes(name), info.ggml_type, info.shape).reshape(size)
        self.gguf.release_tensor(name)
        return vector

    def optional_vector(self, name: str, size: int) -> np.ndarray | None:
        return self.vector(name, size) if name in self.gguf.tensors else None

    def attention_block(self, b: Block, p: str, c: ModelConfig) -> None:
        """q, k, v projections (fused `attn_qkv` where the file has it, as llama.cpp's
        create_tensor_qkv allows for every arch), their biases, the output projection."""
        d, q_dim, kv_dim = c.n_embd, c.n_head * c.head_dim, c.n_head_kv * c.head_dim
        if p + "attn_qkv.weight" in self.gguf.tensors:
            qkv = [self.matrix(p + "attn_qkv.weight", (q_dim + 2 * kv_dim, d))]
        else:
            qkv = [self.matrix(p + "attn_q.weight", (q_dim, d)),
                   self.matrix(p + "attn_k.weight", (kv_dim, d)),
                   self.matrix(p + "attn_v.weight", (kv_dim, d))]
        b.attn_qkv = Projections(qkv, p + "attn_qkv")
        b.attn_qkv_bias = None
        if c.qkv_bias:
            b.attn_qkv_bias = np.concatenate([self.vector(p + "attn_q.bias", q_dim),
                                              self.vector(p + "attn_k.bias", kv_dim),
                                              self.vector(p + "attn_v.bias", kv_dim)])
        b.attn_output = self.matrix(p + "attn_output.weight", (d, q_dim))

    def ffn_block(self, b: Block, p: str, c: ModelConfig) -> None:
        d = c.n_embd
        if c.ffn_gate_up_fused:
            gate_up = [self.matrix(p + "ffn_up.weight", (2 * c.n_ff, d))]
        else:
            gate_up = [self.matrix(p + "ffn_gate.weight", (c.n_ff, d)),
                       self.matrix(p + "ffn_up.weight", (c.n_ff, d))]
        b.ffn_gate_up = Projections(gate_up, p + "ffn_gate_up")
        b.ffn_down = self.matrix(p + "ffn_down.weight", (d, c.n_ff))

    def rope_factors(self, c: ModelConfig) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(factors within n_ctx_orig, factors past it): llama3's rope_freqs.weight for both,
        or phi3's rope_factors_short / rope_factors_long (blk.0 only: llama.cpp duplicates them)."""
        size = c.n_rot // 2
        freqs = self.optional_vector("rope_freqs.weight", size)
        if freqs is not None:
            return freqs, freqs
        return (self.optional_vector("rope_factors_short.weight", size),
                self.optional_vector("rope_factors_long.weight", size))


class Model:
    """Weights of one model plus its forward pass; see the module docstring."""

    def __init__(self, config: ModelConfig, token_embd: QuantTensor, output: QuantTensor,
                 output_norm: np.ndarray, blocks: list[Block],
                 rope_factors: tuple[np.ndarray | None, np.ndarray | None] = (None, None), kernels=None):
        c = config
        self.config = config
        self.token_embd = token_embd      # (n_vocab, n_embd)
        self.output = output              # (n_vocab, n_embd); token_embd itself when tied
        self.output_norm = output_norm    # (n_embd,)
        self.blocks = blocks
        # one Rope per kind of layer: global layers get the linear scale and the frequency
        # factors, short or long ones by the context size (see layer_ropes)
        rope_local = Rope(c.head_dim, c.rope_base_swa, 1.0, None, c.rope_neox, c.n_rot)
        self._ropes = {}                  # long context? -> per layer Rope
        for long, factors in zip((False, True), rope_factors):
            rope_global = Rope(c.head_dim, c.rope_base, c.rope_scale, factors, c.rope_neox, c.n_rot)
            self._ropes[long] = [rope_local if swa else rope_global for swa in c.swa_layers]
        self.act_mul = gelu_mul if c.ffn_act == "gelu_tanh" else silu_mul
        self.attention = attention
        if kernels is not None:   # the same in C (glue_kernels.c); numpy's stay the reference
            self.act_mul, self.attention = kernels.gated_activation(c.ffn_act), kernels.attention()
        # rope tables scale the query heads by the attention scale, and every head by
        # rope.scaling.attn_factor (ggml_rope_ext's attn_factor multiplies cos and sin)
        f = c.rope_attn_factor
        self.head_scales = np.array([c.attn_scale * f] * c.n_head + [f] * c.n_head_kv)  # (n_head + n_kv,)
        self.decode_buffers = Buffers(c, 1)   # steps of more tokens (prompts) get their own
        self.positions_evaluated = 0

    @classmethod
    def from_gguf(cls, gguf, config: ModelConfig | None = None, kernels=None) -> "Model":
        """Load the weights; `config` is read from the metadata unless the caller has it already.
        With `kernels` (minfer_wasm.kernels.Kernels), the matrices of the types they cover stay
        the file's bytes and are multiplied by them (quants.load_tensor)."""
        c = config or ModelConfig.from_metadata(gguf.metadata)
        ld = _Loader(gguf, kernels)
        d = c.n_embd
        blocks = []
        for il in range(c.n_layer):
            b, p = Block(), f"blk.{il}."
            b.attn_norm = ld.vector(p + "attn_norm.weight", d)
            ld.attention_block(b, p, c)
            b.ffn_norm = ld.vector(p + "ffn_norm.weight", d)
            ld.ffn_block(b, p, c)
            if c.qk_norm:
                q_norm = ld.vector(p + "attn_q_norm.weight", c.head_dim)
                k_norm = ld.vector(p + "attn_k_norm.weight", c.head_dim)
                b.attn_qk_norm = np.concatenate([np.tile(q_norm, (c.n_head, 1)),
                                                 np.tile(k_norm, (c.n_head_kv, 1))])
            if c.post_norms:
                b.post_attention_norm = ld.vector(p + "post_attention_norm.weight", d)
                b.post_ffw_norm = ld.vector(p + "post_ffw_norm.weight", d)
            blocks.append(b)
        token_embd = ld.matrix("token_embd.weight", (c.n_vocab, d))
        # no output.weight: the classifier is tied to the embeddings (llama-model.cpp TENSOR_DUPLICATED)
        output = ld.matrix("output.weight", (c.n_vocab, d)) if "output.weight" in gguf.tensors else token_embd
        return cls(c, token_embd, output, ld.vector("output_norm.weight", d), blocks, ld.rope_factors(c),
                   kernels)

    def layer_ropes(self, n_ctx: int) -> list[Rope]:
        """Each layer's Rope for a context of n_ctx positions: LongRoPE's long factors when n_ctx
        is past the original context (llama_model::get_rope_factors), else the short ones."""
        return self._ropes[bool(self.config.n_ctx_orig) and n_ctx > self.config.n_ctx_orig]

    def new_cache(self, n_ctx: int | None = None, max_step: int = MAX_STEP, dtype=np.float16) -> KVCache:
        """An empty cache for n_ctx positions (default min(n_ctx_train, 4096); at most n_ctx_train)
        holding keys and values as dtype: float16 as llama.cpp does, float32 for comparisons
        that need the last bits. forward() runs at most max_step positions at a time through it."""
        c = self.config
        n_ctx = n_ctx or min(c.n_ctx_train, DEFAULT_N_CTX)
        if n_ctx > c.n_ctx_train:
            raise UnsupportedError(f"a context of {n_ctx} positions is longer than the {c.n_ctx_train} "
                                   f"this model was trained for")
        need = context_nbytes(c, n_ctx, max_step, np.dtype(dtype).itemsize)
        if need > MAX_CONTEXT_BYTES:
            raise UnsupportedError(f"a context of {n_ctx} positions needs {need / 2**30:.1f} GiB for its "
                                   f"KV cache and attention buffers, more than the "
                                   f"{MAX_CONTEXT_BYTES / 2**30:g} GiB limit; use a smaller context")
        return KVCache(n_ctx, c.n_head_kv, c.head_dim, self.layer_ropes(n_ctx), c.swa_layers,
                       c.sliding_window, max_step, dtype)

    def forward(self, tokens, cache: KVCache, all_logits: bool = False) -> np.ndarray:
        """tokens: (n,) ids at positions cache.n_past.. -> logits (vocab,) of the last token,
        or (n, vocab) when all_logits. Long batches run in steps of cache.max_step positions."""
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)  # (n,)
        n = len(tokens)
        if n == 0:
            raise ValueError("forward() needs at least one token")
        bad = tokens[(tokens < 0) | (tokens >= self.config.n_vocab)]
        if bad.size:
            raise InputError(f"token id {int(bad[0])} is outside the model's vocabulary of "
                             f"{self.config.n_vocab}")
        cache.check_room(n)
        logits = []
        # Corrupt weights overflow quietly here: the sampler's finiteness check reports them
        # (sampling._checked_logits) instead of numpy's RuntimeWarnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for i in range(0, n, cache.max_step):
                x = self._step(tokens[i:i + cache.max_step], cache)      # (m, n_embd)
                if all_logits:
                    logits.append(self._logits(x))
            return np.concatenate(logits) if all_logits else self._logits(x[-1:])[0]

    def _step(self, tokens: np.ndarray, cache: KVCache) -> np.ndarray:
        """Run n <= cache.max_step tokens through every layer; returns the last hidden states (n, n_embd)."""
        c = self.config
        n, eps = len(tokens), c.norm_eps
        step = cache.begin(n)
        buf = self.decode_buffers if n == 1 else Buffers(c, n)
        kinds = {id(r): r for r in cache.ropes}                         # the cache's kinds of layer
        tables = {key: r.tables(step.pos, self.head_scales) for key, r in kinds.items()}  # c, s per kind
        x = self.token_embd.take_rows(tokens)                           # (n, n_embd) residual stream
        if c.embd_scale != 1.0:
            x *= np.float32(c.embd_scale)
        for il, b in enumerate(self.blocks):
            rope = cache.ropes[il]
            # 1. attention norm
            rmsnorm(x, b.attn_norm, eps, out=buf.h)                     # (n, n_embd)
            # 2. q, k, v projections, side by side (+ biases: qwen2)
            b.attn_qkv(buf.h, out=buf.qkv)                              # (n, (n_head + 2 n_kv) * d)
            if b.attn_qkv_bias is not None:
                buf.qkv += b.attn_qkv_bias
            # 3. per-head q/k norm (gemma3, qwen3), then rope on q and k at once; the attention
            #    scale rides on the query heads' rope tables
            if c.qk_norm:
                rmsnorm(buf.qk, b.attn_qk_norm, eps, out=buf.qk)        # (n, n_head + n_kv, d)
            rope.rotate(buf.qk, tables[id(rope)], buf.rope_tmp)
            if c.n_rot < c.head_dim:    # partial rotary: the queries' unrotated values too
                buf.q[..., c.n_rot:] *= np.float32(c.attn_scale)
            # 4. attention over the cache (this step's keys and values are written first)
            keys, values, mask = cache.store(il, buf.kv, step)          # (n_kv, T, d) / unit, (n, T)
            self.attention(buf.q, keys, values, mask, buf.att, cache.unit)   # (n, n_head * d)
            # 5. output projection (+ post-attention norm), residual
            _mm(b.attn_output, buf.att, buf.out)                        # (n, n_embd)
            if c.post_norms:
                rmsnorm(buf.out, b.post_attention_norm, eps, out=buf.out)
            x += buf.out
            # 6. gated feed-forward: down(act(gate(h)) * up(h)) (+ post-ffw norm), residual
            rmsnorm(x, b.ffn_norm, eps, out=buf.h)
            b.ffn_gate_up(buf.h, out=buf.gate_up)                       # (n, 2 n_ff)
            self.act_mul(buf.gate, buf.up, buf.act_tmp)                 # gate <- act(gate) * up
            _mm(b.ffn_down, buf.gate, buf.out)                          # (n, n_embd)
            if c.post_norms:
                rmsnorm(buf.out, b.post_ffw_norm, eps, out=buf.out)
            x += buf.out
        cache.commit(step)
        self.positions_evaluated += n
        return x

    def _logits(self, x: np.ndarray) -> np.ndarray:
        """x: (n, n_embd) hidden states -> (n, vocab) logits (final norm, classifier, softcap)."""
        logits = np.empty((len(x), self.config.n_vocab), np.float32)
        _mm(self.output, rmsnorm(x, self.output_norm, self.config.norm_eps), logits)   # (n, vocab)
        cap = self.config.final_logit_softcap
        if cap:
            logits /= np.float32(cap)
            np.tanh(logits, out=logits)
            logits *= np.float32(cap)
        return logits


def context_nbytes(c: ModelConfig, n_ctx: int, max_step: int, itemsize: int) -> int:
    """Bytes a KVCache of n_ctx positions and one step's attention need (kv_cache.KVCache):
    keys and values per layer (a ring of window + max_step slots on sliding-window layers),
    the float32 work copy of the largest layer's, and the (n_head, max_step, n_ctx) scores."""
    ring = min(n_ctx, c.sliding_window + max_step)
    slots = sum(ring if swa else n_ctx for swa in c.swa_layers)
    per_slot = 2 * c.n_head_kv * c.head_dim
    work = per_slot * n_ctx * 4 if itemsize != 4 else 0
    scores = 2 * c.n_head * min(max_step, n_ctx) * n_ctx * 4
    return slots * per_slot * itemsize + work + scores
