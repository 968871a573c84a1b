"""The wasm SIMD kernels in Pyodide 0.29.3 under Node: the page's runtime, without the browser.

The cases of test_kernels.py (every type, one token and eleven, tiny activations, the real
models' tensors on gaussian inputs and on the models' own activations) go through the Pyodide
side module (tests/pyodide_node/check_kernels.py), and must match numpy's products there as the
native build does here, and the native build's results bit for bit: both add the same float
terms in the same order (quant_kernels.c), only the float types' sums run in another order.
"""

import numpy as np
import pytest

from kernel_cases import activation_cases, random_case, real_cases
from kernel_pyodide import run_in_pyodide
from kernel_reference import ACCUMULATION_TOL, FLOAT_KERNELS, KERNEL_TYPES, TYPE_IDS, relative_error
from minfer_wasm.kernels import load_kernels


@pytest.fixture(scope="module")
def cases(smollm2_path, gemma3_path):
    random = [(f"random {name}", name, *random_case(name, n)) for name in KERNEL_TYPES for n in (1, 11)]
    random += [(f"tiny {name}", name, *random_case(name, 3, scale=1e-36)) for name in ("Q4_1", "Q6_K")]
    real = real_cases([smollm2_path, gemma3_path]) + activation_cases(smollm2_path) + activation_cases(gemma3_path)
    return random + real


@pytest.fixture(scope="module")
def pyodide_results(cases, wasm_kernels_path, tmp_path_factory):
    arrays = {}
    for i, (_, _, blocks, x) in enumerate(cases):
        arrays[f"{i}.blocks"], arrays[f"{i}.x"] = blocks, x
    return run_in_pyodide("check_kernels.py", {"labels": [c[0] for c in cases], "types": [c[1] for c in cases],
                                               **arrays}, wasm_kernels_path, tmp_path_factory.mktemp("pyodide_kernels"))


def test_simd_kernels_match_numpy_in_pyodide(cases, pyodide_results):
    results, proc = pyodide_results
    assert bool(results["simd"]), "the Pyodide module was built without SIMD128"
    for (label, name, _, x), own, excess in zip(cases, results["own"], results["excess"]):
        assert own < ACCUMULATION_TOL and excess <= 1, (label, name, x.shape[0], own, excess)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_simd_equals_scalar_build(cases, pyodide_results, native_kernels_path):
    results, _ = pyodide_results
    native = load_kernels(native_kernels_path)
    for i, (label, name, blocks, x) in enumerate(cases):
        wasm, scalar = results[f"{i}.got"], native.matmul_arrays(TYPE_IDS[name], blocks, x)
        if name in FLOAT_KERNELS:
            assert relative_error(wasm, scalar.astype(np.float64)) < 1e-6, label
        else:
            assert np.array_equal(wasm, scalar), (label, np.abs(wasm - scalar).max())
