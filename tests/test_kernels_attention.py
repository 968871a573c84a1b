"""The compiled attention (glue_kernels.c minfer_attention) against the numpy path
(layers.attention) and the exact float64 softmax: natively (the scalar build) and in Pyodide
0.29.3 under Node (the wasm SIMD build), which must give the scalar build's results bit for bit.

The cases have the model's layouts and sizes (kernel_attention_cases.py): SmolLM2's 9 query
heads on 3 kv heads of 64 (one decoded token over 50 and 301 positions, a 31-token prompt with
the causal mask), Gemma-3's 4 heads on one of 256 under a sliding window's ring mask, and odd
sizes (d = 6, T = 9: the four-lane loops' tails). Measured over seeds 0..19: max |C - exact| /
max |exact| of a case 3.3e-6 at most, the numpy path's 3.1e-6, C against numpy 3.7e-6 (scores
spread over ~30 units: a score's float32 rounding, |s| 2^-24, is its weight's relative error).
"""

import ctypes

import numpy as np
import pytest

from kernel_attention_cases import SHAPES, attention_case, attention_error, numpy_attention
from kernel_pyodide import run_in_pyodide
from minfer_wasm.f16 import F16_UNIT
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.kernels import Attention, KernelError
from minfer_wasm.layers import attention as numpy_attention_fn
from minfer_wasm.model import Model
from minfer_wasm.sources import FileSource

ATTENTION_TOL = 1e-5       # max |error| / max |exact| of a case
SEEDS = (1, 2)


def run_attention(kernels, case: dict) -> np.ndarray:
    """The kernel's (n, n_head * d) output; q, k, v and mask untouched."""
    before = [case[key].copy() for key in ("qkv", "kv")]
    n, n_head, d = case["q"].shape
    out = np.full((n, n_head * d), np.nan, np.float32)
    kernels.attention()(case["q"], case["k"], case["v"], case["mask"], out, case["unit"])
    assert np.array_equal(case["qkv"], before[0]) and np.array_equal(case["kv"], before[1], equal_nan=True)
    return out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", SHAPES)
def test_attention_matches_numpy_and_exact(kernels, name, seed):
    case = attention_case(name, seed)
    got = run_attention(kernels, case)
    assert attention_error(case, got) < ATTENTION_TOL
    want = numpy_attention(case)
    assert np.abs(got - want).max() / np.abs(want).max() < ATTENTION_TOL


def test_one_query_at_a_time_equals_the_prompt(kernels):
    """A prompt's queries give what each gives alone with its own mask row (prefill = decode)."""
    case = attention_case("smollm2 prompt f16", 3)
    together = run_attention(kernels, case)
    for i in (0, 17, 30):
        alone = {**case, "q": case["q"][i:i + 1], "mask": case["mask"][i:i + 1].copy()}
        assert np.array_equal(run_attention(kernels, alone)[0], together[i])


def test_far_scores_and_nan(kernels):
    """Scores 100 apart: the far ones weigh exactly 0, as in float64. A NaN key a query sees
    makes NaN the outputs of the heads reading it, as on the numpy path; under the mask it is
    skipped (numpy's NaN + -inf still spreads: its output is NaN there)."""
    case = attention_case("smollm2 prompt f16", 4)
    case["k"][0, 3] *= 1e3                          # kv head 0, position 3: scores in the hundreds
    got = run_attention(kernels, case)
    assert attention_error(case, got) < ATTENTION_TOL
    case["k"][1, 20, 5] = np.nan                    # kv head 1 (query heads 3..5), position 20
    got, want = run_attention(kernels, case), numpy_attention(case)
    sees = case["mask"][:, 20] == 0                                          # (n,) queries at 20 and on
    heads = got.reshape(len(got), 9, 64)
    assert np.isnan(heads[sees][:, 3:6]).all() and not np.isnan(heads[~sees]).any()
    assert not np.isnan(heads[:, [0, 1, 2, 6, 7, 8]]).any()
    assert np.isnan(want.reshape(heads.shape)[:, 3:6]).all()


