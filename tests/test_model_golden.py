"""The real models against transformers (fixtures from scripts/make_reference_fixtures.py).

Greedy continuations must match token for token until the reference itself hesitates
(its top-2 logits within MARGIN: from that step on either token is a fair pick), and the
first-step logits must agree on the reference's top entries and in summary.

Both KV cache dtypes pass this check, with their own logit tolerance. A float32 cache
agrees with transformers to float32 rounding (measured: 1.5e-4 at most on these prompts).
The float16 cache rounds every key and value to 11 significant bits (2**-11 relative),
which moves the first-step top logits by up to 0.013 (measured); its bound is MARGIN / 2,
the one the greedy claim needs: logits that each move by less than that cannot swap two
candidates whose gap is at least MARGIN.

The compiled kernels (the page's default path) pass the same check with a float16 cache: they
round each activation to 8191 levels per 32 values, which moves the top logits by a few
hundredths at most (measured below MARGIN / 2 on every case), so the same bound holds.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from minfer_wasm.gguf import GGUFFile
from minfer_wasm.model import Model
from minfer_wasm.native.model_store import KNOWN_MODELS
from minfer_wasm.sources import FileSource

FIXTURES = Path(__file__).parent / "fixtures"
MARGIN = 0.1      # reference top-2 gap below which the two engines may pick differently
LOGIT_TOL = {np.float32: 1e-3, np.float16: MARGIN / 2}   # per KV cache dtype: max abs difference
                                                        # on the stored first-step logits
N_DECODE = 4      # compared steps evaluated one token at a time (the decode path)


def _load(fixture: str, path: Path, kernels=None):
    """The model (pulled and sha256-checked by conftest) and the fixture's cases, made from it."""
    ref = json.loads((FIXTURES / fixture).read_text())
    assert KNOWN_MODELS[ref["model"]].sha256 == ref["sha256"], "fixture made from another file"
    return Model.from_gguf(GGUFFile.open(FileSource(path)), kernels=kernels), ref["cases"]


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    return _load("reference_smollm2.json", smollm2_path)


@pytest.fixture(scope="module")
def gemma3(gemma3_path):
    return _load("reference_gemma3.json", gemma3_path)


def _check(model: Model, case: dict, cache_dtype) -> None:
    """Greedy decoding matches the reference iff every step's argmax is the reference's token
    given the reference's earlier tokens: so the compared steps run as one batch (teacher
    forcing) and only the last N_DECODE of them one token at a time."""
    margins = np.array(case["margins"])
    n_compared = int(np.argmax(margins < MARGIN)) if (margins < MARGIN).any() else len(margins)
    assert n_compared >= 8, f"the reference hesitates at step {n_compared}: too little to compare"
    prompt, expected = case["prompt_ids"], case["continuation"][:n_compared]
    seq = prompt + expected[:-1]                 # step i predicts expected[i] from seq[:len(prompt) + i]
    split = len(seq) - min(N_DECODE, n_compared - 1)
    cache = model.new_cache(len(seq), dtype=cache_dtype)
    model.forward(prompt[:-1], cache)            # no logits needed before the last prompt token
    logits = list(model.forward(seq[len(prompt) - 1:split], cache, all_logits=True))
    logits += [model.forward([token], cache) for token in seq[split:]]   # (vocab,) each

    first, top_ids, tol = logits[0], np.array(case["first_top_ids"]), LOGIT_TOL[cache_dtype]
    diff = np.abs(first[top_ids] - np.array(case["first_top_logits"], dtype=np.float32))
    assert diff.max() <= tol, f"first-step logit of id {top_ids[diff.argmax()]} off by {diff.max():.5f}"
    assert abs(first.mean() - case["first_logits_mean"]) <= tol
    assert abs(first.std() - case["first_logits_std"]) <= tol
    got = [int(np.argmax(row)) for row in logits]
    assert got == expected, f"greedy tokens differ: ours {got}, reference {expected}"


@pytest.mark.parametrize("cache_dtype", [np.float32, np.float16])
@pytest.mark.parametrize("i", [0, 1])
def test_smollm2_matches_transformers(smollm2, i, cache_dtype):
    model, cases = smollm2
    _check(model, cases[i], cache_dtype)


@pytest.mark.parametrize("cache_dtype", [np.float32, np.float16])
@pytest.mark.parametrize("i", [0, 1, 2])   # case 2: a prompt longer than the sliding window
def test_gemma3_matches_transformers(gemma3, i, cache_dtype):
    model, cases = gemma3
    _check(model, cases[i], cache_dtype)


@pytest.mark.parametrize("i", [0, 1])
def test_smollm2_on_the_kernels_matches_transformers(smollm2_path, kernels, i):
    model, cases = _load("reference_smollm2.json", smollm2_path, kernels)
    _check(model, cases[i], np.float16)


@pytest.mark.parametrize("i", [0, 1, 2])
def test_gemma3_on_the_kernels_matches_transformers(gemma3_path, kernels, i):
    model, cases = _load("reference_gemma3.json", gemma3_path, kernels)
    _check(model, cases[i], np.float16)
