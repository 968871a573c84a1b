"""Tiny random-weight llama and gemma3 models, written as real GGUF files and loaded through
GGUFFile -> Model.from_gguf, checked against a plain float64 forward written out below
(weights decoded by gguf-py, full attention matrices with explicit masks, rope as complex
rotations) and against themselves under caching: token-by-token decode, truncation,
sliding-window rings that wrap, context overflow and context shift.

Comparisons to 1e-4 run with a float32 KV cache; the default float16 cache is checked
against the same reference with its keys and values rounded to float16 as well."""

import math

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType
from gguf.quants import dequantize as gguf_dequantize
from gguf.quants import quantize as gguf_quantize

from gguf_fixtures import write_gguf
from minfer_wasm.config import ModelConfig
from minfer_wasm.errors import ContextOverflowError, GGUFError, UnsupportedError
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.kv_cache import MAX_STEP, KVCache
from minfer_wasm.layers import Rope
from minfer_wasm.model import Model
from minfer_wasm.sources import FileSource

N_VOCAB, N_EMBD, N_FF, WINDOW = 96, 64, 256, 8
STEP = 16  # max_step of the caches below: the ring is WINDOW + STEP slots, so it wraps early
ARCH = {  # per arch: heads, kv heads, head size, layer count, matrix types (down is 256 wide: k-quants;
          # neighbours of one type are fused by the model: llama gate|up, gemma3 q|k)
    "llama": dict(n_head=4, n_head_kv=2, head_dim=16, n_layer=2, rope_base=10000.0,
                  types=dict(attn_q=Q.Q4_0, attn_k=Q.Q5_0, attn_v=Q.Q8_0, attn_output=Q.F16,
                             ffn_gate=Q.Q4_1, ffn_up=Q.Q4_1, ffn_down=Q.Q4_K)),
    "gemma3": dict(n_head=2, n_head_kv=1, head_dim=32, n_layer=6, rope_base=1e6,
                   types=dict(attn_q=Q.Q5_0, attn_k=Q.Q5_0, attn_v=Q.Q8_0, attn_output=Q.Q4_0,
                              ffn_gate=Q.Q8_0, ffn_up=Q.Q5_0, ffn_down=Q.Q6_K)),
}
U32, F32 = GGUFValueType.UINT32, GGUFValueType.FLOAT32


def _kquant_blocks(rng, qtype, rows):
    """Random 256-wide k-quant rows with small, finite super-block scales (gguf-py cannot
    quantize k-quants, so the bytes are drawn and the f16 scale fields set by hand)."""
    size = {Q.Q4_K: 144, Q.Q6_K: 210}[qtype]
    blocks = rng.integers(0, 256, (rows, size), dtype=np.uint8)
    scale = {Q.Q4_K: 2.5e-4, Q.Q6_K: 6e-5}[qtype]
    d = (scale * rng.uniform(0.5, 1.0, (rows, 2))).astype(np.float16).view(np.uint8)  # (rows, 4)
    if qtype == Q.Q4_K:   # d, dmin lead the block
        blocks[:, 0:4] = d
    else:                 # Q6_K: d ends it
        blocks[:, 208:210] = d[:, :2]
    return blocks


def _matrix(rng, qtype, rows, cols):
    """-> (what goes in the file, the float32 weights gguf-py decodes from it)."""
    if qtype in (Q.Q4_K, Q.Q6_K):
        raw = _kquant_blocks(rng, qtype, rows)
        return (raw, qtype), gguf_dequantize(raw, qtype).astype(np.float32)
    w = (rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float32)
    if qtype == Q.F16:
        return w.astype(np.float16), w.astype(np.float16).astype(np.float32)
    raw = gguf_quantize(w, qtype)
    return (raw, qtype), gguf_dequantize(raw, qtype).astype(np.float32)


