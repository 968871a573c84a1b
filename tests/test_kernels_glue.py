"""The compiled gated activation (glue_kernels.c: gate <- act(gate) * up, silu and gelu-tanh)
against the numpy path (layers.silu_mul / gelu_mul) and the exact float64 values: natively (the
scalar build) and in Pyodide 0.29.3 under Node (the wasm SIMD build), which must give the
scalar build's results bit for bit (the same float operations in the same order).

Measured on these cases (seeds 0..49): |C - numpy| <= 1.6e-7 |gate * up| (numpy's own error
against the exact values is as large: 1.6e-7), 1.5e-5 absolute on results up to ~400; relative
to the exact values 1.8e-7 (silu) and 1.2e-5 (gelu: z = 1.6 g (1 + 0.045 g^2) carries float
rounding that its sigmoid's tail turns into |z| * 2^-24 relative), where the numpy path's tanh
form is off by 300% and more in the negative tail (1 + tanh(y) cancels).
"""

import ctypes

import numpy as np
import pytest

from kernel_glue_cases import ACTS, COLS, EXTREMES, act_case, act_errors, numpy_act
from kernel_pyodide import run_in_pyodide
from minfer_wasm.errors import UnsupportedError
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.kernels import GatedActivation, KernelError, load_kernels
from minfer_wasm.layers import gelu_mul, silu_mul
from minfer_wasm.model import Model
from minfer_wasm.sources import FileSource

SIGMOID_TOL = 3e-7         # |error| / |gate * up|, against numpy and against the exact values
REL_TOL = {"silu": 4e-7, "gelu_tanh": 3e-5}   # relative to the exact values (>= 1e-30)
SEEDS = (1, 2, 3)


def run_act(kernels, act: str, gate_up: np.ndarray) -> np.ndarray:
    """The kernel on a copy of gate_up, as the model calls it: (n, cols) results; up untouched."""
    buf = gate_up.copy()
    kernels.gated_activation(act)(buf[:, :COLS], buf[:, COLS:])
    assert np.array_equal(buf[:, COLS:], gate_up[:, COLS:], equal_nan=True)
    return buf[:, :COLS]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_activation_matches_numpy_and_exact(kernels, act, seed):
    gate_up = act_case(seed)
    errors = act_errors(act, gate_up, run_act(kernels, act, gate_up))
    assert errors["numpy"] < SIGMOID_TOL and errors["sigmoid"] < SIGMOID_TOL, errors
    assert errors["rel"] < REL_TOL[act], errors


@pytest.mark.parametrize("act", ACTS)
def test_extremes_give_numpys_results(kernels, act):
    """+-100, the exp clamp's edges, zeros, subnormals, the largest floats: no overflow, within
    1e-36 of the numpy path (silu(-87.5) is -1.1e-36 here, 0 there); NaN, inf and -inf give
    what numpy gives (NaN, inf * up, NaN)."""
    gate_up, m = act_case(0), len(EXTREMES)
    got, want = run_act(kernels, act, gate_up)[0, :m], numpy_act(act, gate_up)[0, :m]
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.isnan(got[-3:]).tolist() == [True, False, True]
    assert np.array_equal(got[np.isinf(want)], want[np.isinf(want)])
    finite = np.isfinite(want)
    g, u = gate_up[0, :m][finite].astype(np.float64), gate_up[0, COLS:COLS + m][finite].astype(np.float64)
    err = np.abs(got[finite].astype(np.float64) - want[finite])
    assert (err <= 1e-36 + SIGMOID_TOL * np.abs(g * u)).all(), err


@pytest.mark.parametrize("act", ACTS)
def test_one_token_and_plain_arrays(kernels, act):
    """A decoded token's (1, cols) rows, 1-D arrays, and separate contiguous arrays: one result."""
    gate_up = act_case(4, n=1)
    want = run_act(kernels, act, gate_up)                                       # (1, cols)
    g, u = gate_up[0, :COLS].copy(), gate_up[0, COLS:].copy()
    kernels.gated_activation(act)(g, u)
    assert np.array_equal(g, want[0], equal_nan=True)


def test_rows_are_independent_of_the_batch(kernels):
    """A prompt's rows give what each row alone gives (the model's prefill and decode agree)."""
    gate_up = act_case(5)
    together = run_act(kernels, "silu", gate_up)
    alone = np.concatenate([run_act(kernels, "silu", row[None]) for row in gate_up])
    assert np.array_equal(together, alone, equal_nan=True)


