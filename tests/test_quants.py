"""Dequantization is bit-exact against gguf-py's numpy reference (gguf.quants.dequantize)."""

import zlib

import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize as reference

from minfer_wasm.errors import GGUFError, UnsupportedError
from minfer_wasm.ggml_types import GGML_TYPE_INFO, row_nbytes
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.quants import GGML_TYPES, dequantize
from minfer_wasm.sources import FileSource
from quant_blocks import FLOATS, QUANTS, REFERENCE_QUANTIZER, random_raw, reference_raw, type_id

SHAPES = [(1, 1), (3, 2), (7, 5), (2, 3, 4)]   # last dim in blocks


def _shape(name: str, blocks_shape) -> tuple[int, ...]:
    block = GGML_QUANT_SIZES[GGMLQuantizationType[name]][0]
    return (*blocks_shape[:-1], blocks_shape[-1] * block)


def _check(name: str, raw: np.ndarray, shape) -> None:
    expected = reference(raw, GGMLQuantizationType[name]).reshape(shape)
    got = dequantize(raw.tobytes(), type_id(name), shape)
    assert got.dtype == np.float32 and got.shape == tuple(shape)
    assert np.array_equal(got, expected, equal_nan=True), name


@pytest.mark.parametrize("name", FLOATS + QUANTS)
@pytest.mark.parametrize("blocks_shape", SHAPES)
def test_random_blocks_bit_exact(name, blocks_shape):
    shape = _shape(name, blocks_shape)
    rng = np.random.default_rng(zlib.crc32(f"{name} {blocks_shape}".encode()))
    _check(name, random_raw(name, shape, rng), shape)


@pytest.mark.parametrize("name", REFERENCE_QUANTIZER)
@pytest.mark.parametrize("blocks_shape", SHAPES)
def test_reference_quantized_blocks_bit_exact(name, blocks_shape):
    shape = _shape(name, blocks_shape)
    _check(name, reference_raw(name, shape, np.random.default_rng(1)), shape)


@pytest.mark.parametrize("name", FLOATS + QUANTS)
def test_result_owns_its_memory(name):
    """The weights stay when the raw buffer changes (a released file page, a freed download)."""
    raw = bytearray(random_raw(name, _shape(name, (2, 2)), np.random.default_rng(3)).tobytes())
    got = dequantize(raw, type_id(name), _shape(name, (2, 2)))
    before = got.copy()
    raw[:] = bytes(len(raw))
    assert np.array_equal(got, before, equal_nan=True)


def test_every_code_value_is_reached():
    """Random bytes cover each type's full code range, so the layouts are tested at their edges."""
    rng = np.random.default_rng(2)
    for name in QUANTS:
        t = GGML_TYPES[type_id(name)]
        q = t.codes(random_raw(name, (64, 4 * t.block_size), rng).reshape(64, 4, t.type_size))
        assert len(np.unique(q)) == 1 << t.code_bits, name


def test_registry_sizes_match_ggml_type_table():
    for tid, t in GGML_TYPES.items():
        info = GGML_TYPE_INFO[tid]
        assert (t.name, t.block_size, t.type_size) == (info.name, info.block_size, info.type_size)


def test_unsupported_type_is_named():
    with pytest.raises(UnsupportedError, match="IQ2_XXS"):
        dequantize(bytes(66), 16, (256,))


def test_wrong_byte_count_names_type_and_shape():
    with pytest.raises(GGUFError, match=r"Q8_0.*\(2, 32\)"):
        dequantize(bytes(34), 8, (2, 32))


def test_row_not_multiple_of_block_size():
    with pytest.raises(GGUFError, match="multiple of the Q4_K block size 256"):
        dequantize(bytes(144), 12, (1, 128))


def _real_model_rows(path, n_rows=3):
    """(name, type id, raw first rows as uint8, shape) of the first matrix of each type in a model."""
    gguf = GGUFFile.open(FileSource(str(path)))
    seen = {}
    for info in gguf.tensors.values():
        if info.ggml_type not in seen and len(info.shape) == 2:
            nbytes = n_rows * row_nbytes(info.ggml_type, info.shape[1])
            raw = np.frombuffer(gguf.source.read(info.offset, nbytes), np.uint8).reshape(n_rows, -1)
            seen[info.ggml_type] = (info.name, info.ggml_type, raw, (n_rows, info.shape[1]))
    return seen.values()


def test_real_models_bit_exact(smollm2_path, gemma3_path):
    for path in (smollm2_path, gemma3_path):
        for name, tid, raw, shape in _real_model_rows(path):
            expected = reference(raw, GGMLQuantizationType(tid))
            got = dequantize(raw.tobytes(), tid, shape)
            assert np.array_equal(got, expected), (path, name)
