"""Every supported architecture against transformers, on tiny random-weight models.

The fixtures (tests/fixtures/arch/<name>/, from scripts/make_arch_fixtures.py) are Hugging Face
checkpoints built by transformers, turned into GGUF by llama.cpp's own converter
(convert_hf_to_gguf.py), with transformers' float32 logits for every prompt position and its
greedy continuations. So the reference for the forward pass is transformers' modules and the
reference for the file layout (tensor names, fused tensors, rope factors, metadata) is llama.cpp's.

- F32 files: every prompt position's logits within 1e-4 of transformers (measured: at most
  1.5e-5 on either path), the prompt evaluated as one batch except its last N_DECODE tokens,
  which go one at a time (the decode path), through a float32 cache.
- Q8_0 files: greedy tokens equal to those of transformers running the same model with every
  matrix rounded to Q8_0 by gguf-py (what the converter stores), until that reference hesitates
  (top-2 logits within MARGIN, the rule of test_model_golden.py), with the float16 cache the CLI
  uses. (Against the unrounded model the rounding itself moves these logits by up to 0.3.)
Both on the numpy path and on the compiled kernels (the page's default path).
"""

import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minfer_wasm.gguf import GGUFFile
from minfer_wasm.kv_cache import KVCache
from minfer_wasm.model import Model
from minfer_wasm.sources import FileSource

ARCH = Path(__file__).parent / "fixtures" / "arch"
FIXTURES = ["llama", "llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma3"]
LOGIT_TOL = 1e-4  # max abs difference to transformers' float32 logits (F32 files, float32 cache)
MARGIN = 0.1      # reference top-2 gap below which either token is a fair greedy pick
MIN_STEPS = 8     # greedy steps each case compares at least (the fixtures' seeds ensure it)
N_DECODE = 4      # positions evaluated one token at a time


def reference(name: str) -> dict:
    return json.loads((ARCH / name / "reference.json").read_text())


def load(name: str, kind: str, kernels=None) -> Model:
    return Model.from_gguf(GGUFFile.open(FileSource(ARCH / name / f"{name}.{kind}.gguf")),
                           kernels=kernels)


def ref_logits(case: dict) -> np.ndarray:
    """The stored float32 logits, (n_prompt, vocab)."""
    return np.frombuffer(base64.b64decode(case["logits_f32_b64"]), "<f4").reshape(
        len(case["prompt_ids"]), -1)


def run(model: Model, ids: list[int], cache_dtype) -> np.ndarray:
    """Logits (len(ids), vocab): a batch, then the last N_DECODE tokens one at a time. The cache
    holds exactly len(ids) positions (LongRoPE picks its factors by that size, as llama.cpp
    picks them by n_ctx and transformers by the sequence length)."""
    cache = model.new_cache(len(ids), dtype=cache_dtype)
    split = max(1, len(ids) - N_DECODE)
    rows = list(model.forward(ids[:split], cache, all_logits=True))
    rows += [model.forward([token], cache) for token in ids[split:]]
    return np.stack(rows)


def max_logit_error(name: str, kernels=None) -> float:
    model = load(name, "f32", kernels)
    return max(float(np.abs(run(model, case["prompt_ids"], np.float32) - ref_logits(case)).max())
               for case in reference(name)["cases"])


def check_greedy(name: str, kernels=None) -> None:
    """Teacher forcing: step i's argmax must be the reference's token i given tokens < i."""
    model = load(name, "q8_0", kernels)
    for case in reference(name)["cases"]:
        margins = np.array(case["q8_0"]["margins"])
        n = int(np.argmax(margins < MARGIN)) if (margins < MARGIN).any() else len(margins)
        assert n >= MIN_STEPS, f"{name}: the reference hesitates at step {n}"
        expected = case["q8_0"]["continuation"][:n]
        seq = case["prompt_ids"] + expected[:-1]
        logits = run(model, seq, np.float16)[len(case["prompt_ids"]) - 1:]     # (n, vocab)
        got = [int(np.argmax(row)) for row in logits]
        assert got == expected, f"{name}: greedy tokens differ: ours {got}, transformers {expected}"


@pytest.mark.parametrize("name", FIXTURES)
def test_f32_logits_match_transformers(name):
    assert max_logit_error(name) <= LOGIT_TOL


@pytest.mark.parametrize("name", FIXTURES)
def test_f32_logits_on_the_kernels_match_transformers(name, kernels):
    assert max_logit_error(name, kernels) <= LOGIT_TOL


@pytest.mark.parametrize("name", FIXTURES)
def test_q8_0_greedy_matches_transformers(name):
    check_greedy(name)


@pytest.mark.parametrize("name", FIXTURES)
def test_q8_0_greedy_on_the_kernels_matches_transformers(name, kernels):
    check_greedy(name, kernels)


def test_phi3_long_rope_switches_at_the_original_context():
    """Past rope.scaling.original_context_length the long factors rotate the keys; within it,
    the short ones (llama_model::get_rope_factors), each with rope.scaling.attn_factor."""
    model = load("phi3", "f32")
    assert model.config.n_ctx_orig == 32 and model.config.rope_attn_factor == pytest.approx(
        (1 + np.log(256 / 32) / np.log(32)) ** 0.5)
    short, long = model.layer_ropes(32)[0], model.layer_ropes(33)[0]
    assert not np.allclose(short.inv_freq, long.inv_freq)
    case = reference("phi3")["cases"][2]          # the long prompt with the short factors:
    ids, c = case["prompt_ids"], model.config     # not what transformers computed
    assert len(ids) > 32
    cache = KVCache(len(ids), c.n_head_kv, c.head_dim, model.layer_ropes(32), c.swa_layers, 0,
                    dtype=np.float32)
    assert np.abs(model.forward(ids, cache, all_logits=True) - ref_logits(case)).max() > 100 * LOGIT_TOL


def test_fused_and_biased_tensors_are_read():
    """phi3 stores attn_qkv and gate|up fused; qwen2 has q/k/v biases; qwen3 per-head norms."""
    phi3, qwen2, qwen3 = load("phi3", "q8_0"), load("qwen2", "f32"), load("qwen3", "f32")
    c = phi3.config
    assert [w.shape for w, _ in phi3.blocks[0].attn_qkv.parts] == [
        ((c.n_head + 2 * c.n_head_kv) * c.head_dim, c.n_embd)]
    assert [w.shape for w, _ in phi3.blocks[0].ffn_gate_up.parts] == [(2 * c.n_ff, c.n_embd)]
    bias = qwen2.blocks[1].attn_qkv_bias
    assert bias.shape == ((qwen2.config.n_head + 2 * qwen2.config.n_head_kv) * qwen2.config.head_dim,)
    assert np.abs(bias).min() > 0
    assert qwen3.config.qk_norm and qwen3.blocks[0].attn_qkv_bias is None


@pytest.mark.parametrize("name", FIXTURES)
def test_cli_generate_runs_each_architecture(name):
    """`minfer-wasm generate` on the F32 file: the prompt tokenized as transformers did, and its
    greedy continuation, until the reference hesitates."""
    case = reference(name)["cases"][0]
    margins = np.array(case["margins"])
    n = int(np.argmax(margins < MARGIN)) if (margins < MARGIN).any() else len(margins)
    result = subprocess.run([sys.executable, "-m", "minfer_wasm", "generate", "--model",
                             str(ARCH / name / f"{name}.f32.gguf"), "--prompt", case["prompt"],
                             "-t", "0", "-n", str(n), "--ignore-eos", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["prompt_ids"] == case["prompt_ids"] and out["ids"] == case["continuation"][:n]
