"""QuantTensor against gguf-py's dequantized weights: bit-exact decoding, float32-accurate products."""

import tracemalloc

import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize as reference

from minfer_wasm.errors import GGUFError, UnsupportedError
from minfer_wasm.ggml_types import row_nbytes
from minfer_wasm.gguf import GGUFFile, TensorInfo
from minfer_wasm.quants import QuantTensor, block_tensor, codes, dequantize, load, load_tensor, tensor
from minfer_wasm.sources import FileSource
from quant_blocks import FLOATS, HALF_FIELDS, QUANTS, random_raw, type_id

ROWS = 37            # odd, and not a multiple of the group size below
GROUP_ROWS = 8       # rows per group in these tests (the default groups are 512K weights)
LOAD_ROWS = 5        # rows decoded per step while loading


def _block_size(name: str) -> int:
    return GGML_QUANT_SIZES[GGMLQuantizationType[name]][0]


def _tensor(name, shape, raw, monkeypatch=None):
    if monkeypatch is not None:
        monkeypatch.setattr(tensor, "GROUP_WEIGHTS", GROUP_ROWS * shape[-1])
        monkeypatch.setattr(load, "LOAD_WEIGHTS", LOAD_ROWS * shape[-1])
    info = TensorInfo(f"test.{name}", type_id(name), tuple(shape), 0, raw.nbytes)
    return load_tensor(info, raw.tobytes())


def _close(got: np.ndarray, want: np.ndarray) -> None:
    """Agreement to float32 rounding, measured against the size of the result."""
    err = np.linalg.norm(got.astype(np.float64) - want) / np.linalg.norm(want)
    assert err < 1e-5, err


@pytest.fixture(params=FLOATS + QUANTS)
def case(request, monkeypatch):
    name = request.param
    block = _block_size(name)
    shape = (ROWS, 3 * block if block > 1 else 48)
    raw = random_raw(name, shape, np.random.default_rng(len(name) * 7 + block))
    w = reference(raw, GGMLQuantizationType[name]).reshape(shape)      # (ROWS, cols) float32
    return name, _tensor(name, shape, raw, monkeypatch), w


def test_dequantize_bit_exact(case):
    name, t, w = case
    got = t.dequantize()
    assert got.dtype == np.float32 and got.shape == w.shape
    assert np.array_equal(got, w), name


def test_take_rows_bit_exact(case):
    _, t, w = case
    ids = np.array([ROWS - 1, 0, 3, 3, 17, 9, 10, 11, 12, 13, 14, 15, 16, 30])   # spans several groups
    assert np.array_equal(t.take_rows(ids), w[ids])
    assert t.take_rows([]).shape == (0, w.shape[1])


def test_matvec_matches_dequantized_product(case):
    _, t, w = case
    x = np.random.default_rng(3).standard_normal(w.shape[1]).astype(np.float32)
    y = t.matvec(x)
    assert y.dtype == np.float32 and y.shape == (ROWS,)
    _close(y, w.astype(np.float64) @ x)


@pytest.mark.parametrize("n", [1, 4, 20])
def test_matmul_matches_dequantized_product(case, n):
    assert 4 < block_tensor.DENSE_FROM <= 20     # n = 4 and n = 20 take the two matmul paths
    _, t, w = case
    x = np.random.default_rng(n).standard_normal((n, w.shape[1])).astype(np.float32)
    y = t.matmul(x)
    assert y.dtype == np.float32 and y.shape == (n, ROWS)
    _close(y, x.astype(np.float64) @ w.T)


@pytest.mark.parametrize("n", [1, 4, 20])
def test_products_into_views_of_wider_arrays(case, n):
    """out= takes a view (the model writes q | k | v side by side): same numbers as a new array,
    the columns around it untouched; a wrong shape or type is refused."""
    _, t, w = case
    x = np.random.default_rng(n).standard_normal((n, w.shape[1])).astype(np.float32)
    wide = np.full((n, ROWS + 7), 7.0, np.float32)
    assert t.matmul(x, out=wide[:, 3:3 + ROWS]) is not None
    assert np.array_equal(wide[:, 3:3 + ROWS], t.matmul(x))
    assert (wide[:, :3] == 7).all() and (wide[:, 3 + ROWS:] == 7).all()
    row = np.full(ROWS + 2, 7.0, np.float32)
    t.matvec(x[0], out=row[1:-1])
    assert np.array_equal(row[1:-1], t.matvec(x[0])) and row[0] == row[-1] == 7
    with pytest.raises(ValueError, match="output of shape"):
        t.matvec(x[0], out=np.empty(ROWS + 1, np.float32))
    with pytest.raises(ValueError, match="float64"):
        t.matmul(x, out=np.empty((n, ROWS), np.float64))


