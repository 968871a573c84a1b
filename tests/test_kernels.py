"""The compiled kernels (minfer_wasm/kernels) built natively, against numpy's dequantized products.

Every kernel type on random blocks (every bit pattern of codes, random finite scales), one token
and several (more than one tile of 8), odd row counts; the real models' tensors; the scalar
algorithm against its own rounding of the activations (kernel_reference.py); every product of
the real models' forward pass on their own activations, against the numpy path. The SIMD build
runs the same checks in Pyodide: test_kernels_pyodide.py.
"""

import ctypes
import ctypes.util
from pathlib import Path

import numpy as np
import pytest

from kernel_cases import (ROWS, activation_cases, as_blocks, cols_of, model_products, product_blocks,
                          random_case, real_cases)
from kernel_reference import (ACCUMULATION_TOL, ACT_MAX, KERNEL_TYPES, TYPE_IDS, product_errors,
                              relative_error, rounded_activations)
from minfer_wasm.errors import UnsupportedError
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.kernels import KernelError, load_kernels
from minfer_wasm.native import kernel_build
from minfer_wasm.sources import FileSource
from quant_blocks import HALF_FIELDS, random_raw

# ||kernels - numpy|| / ||numpy|| of each product of a real model's forward pass. Measured: SmolLM2
# at most 2.5e-4 (median 1.2e-4), Gemma-3 4.7e-4; activations rounded to int8 levels (ggml's q8_0,
# the kernels' first choice) instead: 1.8e-2 and 3.1e-2, which moved SmolLM2's logits by 6% and
# changed its greedy answer.
MODEL_PRODUCT_TOL = 1e-3


def test_loads_the_scalar_build(kernels):
    assert not kernels.simd
    assert {kernels.supports(TYPE_IDS[name]) for name in KERNEL_TYPES} == {True}
    assert not kernels.supports(TYPE_IDS["Q2_K"]) and not kernels.supports(TYPE_IDS["BF16"])


@pytest.mark.parametrize("n", [1, 3, 11])
@pytest.mark.parametrize("name", KERNEL_TYPES)
def test_random_blocks(kernels, name, n):
    blocks, x = random_case(name, n)
    got = kernels.matmul_arrays(TYPE_IDS[name], blocks, x)
    assert got.shape == (n, ROWS) and got.dtype == np.float32
    own, exact, excess = product_errors(name, blocks, x, got)
    assert own < ACCUMULATION_TOL, f"{name}: {own:.2e} off the product of its rounded activations"
    assert excess <= 1, f"{name}: off the exact product by {excess:.2f}x what rounding explains"


@pytest.mark.parametrize("name", KERNEL_TYPES)
def test_tokens_at_once_equal_one_at_a_time(kernels, name):
    """Prefill (tiles of tokens through each block) adds the same terms in the same order."""
    blocks, x = random_case(name, 11)
    together = kernels.matmul_arrays(TYPE_IDS[name], blocks, x)
    one_by_one = np.stack([kernels.matmul_arrays(TYPE_IDS[name], blocks, row) for row in x])
    assert np.array_equal(together, one_by_one)