def test_bad_arguments_raise_typed_errors(kernels):
    with pytest.raises(UnsupportedError, match="no kernel for the activation 'relu'; kernels: silu, gelu_tanh"):
        kernels.gated_activation("relu")
    act = kernels.gated_activation("silu")
    buf = act_case(6, n=3)
    with pytest.raises(KernelError, match="gate and up of one shape"):
        act(buf[:, :COLS], buf[:, COLS:-1])
    with pytest.raises(KernelError, match="gate and up of one shape"):
        act(buf[:, :COLS].astype(np.float64), buf[:, COLS:].astype(np.float64))
    with pytest.raises(KernelError, match="rows of contiguous values"):
        act(buf[:, :2 * COLS:2], buf[:, 1:2 * COLS:2])
    with pytest.raises(KernelError, match="one row stride"):
        act(buf[:, :COLS], buf[:, COLS:].copy())
    frozen = buf[:, :COLS]
    frozen.flags.writeable = False
    with pytest.raises(KernelError, match="writable"):
        act(frozen, buf[:, COLS:])


def test_library_refuses_bad_calls_without_writing(native_kernels_path):
    """The C checks of its own: another act code, sizes not positive, row stride < cols."""
    lib = ctypes.CDLL(str(native_kernels_path))
    lib.minfer_act_mul.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 3
    buf = act_case(7, n=2)
    before = buf.copy()
    g, u = buf.ctypes.data, buf.ctypes.data + 4 * COLS
    for args, code in (((2, g, u, COLS, 2, 2 * COLS), 1), ((0, g, u, 0, 2, 2 * COLS), 2),
                       ((1, g, u, COLS, 0, 2 * COLS), 2), ((0, g, u, COLS, 2, COLS - 1), 2)):
        assert lib.minfer_act_mul(*args) == code, args
    assert np.array_equal(buf, before, equal_nan=True)


@pytest.mark.parametrize("model, act, numpy_fn", [("smollm2", "silu", silu_mul), ("gemma3", "gelu_tanh", gelu_mul)])
def test_the_model_runs_the_compiled_activation_only_with_kernels(kernels, model, act, numpy_fn, request):
    path = str(request.getfixturevalue(f"{model}_path"))
    with_kernels = Model.from_gguf(GGUFFile.open(FileSource(path)), kernels=kernels)
    assert isinstance(with_kernels.act_mul, GatedActivation) and with_kernels.act_mul.act == act
    assert Model.from_gguf(GGUFFile.open(FileSource(path))).act_mul is numpy_fn


# ---------------------------------------------------------------- the wasm SIMD build in Pyodide

@pytest.fixture(scope="module")
def pyodide_cases():
    return [(act, act_case(seed)) for act in ACTS for seed in SEEDS] + [(act, act_case(8, n=1)) for act in ACTS]


@pytest.fixture(scope="module")
def pyodide_results(pyodide_cases, wasm_kernels_path, tmp_path_factory):
    arrays = {str(i): gate_up for i, (_, gate_up) in enumerate(pyodide_cases)}
    arrays["acts"] = [act for act, _ in pyodide_cases]
    return run_in_pyodide("check_glue.py", arrays, wasm_kernels_path, tmp_path_factory.mktemp("pyodide_glue"))[0]


def test_simd_activation_matches_numpy_in_pyodide(pyodide_cases, pyodide_results):
    assert bool(pyodide_results["simd"]), "the Pyodide module was built without SIMD128"
    for i, (act, gate_up) in enumerate(pyodide_cases):
        errors = act_errors(act, gate_up, pyodide_results[f"{i}.got"])
        assert errors["numpy"] < SIGMOID_TOL and errors["sigmoid"] < SIGMOID_TOL, (act, errors)
        assert errors["rel"] < REL_TOL[act], (act, errors)


def test_simd_activation_equals_scalar_build(pyodide_cases, pyodide_results, kernels):
    for i, (act, gate_up) in enumerate(pyodide_cases):
        wasm, scalar = pyodide_results[f"{i}.got"], run_act(kernels, act, gate_up)
        assert np.array_equal(wasm, scalar, equal_nan=True), (act, i, np.nanmax(np.abs(wasm - scalar)))
