"""Small GGUF files for tests, written by gguf-py's GGUFWriter (llama.cpp's reference writer).

    path = write_gguf(tmp_path / "m.gguf", {"llama.block_count": (2, GGUFValueType.UINT32)},
                      {"w": np.ones((4, 32), np.float32),                      # F32, shape (4, 32)
                       "q": (blocks_uint8, GGMLQuantizationType.Q8_0)})          # raw quantized rows
"""

from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES

# One value of every GGUF value type (key -> (value, type[, element type])).
EVERY_VALUE_TYPE: dict[str, tuple] = {
    "t.uint8": (200, GGUFValueType.UINT8),
    "t.int8": (-100, GGUFValueType.INT8),
    "t.uint16": (60000, GGUFValueType.UINT16),
    "t.int16": (-30000, GGUFValueType.INT16),
    "t.uint32": (4_000_000_000, GGUFValueType.UINT32),
    "t.int32": (-2_000_000_000, GGUFValueType.INT32),
    "t.uint64": (2**64 - 1, GGUFValueType.UINT64),
    "t.int64": (-(2**63), GGUFValueType.INT64),
    "t.float32": (0.1, GGUFValueType.FLOAT32),
    "t.float64": (0.1, GGUFValueType.FLOAT64),
    "t.bool_true": (True, GGUFValueType.BOOL),
    "t.bool_false": (False, GGUFValueType.BOOL),
    "t.string": ("héllo ✓ \U0001F600", GGUFValueType.STRING),
    "t.empty_string": (b"", GGUFValueType.STRING),
    "t.arr_uint8": ([0, 1, 255], GGUFValueType.ARRAY, GGUFValueType.UINT8),
    "t.arr_int8": ([-128, 0, 127], GGUFValueType.ARRAY, GGUFValueType.INT8),
    "t.arr_uint16": ([0, 65535], GGUFValueType.ARRAY, GGUFValueType.UINT16),
    "t.arr_int16": ([-32768, 32767], GGUFValueType.ARRAY, GGUFValueType.INT16),
    "t.arr_uint32": ([0, 2**32 - 1], GGUFValueType.ARRAY, GGUFValueType.UINT32),
    "t.arr_int32": ([-(2**31), 2**31 - 1], GGUFValueType.ARRAY, GGUFValueType.INT32),
    "t.arr_uint64": ([0, 2**64 - 1], GGUFValueType.ARRAY, GGUFValueType.UINT64),
    "t.arr_int64": ([-(2**63), 2**63 - 1], GGUFValueType.ARRAY, GGUFValueType.INT64),
    "t.arr_float32": ([0.5, -1.25, 3.0e38], GGUFValueType.ARRAY, GGUFValueType.FLOAT32),
    "t.arr_float64": ([0.1, -1e300], GGUFValueType.ARRAY, GGUFValueType.FLOAT64),
    "t.arr_bool": ([True, False, True], GGUFValueType.ARRAY, GGUFValueType.BOOL),
    "t.arr_string": (["a", "", "ü", "<0x0A>"], GGUFValueType.ARRAY, GGUFValueType.STRING),
    "t.arr_nested": ([[1, 2, 3], [4]], GGUFValueType.ARRAY, GGUFValueType.ARRAY),
    "t.arr_nested_str": ([["x", "y"], ["z"]], GGUFValueType.ARRAY, GGUFValueType.ARRAY),
}


def write_gguf(path, metadata: dict[str, Any] | None = None, tensors: dict[str, Any] | None = None,
               arch: str = "llama", alignment: int | None = None) -> Path:
    """Write a GGUF v3 file and return its path.

    metadata: key -> (value, GGUFValueType[, element type]) or a plain value (type
    inferred by gguf-py: str, float32, int32, bool, list). tensors: name ->
    float/int numpy array (F32, F16, I8...) or (uint8 blocks, GGMLQuantizationType).
    """
    path = Path(path)
    writer = GGUFWriter(path, arch)
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    for key, value in (metadata or {}).items():
        if isinstance(value, tuple):
            writer.add_key_value(key, *value)
        else:
            writer.add_key_value(key, value, GGUFValueType.get_type(value))
    for name, tensor in (tensors or {}).items():
        if isinstance(tensor, tuple):
            blocks, ggml_type = tensor
            writer.add_tensor(name, blocks, raw_dtype=GGMLQuantizationType(ggml_type))
        else:
            writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def random_blocks(rng: np.random.Generator, ggml_type: int, rows: int, cols: int) -> np.ndarray:
    """(rows, cols // block_size * type_size) uint8 of random bytes: a raw quantized tensor
    (random scales may decode to inf/nan for float-scaled types; fine for byte-level tests)."""
    block_size, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    return rng.integers(0, 256, (rows, cols // block_size * type_size), dtype=np.uint8)