def test_bad_arguments_raise_typed_errors(kernels):
    case = attention_case("odd sizes", 5)
    q, k, v, mask, unit = case["q"], case["k"], case["v"], case["mask"], case["unit"]
    out = np.empty((3, 36), np.float32)
    att = kernels.attention()
    with pytest.raises(KernelError, match=r"q of shape \(n, n_head, d\) float32"):
        att(q.astype(np.float64), k, v, mask, out, unit)
    with pytest.raises(KernelError, match=r"writable out of shape \(3, 36\)"):
        att(q, k, v, mask, out[:, :30], unit)
    with pytest.raises(KernelError, match="keys and values of one layout"):
        att(q, k, v[:, :-1], mask, out, unit)
    with pytest.raises(KernelError, match="keys and values of one layout"):
        att(q, k[:, :, ::2], v[:, :, ::2], mask, out, unit)
    with pytest.raises(KernelError, match="n_kv dividing 6 heads"):
        att(q, np.concatenate([k] * 2)[:4], np.concatenate([v] * 2)[:4], mask, out, unit)
    with pytest.raises(KernelError, match="C-contiguous"):
        att(q, k, v, np.asfortranarray(mask), out, unit)
    with pytest.raises(KernelError, match="unit must be a power of two"):
        att(q, k, v, mask, out, 3.0)
    with pytest.raises(KernelError, match="unit must be a power of two"):
        att(q, k, v, mask, out, float(F16_UNIT) ** 2)


def test_library_refuses_bad_shapes_without_writing(native_kernels_path):
    lib = ctypes.CDLL(str(native_kernels_path))
    p, i = ctypes.c_void_p, ctypes.c_int
    lib.minfer_attention.argtypes = [p, i, i, i, i, p, p, i, i, i, p, p, i, i, p]
    q, kv = np.ones((2, 4, 8), np.float32), np.ones((2, 2, 5, 8), np.float32)
    out, scratch = np.full((2, 32), 7.0, np.float32), np.zeros(64, np.float32)
    good = dict(q=q.ctypes.data, q_stride=32, n=2, n_head=4, d=8, k=kv[0].ctypes.data, v=kv[1].ctypes.data,
                kv_head_stride=40, n_kv=2, T=5, mask=None, out=out.ctypes.data, out_stride=32, unit_exp=0,
                scratch=scratch.ctypes.data)
    for bad in (dict(n_head=3), dict(n=0), dict(d=0), dict(q_stride=31), dict(out_stride=31),
                dict(kv_head_stride=39), dict(unit_exp=128), dict(unit_exp=-127)):
        assert lib.minfer_attention(*{**good, **bad}.values()) == 2, bad
    assert (out == 7.0).all()
    assert lib.minfer_attention(*good.values()) == 0 and np.allclose(out, 1.0)


@pytest.mark.parametrize("model", ["smollm2", "gemma3"])
def test_the_model_runs_the_compiled_attention_only_with_kernels(kernels, model, request):
    path = str(request.getfixturevalue(f"{model}_path"))
    assert isinstance(Model.from_gguf(GGUFFile.open(FileSource(path)), kernels=kernels).attention, Attention)
    assert Model.from_gguf(GGUFFile.open(FileSource(path))).attention is numpy_attention_fn


# ---------------------------------------------------------------- the wasm SIMD build in Pyodide

@pytest.fixture(scope="module")
def pyodide_cases():
    return [(name, attention_case(name, seed)) for name in SHAPES for seed in SEEDS]


@pytest.fixture(scope="module")
def pyodide_results(pyodide_cases, wasm_kernels_path, tmp_path_factory):
    arrays = {"attention": [name for name, _ in pyodide_cases]}
    for i, (_, case) in enumerate(pyodide_cases):
        arrays.update({f"a{i}.{key}": case[key] for key in ("qkv", "kv", "unit", "n_head", "T")})
        if case["mask"] is not None:
            arrays[f"a{i}.mask"] = case["mask"]
    return run_in_pyodide("check_glue.py", arrays, wasm_kernels_path, tmp_path_factory.mktemp("pyodide_attention"))[0]


def test_simd_attention_matches_exact_in_pyodide(pyodide_cases, pyodide_results):
    assert bool(pyodide_results["simd"]), "the Pyodide module was built without SIMD128"
    for i, (name, case) in enumerate(pyodide_cases):
        assert attention_error(case, pyodide_results[f"a{i}.got"]) < ATTENTION_TOL, name


def test_simd_attention_equals_scalar_build(pyodide_cases, pyodide_results, kernels):
    for i, (name, case) in enumerate(pyodide_cases):
        wasm, scalar = pyodide_results[f"a{i}.got"], run_attention(kernels, case)
        assert np.array_equal(wasm, scalar), (name, np.abs(wasm - scalar).max())