def write_tiny(path, arch: str, n_layer: int | None = None, seed: int = 0, extra_md=None):
    """A random model of `arch`; returns (path, hp, weights as float32 the reference uses)."""
    hp = dict(ARCH[arch], arch=arch)
    hp["n_layer"] = n_layer or hp["n_layer"]
    rng = np.random.default_rng(seed)
    a, hd = arch + ".", hp["head_dim"]
    md = {a + "block_count": (hp["n_layer"], U32), a + "context_length": (512, U32),
          a + "embedding_length": (N_EMBD, U32), a + "feed_forward_length": (N_FF, U32),
          a + "attention.head_count": (hp["n_head"], U32),
          a + "attention.head_count_kv": (hp["n_head_kv"], U32),
          a + "attention.layer_norm_rms_epsilon": (1e-6, F32), a + "rope.freq_base": (hp["rope_base"], F32)}
    files, weights = {}, {}

    def put(name, qtype, rows, cols):
        files[name], weights[name] = _matrix(rng, qtype, rows, cols)

    def norm(name, size):
        weights[name] = files[name] = (1.0 + 0.2 * rng.standard_normal(size)).astype(np.float32)

    if arch == "llama":  # untied classifier, llama3 rope factors, linear rope scaling
        md.update({a + "vocab_size": (N_VOCAB, U32), a + "rope.scaling.type": "linear",
                   a + "rope.scaling.factor": (2.0, F32)})
        put("output.weight", Q.Q8_0, N_VOCAB, N_EMBD)
        factors = rng.uniform(1, 4, hd // 2).astype(np.float32)   # (head_dim / 2,)
        weights["rope_freqs.weight"] = files["rope_freqs.weight"] = factors
    else:                # vocab size from the token list, tied classifier, sliding window
        md.update({a + "attention.key_length": (hd, U32), a + "attention.value_length": (hd, U32),
                   a + "attention.sliding_window": (WINDOW, U32),
                   "tokenizer.ggml.tokens": ([f"t{i}" for i in range(N_VOCAB)], GGUFValueType.ARRAY,
                                             GGUFValueType.STRING)})
    md.update(extra_md or {})
    files["token_embd.weight"], weights["token_embd.weight"] = _matrix(rng, Q.Q8_0, N_VOCAB, N_EMBD)
    norm("output_norm.weight", N_EMBD)
    shapes = dict(attn_q=(hp["n_head"] * hd, N_EMBD), attn_k=(hp["n_head_kv"] * hd, N_EMBD),
                  attn_v=(hp["n_head_kv"] * hd, N_EMBD), attn_output=(N_EMBD, hp["n_head"] * hd),
                  ffn_gate=(N_FF, N_EMBD), ffn_up=(N_FF, N_EMBD), ffn_down=(N_EMBD, N_FF))
    for il in range(hp["n_layer"]):
        p = f"blk.{il}."
        for name, (rows, cols) in shapes.items():
            put(p + name + ".weight", hp["types"][name], rows, cols)
        norm(p + "attn_norm.weight", N_EMBD)
        norm(p + "ffn_norm.weight", N_EMBD)
        if arch == "gemma3":
            norm(p + "attn_q_norm.weight", hd)
            norm(p + "attn_k_norm.weight", hd)
            norm(p + "post_attention_norm.weight", N_EMBD)
            norm(p + "post_ffw_norm.weight", N_EMBD)
    return write_gguf(path, md, files, arch=arch), hp, weights


# ---- the independent reference: whole sequence at once, float64 --------------------------------

def _ref_rope(x, pos, inv_freq, neox):
    """x: (T, d) rotated as complex numbers: pairs (2i, 2i+1) (llama) or (i, i+d/2) (NeoX)."""
    half = x.shape[1] // 2
    re, im = (x[:, :half], x[:, half:]) if neox else (x[:, 0::2], x[:, 1::2])
    z = (re + 1j * im) * np.exp(1j * np.outer(pos, inv_freq))
    out = np.empty_like(x)
    if neox:
        out[:, :half], out[:, half:] = z.real, z.imag
    else:
        out[:, 0::2], out[:, 1::2] = z.real, z.imag
    return out


def reference_logits(hp, w, tokens, kv_dtype=None):
    """(T, vocab) logits of every token, each attending to all earlier ones (gemma3 local layers:
    only the last WINDOW positions). kv_dtype: round the rotated keys and the values to it,
    as a KV cache of that dtype holds them."""
    held = (lambda a: a) if kv_dtype is None else (lambda a: a.astype(kv_dtype).astype(np.float64))
    gemma = hp["arch"] == "gemma3"
    T, hd, nh, nkv = len(tokens), hp["head_dim"], hp["n_head"], hp["n_head_kv"]
    pos = np.arange(T)

    def norm(x, name):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-6) * w[name]

    x = w["token_embd.weight"][tokens].astype(np.float64) * (math.sqrt(N_EMBD) if gemma else 1.0)
    exps = np.arange(0, hd, 2) / hd
    for il in range(hp["n_layer"]):
        p = f"blk.{il}."
        local = gemma and il % 6 != 5
        if gemma:
            inv_freq = (1e4 if local else hp["rope_base"]) ** -exps
        else:  # linear factor 2 and rope_freqs divide the frequencies
            inv_freq = 0.5 * hp["rope_base"] ** -exps / w["rope_freqs.weight"]
        h = norm(x, p + "attn_norm.weight")
        q = (h @ w[p + "attn_q.weight"].T).reshape(T, nh, hd)
        k = (h @ w[p + "attn_k.weight"].T).reshape(T, nkv, hd)
        v = (h @ w[p + "attn_v.weight"].T).reshape(T, nkv, hd)
        if gemma:
            q, k = norm(q, p + "attn_q_norm.weight"), norm(k, p + "attn_k_norm.weight")
        allowed = pos[None, :] <= pos[:, None]
        if local:
            allowed &= pos[None, :] > pos[:, None] - WINDOW
        out = np.zeros((T, nh * hd))
        for head in range(nh):
            kh = head // (nh // nkv)
            qr = _ref_rope(q[:, head], pos, inv_freq, gemma)
            kr = held(_ref_rope(k[:, kh], pos, inv_freq, gemma))
            s = np.where(allowed, qr @ kr.T / math.sqrt(hd), -np.inf)
            prob = np.exp(s - s.max(axis=1, keepdims=True))
            out[:, head * hd:(head + 1) * hd] = (prob / prob.sum(axis=1, keepdims=True)) @ held(v[:, kh])
        o = out @ w[p + "attn_output.weight"].T
        x = x + (norm(o, p + "post_attention_norm.weight") if gemma else o)
        h = norm(x, p + "ffn_norm.weight")
        g = h @ w[p + "ffn_gate.weight"].T
        if gemma:
            act = 0.5 * g * (1 + np.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3)))
        else:
            act = g / (1 + np.exp(-g))
        f = (act * (h @ w[p + "ffn_up.weight"].T)) @ w[p + "ffn_down.weight"].T
        x = x + (norm(f, p + "post_ffw_norm.weight") if gemma else f)
    out_w = w.get("output.weight", w["token_embd.weight"])
    return norm(x, "output_norm.weight") @ out_w.T


