"""The quantizers against gguf-py: Q8_0, Q4_0, Q4_1 and F16 give gguf.quants.quantize's bytes;
Q4_K (which gguf-py cannot quantize) decodes, by gguf-py's dequantize, to within its bounds, and
all four give the bytes of ggml's C quantizer when its library is at hand: the one in
llama-cpp-python (the `bench` extra), or a libggml-base.so named by MINFER_GGML_BASE."""

import ctypes
import os
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize as gguf_dequantize
from gguf.quants import quantize as gguf_quantize

from minfer_wasm.errors import UnsupportedError
from minfer_wasm.quants import dequantize
from minfer_wasm.quants.quantize import quantize, type_for


def weights(seed: int, rows: int = 48, cols: int = 512) -> np.ndarray:
    """Gaussian weights with the blocks that test the edge cases: all zero, constant, one outlier,
    exact halves (ties of the rounding), huge and tiny magnitudes."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    w[0, :64] = 0
    w[1, :32] = 1.25
    w[2, 40] = -30
    w[3, :32] = np.arange(-16, 16, dtype=np.float32) * 0.5
    w[4] *= 1e4
    w[5] *= 1e-6
    w[6, :256] = np.abs(w[6, :256])           # all positive: Q4_K keeps min 0
    return w


@pytest.mark.parametrize("name,gguf_type", [("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1),
                                            ("f16", T.F16), ("f32", T.F32)])
@pytest.mark.parametrize("seed", [1, 2])
def test_blocks_equal_gguf_py_byte_for_byte(name, gguf_type, seed):
    w = weights(seed)
    ours = quantize(w, type_for(name))                                  # (rows, bytes per row)
    ref = np.ascontiguousarray(gguf_quantize(w, gguf_type)).view(np.uint8).reshape(ours.shape)
    assert ours.dtype == np.uint8
    assert np.array_equal(ours, ref), f"{np.count_nonzero(ours != ref)} bytes differ"


def test_q4_k_decodes_within_its_bounds():
    w = weights(3)
    blocks = quantize(w, type_for("q4_k"))                              # (rows, 2 * 144)
    assert blocks.shape == (48, 2 * 144)
    back = gguf_dequantize(blocks, T.Q4_K).reshape(w.shape)
    assert np.array_equal(back, dequantize(blocks.tobytes(), type_for("q4_k").type_id, w.shape))
    # each weight within two quantization steps of its 32-weight sub-block (codes 0..15 span
    # max - min; the 6-bit sub-block scales are steps of the super-block's largest); row 5 (weights ~1e-6) is below what the f16 super-block
    # scales can resolve, as in ggml, and is only held to an absolute bound
    normal = np.delete(np.arange(len(w)), 5)
    sub = w[normal].reshape(-1, 32)
    step = (sub.max(1) - np.minimum(sub.min(1), 0)) / 15
    err = np.abs(back[normal].reshape(-1, 32) - sub)
    assert np.all(err <= 2 * step[:, None])
    assert np.abs(back[5] - w[5]).max() < 1e-5
    # the optimizing search beats the plain min..max grid of Q4_1 (same 4-bit codes) on average
    q41 = gguf_dequantize(gguf_quantize(w, T.Q4_1), T.Q4_1).reshape(w.shape)
    assert np.sqrt(np.mean((back - w) ** 2)) < np.sqrt(np.mean((q41 - w) ** 2))
    assert np.all(back[0, :64] == 0)


def ggml_base_library() -> ctypes.CDLL:
    """ggml's base library (it holds ggml_quantize_chunk), or a skip saying why there is none."""
    path = os.environ.get("MINFER_GGML_BASE")
    if not path:
        llama_cpp = pytest.importorskip(
            "llama_cpp", reason="no ggml library: llama-cpp-python (the `bench` extra) is not "
                                "installed and MINFER_GGML_BASE is not set")
        found = sorted(Path(llama_cpp.__file__).parent.rglob("libggml-base.*"))
        if not found:
            pytest.skip("llama-cpp-python ships no libggml-base library")
        path = str(found[0])
    lib = ctypes.CDLL(path)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    return lib


@pytest.mark.parametrize("name,gguf_type", [("q4_k", T.Q4_K), ("q8_0", T.Q8_0), ("q4_0", T.Q4_0),
                                            ("q4_1", T.Q4_1)])
def test_blocks_equal_ggml_c_quantizer(name, gguf_type):
    lib = ggml_base_library()
    rng = np.random.default_rng(17)
    for w in (weights(4), (rng.standard_t(3, (32, 1024)) * 100).astype(np.float32)):
        ours = quantize(w, type_for(name))
        theirs = np.zeros_like(ours)
        # ggml_quantize_chunk(type, src, dst, start, nrows, n_per_row, imatrix = NULL): the _ref code
        lib.ggml_quantize_chunk(int(gguf_type), w.ctypes.data, theirs.ctypes.data, 0, w.shape[0], w.shape[1], None)
        assert np.array_equal(ours, theirs), f"{np.count_nonzero(ours != theirs)} bytes differ"


def test_rows_not_whole_blocks_are_refused():
    with pytest.raises(UnsupportedError, match="not a multiple of the Q4_K block size 256"):
        quantize(np.zeros((2, 96), np.float32), type_for("q4_k"))
    with pytest.raises(UnsupportedError, match="unknown quantization type 'q5_k'"):
        type_for("q5_k")