@pytest.mark.parametrize("rows", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("name", ["Q4_1", "Q8_0", "F16"])
def test_out_stride_writes_only_its_rows(kernels, name, rows):
    """Products land at out[t * out_stride + r]; nothing else in the buffer changes."""
    blocks, x = random_case(name, 3, rows)
    stride = rows + 3
    out = np.full(3 * stride + 2, np.nan, np.float32)
    kernels.matmul(TYPE_IDS[name], blocks.ctypes.data, rows, x.shape[1], x.ctypes.data, 3,
                   out.ctypes.data, stride)
    got = out[:3 * stride].reshape(3, stride)
    assert np.array_equal(got[:, :rows], kernels.matmul_arrays(TYPE_IDS[name], blocks, x))
    assert np.isnan(got[:, rows:]).all() and np.isnan(out[3 * stride:]).all()


@pytest.mark.parametrize("name", ["Q4_0", "Q4_1", "Q5_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"])
def test_special_block_scales(kernels, name):
    """Zero, subnormal and extreme halves widen exactly; an inf or nan scale (never in real
    models) makes its row non-finite as in the reference, and no other row."""
    rng = np.random.default_rng(12)
    cols = cols_of(name)
    raw = random_raw(name, (ROWS, cols), rng)
    blocks = as_blocks(raw, name, ROWS)
    special = np.array([0.0, -0.0, 6e-8, -6e-8, 3e-5, -6.1e-5, 65504.0, -0.5], np.float16)
    for off in HALF_FIELDS[name]:
        halves = blocks[:, :, off:off + 2].reshape(-1, 2).copy().view(np.float16)
        halves[rng.permutation(len(halves))[:len(special)], 0] = special
        blocks[:, :, off:off + 2] = halves.view(np.uint8).reshape(ROWS, -1, 2)
    x = rng.standard_normal((2, cols), dtype=np.float32)
    got = kernels.matmul_arrays(TYPE_IDS[name], blocks, x)
    own, _, excess = product_errors(name, blocks, x, got)
    assert own < ACCUMULATION_TOL and excess <= 1
    d = HALF_FIELDS[name][0]
    blocks[3, 0, d:d + 2] = np.array([np.inf], np.float16).view(np.uint8)
    blocks[-1, -1, d:d + 2] = np.array([np.nan], np.float16).view(np.uint8)
    got = kernels.matmul_arrays(TYPE_IDS[name], blocks, x)
    bad = ~np.isfinite(got)
    assert bad[:, 3].all() and bad[:, -1].all() and bad.sum() == 4


@pytest.mark.parametrize("scale", [1e-33, 1e-36, 1e-38])
@pytest.mark.parametrize("name", ["Q4_1", "Q8_0", "Q6_K"])
def test_tiny_activations(kernels, name, scale):
    """Groups whose largest |x| is at most ACT_MAX * 2^-126 (ACT_MAX / amax would overflow float
    below 2.4e-35) round on the step 2^-126 instead, within half a step as every other group."""
    blocks, x = random_case(name, 3, scale=scale)                          # x: (3, K)
    tiny = np.abs(x.reshape(3, -1, 32)).max(axis=-1) <= ACT_MAX * 2.0 ** -126
    assert tiny.all() if scale < 1e-34 else not tiny.any()
    got = kernels.matmul_arrays(TYPE_IDS[name], blocks, x)
    own, _, excess = product_errors(name, blocks, x, got)
    assert own < ACCUMULATION_TOL and excess <= 1


def test_real_model_tensors(kernels, smollm2_path, gemma3_path):
    """One matrix of each type in both models (first 64 rows), and the classifiers' last rows, on
    gaussian inputs and on the models' own (the layer with the largest outlier)."""
    cases = real_cases([smollm2_path, gemma3_path])
    assert {name for _, name, _, _ in cases} == {"Q4_1", "Q8_0", "Q5_0", "Q4_K", "Q6_K"}
    for label, name, blocks, x in cases + activation_cases(smollm2_path) + activation_cases(gemma3_path):
        got = kernels.matmul_arrays(TYPE_IDS[name], blocks, x)
        own, exact, excess = product_errors(name, blocks, x, got)
        assert own < ACCUMULATION_TOL and excess <= 1, (label, own, exact, excess)


@pytest.mark.parametrize("model", ["smollm2", "gemma3"])
def test_products_on_the_models_own_activations(kernels, model, request):
    """The numpy model's forward pass over a chat prompt and one decoded token, every weight
    product redone by the kernels on the same inputs: each within MODEL_PRODUCT_TOL of numpy's,
    and the classifier picks numpy's greedy tokens. The inputs are demanding: rounded to int8
    levels instead of the kernels' ACT_MAX, they miss the bound."""
    path = request.getfixturevalue(f"{model}_path")
    products, ids = model_products(path)
    gguf = GGUFFile.open(FileSource(str(path)))
    errors, int8_errors, greedy = [], [], []
    for p in products:
        got = kernels.matmul_arrays(p.weights.ggml_type, product_blocks(gguf, p), p.x)   # (n, R)
        errors.append(relative_error(got, p.y.astype(np.float64)))
        int8 = p.weights.matmul(rounded_activations(p.x, 127).astype(np.float32))
        int8_errors.append(relative_error(int8, p.y.astype(np.float64)))
        if p.tensors[0] in ("output.weight", "token_embd.weight"):          # the classifier
            greedy.append((int(np.argmax(got[-1])), int(np.argmax(p.y[-1]))))
    worst = int(np.argmax(errors))
    assert errors[worst] < MODEL_PRODUCT_TOL, (products[worst].tensors, products[worst].x.shape, errors[worst])
    assert max(int8_errors) > MODEL_PRODUCT_TOL
    assert len(greedy) == 2 and greedy[0] == (ids[-1], ids[-1]) and greedy[1][0] == greedy[1][1]


def test_scratch_grows_and_is_reserved(kernels):
    blocks, x = random_case("Q4_1", 11)
    need = kernels.scratch_bytes(TYPE_IDS["Q4_1"], x.shape[1], 11)
    assert need > x.size * 2 and kernels.scratch_bytes(TYPE_IDS["F32"], 64, 11) == 0
    kernels.reserve(TYPE_IDS["Q4_1"], x.shape[1], 200)
    size = kernels._scratch_size
    assert size >= kernels.scratch_bytes(TYPE_IDS["Q4_1"], x.shape[1], 200)
    kernels.matmul_arrays(TYPE_IDS["Q4_1"], blocks, x)
    assert kernels._scratch_size == size


def test_bad_arguments_raise_typed_errors(kernels):
    blocks, x = random_case("Q4_1", 2)
    q4_1, out = TYPE_IDS["Q4_1"], np.zeros(2 * ROWS, np.float32)
    with pytest.raises(UnsupportedError, match="no kernel for ggml type Q2_K"):
        kernels.matmul_arrays(TYPE_IDS["Q2_K"], blocks, x)
    with pytest.raises(UnsupportedError, match="id 99"):
        kernels.matmul(99, blocks.ctypes.data, ROWS, 96, x.ctypes.data, 2, out.ctypes.data)
    with pytest.raises(KernelError, match=r"Q4_1 weights must be \(rows, blocks, 20\) uint8"):
        kernels.matmul_arrays(q4_1, blocks.view(np.int8), x)
    with pytest.raises(KernelError, match=r"needs x of shape \(n, 96\)"):
        kernels.matmul_arrays(q4_1, blocks, x[:, :64])
    with pytest.raises(KernelError, match="cols a multiple of 32"):
        kernels.matmul(q4_1, blocks.ctypes.data, ROWS, 80, x.ctypes.data, 2, out.ctypes.data)
    with pytest.raises(KernelError, match="rows 0"):
        kernels.matmul(q4_1, blocks.ctypes.data, 0, 96, x.ctypes.data, 2, out.ctypes.data)
    with pytest.raises(KernelError, match="out_stride 5 is less than rows 37"):
        kernels.matmul(q4_1, blocks.ctypes.data, ROWS, 96, x.ctypes.data, 2, out.ctypes.data, 5)
    with pytest.raises(KernelError, match="over 2 GiB"):
        kernels.scratch_bytes(q4_1, 1 << 20, 1 << 12)


def test_uninitialized_library_refuses_to_run(native_kernels_path, tmp_path):
    """Without minfer_init (load_kernels calls it) there is no half table: code 4, nothing read."""
    copy = tmp_path / "fresh.so"                 # another file: a module of its own
    copy.write_bytes(Path(native_kernels_path).read_bytes())
    lib = ctypes.CDLL(str(copy))
    lib.minfer_matmul.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                  ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    blocks, x = random_case("Q4_1", 1)
    out, scratch = np.full(ROWS, 7.0, np.float32), np.zeros(1 << 16, np.uint8)
    code = lib.minfer_matmul(TYPE_IDS["Q4_1"], blocks.ctypes.data, ROWS, 96, x.ctypes.data, 1,
                             out.ctypes.data, ROWS, scratch.ctypes.data, scratch.size)
    assert code == 4 and (out == 7.0).all()


def test_load_errors(tmp_path):
    with pytest.raises(KernelError, match="cannot load the kernels from .*missing.so"):
        load_kernels(tmp_path / "missing.so")
    libm = ctypes.util.find_library("m")
    with pytest.raises(KernelError, match="cannot load the kernels"):
        load_kernels(libm)


def test_build_errors_are_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "bad.c"
    bad.write_text("int minfer_abi(void) { return 1 }\n")
    with pytest.raises(kernel_build.KernelBuildError) as e:
        kernel_build.build_native(tmp_path / "bad.so", sources=[bad])
    assert "\n" not in str(e.value) and "bad.c" in str(e.value) and "error" in str(e.value)
    monkeypatch.setattr(kernel_build.shutil, "which", lambda name: None)
    with pytest.raises(kernel_build.ToolMissingError, match="none of clang, clang-14 is on PATH; install"):
        kernel_build.build_wasm(tmp_path / "k.so")