# ---- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["llama", "gemma3"])
def tiny(request, tmp_path_factory):
    path, hp, w = write_tiny(tmp_path_factory.mktemp(request.param) / "m.gguf", request.param)
    return Model.from_gguf(GGUFFile.open(FileSource(path))), hp, w


def _tokens(n, seed=1):
    return np.random.default_rng(seed).integers(0, N_VOCAB, n)


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-4)


F32_CACHE = np.float32   # the cache dtype of comparisons to 1e-4 (the default float16 rounds keys, values)


# ---- tests ------------------------------------------------------------------------------------

def test_config_read_by_gguf_key(tiny):
    model, hp, _ = tiny
    c = model.config
    assert (c.arch, c.n_vocab, c.n_embd, c.n_ff) == (hp["arch"], N_VOCAB, N_EMBD, N_FF)
    assert (c.n_layer, c.n_head, c.n_head_kv, c.head_dim) == (hp["n_layer"], hp["n_head"],
                                                              hp["n_head_kv"], hp["head_dim"])
    if hp["arch"] == "gemma3":
        assert c.swa_layers == (True,) * 5 + (False,) and c.sliding_window == WINDOW
        assert c.embd_scale == pytest.approx(8.0) and c.rope_neox and c.rope_base_swa == 1e4
    else:
        assert c.rope_scale == 0.5 and not any(c.swa_layers) and not c.rope_neox