def test_default_groups_and_row_vector_shapes():
    """A 1-D tensor (a norm weight) and a matrix taller than one default group."""
    rng = np.random.default_rng(5)
    raw = random_raw("Q8_0", (1, 64), rng)
    t = _tensor("Q8_0", (64,), raw)
    assert np.array_equal(t.dequantize(), reference(raw, GGMLQuantizationType.Q8_0).reshape(64))
    rows = tensor.GROUP_WEIGHTS // 256 + 3
    raw = random_raw("Q4_K", (rows, 256), rng)
    t = _tensor("Q4_K", (rows, 256), raw)
    w = reference(raw, GGMLQuantizationType.Q4_K)
    x = rng.standard_normal(256).astype(np.float32)
    _close(t.matvec(x), w.astype(np.float64) @ x)


def test_work_memory_stays_far_below_the_weights(monkeypatch):
    """Products and decoding go a group at a time through reused buffers: the peak stays far
    below the float32 matrix, and what stays allocated (buffers, prebuilt group views) far
    below the quantized tensor itself."""
    monkeypatch.setattr(tensor, "GROUP_WEIGHTS", 1 << 15)
    rows, cols = 4096, 1024
    t = _tensor("Q5_0", (rows, cols), random_raw("Q5_0", (rows, cols), np.random.default_rng(9)))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        results = [t.matvec(np.ones(cols, np.float32)),
                   t.matmul(np.ones((4, cols), np.float32)),
                   t.take_rows(np.arange(0, rows, 64))]
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = current - before - sum(r.nbytes for r in results)
    assert peak - before < rows * cols * 4 / 4
    assert kept < t.nbytes / 2, (kept, t.nbytes)


@pytest.mark.parametrize("name", QUANTS)
def test_resident_bytes_near_file_bytes(name):
    """Repacked planes + float16 block scales: the file's size for the 32-weight formats, a
    little more for K-quants (sub-block scales one byte each); raw bytes are not kept."""
    shape = (64, 2048)
    raw = bytearray(random_raw(name, shape, np.random.default_rng(6)).tobytes())
    info = TensorInfo("t", type_id(name), shape, 0, len(raw))
    t = load_tensor(info, raw)
    before = t.dequantize().copy()
    assert t.nbytes <= (1.0 if _block_size(name) == 32 else 1.2) * len(raw), t.nbytes / len(raw)
    raw[:] = bytes(len(raw))                       # the tensor must hold its own copy
    assert np.array_equal(t.dequantize(), before)


@pytest.mark.parametrize("name", ["Q4_1", "Q8_0", "Q4_K", "IQ4_XS"])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # gguf-py on the nan scale
def test_subnormal_and_nonfinite_block_scales(name, monkeypatch):
    """Block halves are widened exactly: zeros, subnormals and extremes in one tensor; a tensor
    with inf / nan halves (never in real models) still decodes as gguf-py does."""
    rng = np.random.default_rng(10)
    raw = random_raw(name, (ROWS, 2 * _block_size(name)), rng)
    blocks = raw.reshape(-1, GGML_QUANT_SIZES[GGMLQuantizationType[name]][1])
    special = np.array([0.0, -0.0, 6e-8, -6e-8, 3e-5, -6.1e-5, 65504.0, -0.5], np.float16)
    for off in HALF_FIELDS[name]:
        halves = blocks[:, off:off + 2].copy().view(np.float16)         # (n_blocks, 1)
        halves[rng.permutation(len(halves))[:len(special)], 0] = special
        blocks[:, off:off + 2] = halves.view(np.uint8)
    w = reference(raw, GGMLQuantizationType[name]).reshape(ROWS, -1)
    t = _tensor(name, w.shape, raw, monkeypatch)
    assert t.finite and np.array_equal(t.dequantize(), w)
    _close(t.matvec(np.ones(w.shape[1], np.float32)), w.astype(np.float64).sum(axis=1))
    blocks[3, 0:2] = np.array([np.inf], np.float16).view(np.uint8)
    blocks[-1, 0:2] = np.array([np.nan], np.float16).view(np.uint8)
    w = reference(raw, GGMLQuantizationType[name]).reshape(ROWS, -1)
    t = _tensor(name, w.shape, raw, monkeypatch)
    assert not t.finite and np.array_equal(t.dequantize(), w, equal_nan=True)


