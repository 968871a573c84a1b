"""The page's kernel path in Pyodide 0.29.3 under Node gives the native kernel path's logits bit
for bit: SmolLM2 and Gemma-3, a prompt as one batch and decoded tokens one at a time.

What makes it so: the kernels' SIMD and scalar builds add the same float terms in the same order
(quant_kernels.c, glue_kernels.c), and the numpy steps left around them (norms, rope, the KV
cache's float16 rounding, residuals) use only operations that are correctly rounded in every
libm; a transcendental of numpy's (np.tanh, np.exp, a power) differs in the last bit between
native numpy and Pyodide's, and on the kernel path its last bit can move an activation across a
rounding step of the kernels (8191 levels per 32 values), then a logit by ~1e-3: enough to flip
a greedy near-tie, so the browser tests' exact comparisons with the native engine would hang on
luck. (tests/pyodide_node/check_forward.py)
"""

import numpy as np
import pytest

from kernel_pyodide import run_in_pyodide
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.model import Model
from minfer_wasm.sources import FileSource
from pyodide_node.check_forward import kernel_path_logits


@pytest.mark.parametrize("model", ["smollm2", "gemma3"])
def test_page_kernel_path_equals_native_bit_for_bit(kernels, wasm_kernels_path, model, request, tmp_path):
    path = request.getfixturevalue(f"{model}_path")
    native = Model.from_gguf(GGUFFile.open(FileSource(str(path))), kernels=kernels)
    rng = np.random.default_rng(31)
    ids = {"prompt": rng.integers(0, native.config.n_vocab, 21), "decode": rng.integers(0, native.config.n_vocab, 2)}
    want = kernel_path_logits(native, ids["prompt"], ids["decode"])                   # (23, vocab)
    got = run_in_pyodide("check_forward.py", ids, wasm_kernels_path, tmp_path, path)[0]["logits"]
    assert got.shape == want.shape and np.isfinite(want).all()
    assert np.array_equal(got, want), f"max |wasm - native| {np.abs(got - want).max():.2e}"