def test_batch_prefill_matches_reference(tiny):
    model, hp, w = tiny
    tokens = _tokens(20)
    cache = model.new_cache(64, dtype=F32_CACHE)
    before = model.positions_evaluated
    logits = model.forward(tokens, cache, all_logits=True)
    assert logits.shape == (20, N_VOCAB) and logits.dtype == np.float32
    _close(logits, reference_logits(hp, w, tokens))
    assert cache.n_past == 20 and model.positions_evaluated - before == 20
    last = model.forward(tokens, model.new_cache(64, dtype=F32_CACHE))   # default: the last token's logits only
    assert last.shape == (N_VOCAB,)
    _close(last, logits[-1])


def test_cache_shapes(tiny):
    model, hp, _ = tiny
    cache = model.new_cache()
    assert cache.n_ctx == 512 and cache.n_past == 0   # min(context_length, 4096)
    for il, swa in enumerate(model.config.swa_layers):
        slots = WINDOW + MAX_STEP if swa else 512
        assert cache.k[il].shape == cache.v[il].shape == (hp["n_head_kv"], slots, hp["head_dim"])
        assert cache.k[il].dtype == cache.v[il].dtype == np.float16
    assert cache.nbytes == sum(a.nbytes for a in cache.k + cache.v)
    assert model.new_cache(dtype=F32_CACHE).nbytes == 2 * cache.nbytes
    assert model.new_cache(100).nbytes < cache.nbytes / 4 or any(model.config.swa_layers)
    with pytest.raises(UnsupportedError, match="context of 513 positions.*512"):
        model.new_cache(513)
    with pytest.raises(ValueError, match="float16 or float32"):
        model.new_cache(dtype=np.float64)


def test_context_memory_is_estimated_before_allocating(tiny, monkeypatch):
    """context_nbytes covers what the cache really allocates; past MAX_CONTEXT_BYTES, new_cache
    refuses before allocating anything."""
    from minfer_wasm import model as model_module

    model, _, _ = tiny
    for n_ctx, dtype in ((512, np.float16), (100, np.float32)):
        cache = model.new_cache(n_ctx, dtype=dtype)
        work = cache._work.nbytes if cache._work is not None else 0
        estimate = model_module.context_nbytes(model.config, n_ctx, MAX_STEP, np.dtype(dtype).itemsize)
        assert cache.nbytes + work <= estimate
    monkeypatch.setattr(model_module, "MAX_CONTEXT_BYTES", 1 << 16)
    with pytest.raises(UnsupportedError, match=r"context of 512 positions needs .* GiB .* limit"):
        model.new_cache(512)