def test_errors_name_the_tensor():
    with pytest.raises(UnsupportedError, match="test.IQ2_XXS.*IQ2_XXS"):
        load_tensor(TensorInfo("test.IQ2_XXS", 16, (1, 256), 0, 66), bytes(66))
    with pytest.raises(GGUFError, match="tensor 'w'.*Q4_0"):
        load_tensor(TensorInfo("w", 2, (2, 32), 0, 18), bytes(18))
    t = _tensor("Q4_0", (2, 32), np.zeros((2, 18), np.uint8))
    with pytest.raises(ValueError, match="test.Q4_0"):
        t.matvec(np.zeros(31, np.float32))
    with pytest.raises(ValueError, match="row index"):
        t.take_rows([2])


def test_real_model_tensors(smollm2_path, gemma3_path):
    """The first 64 rows of one matrix of each type in the real models."""
    x_rng = np.random.default_rng(7)
    for path in (smollm2_path, gemma3_path):
        gguf = GGUFFile.open(FileSource(str(path)))
        seen = set()
        for info in gguf.tensors.values():
            if info.ggml_type in seen or len(info.shape) != 2:
                continue
            seen.add(info.ggml_type)
            rows, cols = min(64, info.shape[0]), info.shape[1]
            raw = np.frombuffer(gguf.source.read(info.offset, rows * row_nbytes(info.ggml_type, cols)), np.uint8)
            t = load_tensor(TensorInfo(info.name, info.ggml_type, (rows, cols), 0, raw.size), raw)
            w = reference(raw.reshape(rows, -1), GGMLQuantizationType(info.ggml_type))
            assert np.array_equal(t.dequantize(), w), info.name
            x = x_rng.standard_normal(cols).astype(np.float32)
            _close(t.matvec(x), w.astype(np.float64) @ x)


@pytest.mark.parametrize("name", ["F16", "Q4_1", "Q5_0", "Q8_0", "Q4_K", "Q6_K", "IQ4_NL", "IQ4_XS"])
def test_concat_rows(name):
    """q|k|v fused into one tensor: the same weights, row blocks in order."""
    rng = np.random.default_rng(8)
    cols = 2 * _block_size(name) if name != "F16" else 64
    parts, ws = [], []
    for rows in (5, 3, 9):
        raw = random_raw(name, (rows, cols), rng)
        parts.append(_tensor(name, (rows, cols), raw))
        ws.append(reference(raw, GGMLQuantizationType[name]).reshape(rows, cols))
    fused = QuantTensor.concat_rows(parts, "qkv")
    w = np.concatenate(ws)
    assert fused.shape == (17, cols) and fused.name == "qkv"
    assert fused.nbytes == sum(p.nbytes for p in parts)
    assert np.array_equal(fused.dequantize(), w)
    x = rng.standard_normal(cols).astype(np.float32)
    _close(fused.matvec(x), w.astype(np.float64) @ x)
    other = "Q4_0" if name == "Q8_0" else "Q8_0"
    with pytest.raises(ValueError, match="one type and row length"):
        QuantTensor.concat_rows([parts[0], _tensor(other, (2, cols), random_raw(other, (2, cols), rng))], "bad")


@pytest.mark.parametrize("pyodide", [False, True])
@pytest.mark.parametrize("name", ["IQ4_NL", "IQ4_XS"])
def test_table_values_both_ways(name, pyodide, monkeypatch):
    """IQ4 code values come from np.take natively and from indexing in Pyodide, where take is
    slow (codes.table_values): both decode bit-exactly and multiply alike."""
    monkeypatch.setattr(codes, "_PYODIDE", pyodide)
    shape = (ROWS, 2 * _block_size(name))
    raw = random_raw(name, shape, np.random.default_rng(13))
    w = reference(raw, GGMLQuantizationType[name]).reshape(shape)
    t = _tensor(name, shape, raw, monkeypatch)
    assert np.array_equal(t.dequantize(), w) and np.array_equal(dequantize(raw.tobytes(), type_id(name), shape), w)
    x = np.random.default_rng(14).standard_normal((3, shape[1])).astype(np.float32)
    _close(t.matmul(x), x.astype(np.float64) @ w.T)