@pytest.mark.parametrize("swa", [False, True])
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")   # -7e4 on purpose
def test_float16_cache_hands_back_rounded_values(swa):
    """store() returns what it stored rounded to float16 (nearest), as float32 exactly once
    multiplied by cache.unit: subnormals, signed zeros and the largest half included; an
    overflow reads back as +-65536. Ring layers too, across the wrap."""
    special = np.array([0.0, -0.0, 3e-8, -6e-6, 6.1e-5, 65504.0, -7e4, 1.0 / 3], np.float32)
    cache = KVCache(64, 2, 8, [Rope(8, 1e4)], (swa,), WINDOW, max_step=STEP)
    rng = np.random.default_rng(11)
    for n in (STEP, 1, STEP, 5, 1, STEP):           # a ring of WINDOW + STEP slots wraps
        step = cache.begin(n)
        kv = rng.standard_normal((n, 2, 2, 8)).astype(np.float32)              # (n, k|v, n_kv, d)
        kv.reshape(-1)[:special.size] = special
        keys, values, _ = cache.store(0, kv, step)                              # (2, T, 8) each
        slots = step.ring_slots if swa else step.pos
        for got, new in ((keys, kv[:, 0]), (values, kv[:, 1])):
            want = new.transpose(1, 0, 2).astype(np.float16).astype(np.float32)
            want[np.isinf(want)] = np.copysign(65536.0, want[np.isinf(want)])
            assert got.dtype == np.float32 and np.array_equal(got[:, slots] * cache.unit, want)
        cache.commit(step)


def test_float16_cache_end_to_end(tiny):
    """Decoding token by token (rings wrapping) and a batch, with the default float16 cache,
    against the reference whose rotated keys and values are rounded to float16 too. A key
    computed in float32 (here) and in float64 (there) can round to neighbouring halves when it
    sits at a rounding boundary: rare one-ulp flips keep the two within 1e-3, while without the
    rounding the reference is more than twice that away."""
    model, hp, w = tiny
    tokens = _tokens(WINDOW + STEP + 40, seed=2)
    cache = model.new_cache(256, max_step=STEP)
    step = [model.forward(tokens[:3], cache)] + [model.forward([t], cache) for t in tokens[3:]]
    full = model.forward(tokens, model.new_cache(256, max_step=STEP), all_logits=True)
    ref = reference_logits(hp, w, tokens, kv_dtype=np.float16)
    np.testing.assert_allclose(full, ref, rtol=0, atol=1e-3)
    np.testing.assert_allclose(np.stack(step), ref[2:], rtol=0, atol=1e-3)
    assert np.abs(full - reference_logits(hp, w, tokens)).max() > 2e-3


def test_decode_token_by_token_equals_full_recompute(tiny):
    """Longer than the ring (window + max_step slots) so gemma3's local layers wrap around."""
    model, hp, w = tiny
    n = WINDOW + STEP + 40
    tokens = _tokens(n, seed=2)
    cache = model.new_cache(256, max_step=STEP, dtype=F32_CACHE)
    before = model.positions_evaluated
    step = [model.forward(tokens[:3], cache)]
    step += [model.forward([t], cache) for t in tokens[3:]]
    assert model.positions_evaluated - before == n and cache.n_past == n
    full = model.forward(tokens, model.new_cache(256, max_step=STEP, dtype=F32_CACHE), all_logits=True)  # 4 steps
    ref = reference_logits(hp, w, tokens)
    _close(full, ref)
    _close(np.stack(step), ref[2:])


def test_truncate_then_recompute_equals_original(tiny):
    model, hp, w = tiny
    tokens = _tokens(40, seed=3)
    cache = model.new_cache(128, dtype=F32_CACHE)
    original = model.forward(tokens, cache, all_logits=True)
    assert cache.truncate(25) == 25 and cache.n_past == 25
    _close(model.forward(tokens[25:], cache, all_logits=True), original[25:])
    assert cache.truncate(1000) == 40                      # past the end: keeps what there is
    assert cache.truncate(0) == 0
    _close(model.forward(tokens, cache, all_logits=True), original)


@pytest.mark.parametrize("back, kept", [(1, True), (STEP + 1, True), (STEP + 2, False)])
def test_ring_truncation_limits(back, kept):
    """A wrapped ring can go back max_step + 1 positions; further back it keeps nothing."""
    cache = KVCache(1024, 1, 4, [Rope(4, 1e4)], (True,), WINDOW, max_step=STEP)
    for _ in range(5):
        cache.commit(cache.begin(STEP))
    n = cache.n_past - back
    assert cache.truncate(n) == (n if kept else 0) == cache.n_past


def test_context_overflow(tiny):
    model, _, _ = tiny
    cache = model.new_cache(16)
    with pytest.raises(ContextOverflowError, match="16"):
        model.forward(_tokens(17), cache)
    assert cache.n_past == 0
    model.forward(_tokens(10), cache)
    with pytest.raises(ContextOverflowError):
        model.forward(_tokens(7), cache)
    assert cache.n_past == 10
    model.forward(_tokens(6), cache)
    assert cache.n_past == 16


@pytest.mark.parametrize("arch, n_prefix, n_keep, n_discard", [
    ("llama", 30, 4, 10), ("gemma3", 30, 4, 10),
    ("gemma3", WINDOW + STEP + 20, 4, 30),   # wrapped ring: moved keys change slots
])
def test_shift_equals_fresh_computation_one_layer(tmp_path, arch, n_prefix, n_keep, n_discard):
    """With one layer, cached keys depend only on (token, position): after a shift the next
    token must see exactly what a fresh run over the shortened sequence computes."""
    path, hp, w = write_tiny(tmp_path / "m.gguf", arch, n_layer=1)
    model = Model.from_gguf(GGUFFile.open(FileSource(path)))
    tokens = _tokens(n_prefix + 1, seed=4)
    cache = model.new_cache(256, max_step=STEP, dtype=F32_CACHE)
    model.forward(tokens[:n_prefix], cache)
    cache.shift(n_keep, n_discard)
    assert cache.n_past == n_prefix - n_discard
    shifted = np.concatenate([tokens[:n_keep], tokens[n_keep + n_discard:]])
    _close(model.forward(tokens[-1:], cache), reference_logits(hp, w, shifted)[-1])


def test_shift_keeps_a_deep_model_running(tiny):
    model, _, _ = tiny
    cache = model.new_cache(32)
    model.forward(_tokens(32), cache)
    for _ in range(3):
        cache.shift(4, 14)
        logits = model.forward(_tokens(14, seed=5), cache)
        assert cache.n_past == 32 and np.isfinite(logits).all()
    with pytest.raises(ContextOverflowError):
        model.forward(_tokens(1), cache)


def test_unknown_architecture_lists_supported(tmp_path):
    path = write_gguf(tmp_path / "m.gguf", {"mamba.block_count": (1, U32)}, arch="mamba")
    with pytest.raises(UnsupportedError, match="mamba.*gemma3, llama, phi3, qwen2, qwen3"):
        Model.from_gguf(GGUFFile.open(FileSource(path)))


def test_missing_key_is_named():
    md = {"general.architecture": "llama", "llama.embedding_length": 64, "llama.attention.head_count": 4}
    with pytest.raises(GGUFError, match="llama.block_count"):
        ModelConfig.from_metadata(md)


def test_missing_tensor_is_named(tmp_path):
    path, _, _ = write_tiny(tmp_path / "m.gguf", "llama", n_layer=1,
                            extra_md={"llama.block_count": (2, U32)})
    with pytest.raises(GGUFError, match="blk.1.attn_norm.weight"):
        Model.from_gguf(GGUFFile.open(FileSource(path)))


@pytest.mark.parametrize("n_rot", [7, 0, 34])
def test_rope_dimension_count_is_checked(n_rot):
    """Partial rotary (Phi-4-mini) is an even count up to the head size; other counts are named."""
    md = {"general.architecture": "phi3", "phi3.embedding_length": 64, "phi3.block_count": 1,
          "phi3.attention.head_count": 2, "phi3.feed_forward_length": 64, "phi3.context_length": 64,
          "phi3.attention.layer_norm_rms_epsilon": 1e-5, "phi3.vocab_size": 10}
    assert ModelConfig.from_metadata({**md, "phi3.rope.dimension_count": 24}).n_rot == 24
    with pytest.raises(GGUFError, match="phi3.rope.dimension_count"):
        ModelConfig.from_metadata({**md, "phi3.rope.dimension_count": n_rot})
