"""The ggml tensor types: id -> (name, block size, bytes per block).

Follows `enum ggml_type` and `type_traits` in llama.cpp ggml/src/ggml.c
(mirrored by gguf-py `GGMLQuantizationType` / `GGML_QUANT_SIZES`). Ids 4, 5
(Q4_2, Q4_3), 31-33 (Q4_0_4_4 ...) and 36-38 (IQ4_NL_4_4 ...) were removed
from ggml and are not listed. This table only sizes tensors; which types the
engine can dequantize is the quants package's business.
"""

from typing import NamedTuple

QK_K = 256  # elements per super-block of the k-quants and i-quants


class GGMLType(NamedTuple):
    name: str        # as in gguf-py's GGMLQuantizationType, e.g. "Q4_K"
    block_size: int  # elements per block
    type_size: int   # bytes per block


GGML_TYPE_INFO: dict[int, GGMLType] = {
    0: GGMLType("F32", 1, 4),
    1: GGMLType("F16", 1, 2),
    2: GGMLType("Q4_0", 32, 2 + 16),
    3: GGMLType("Q4_1", 32, 2 + 2 + 16),
    6: GGMLType("Q5_0", 32, 2 + 4 + 16),
    7: GGMLType("Q5_1", 32, 2 + 2 + 4 + 16),
    8: GGMLType("Q8_0", 32, 2 + 32),
    9: GGMLType("Q8_1", 32, 4 + 4 + 32),
    10: GGMLType("Q2_K", QK_K, 2 + 2 + QK_K // 16 + QK_K // 4),
    11: GGMLType("Q3_K", QK_K, 2 + QK_K // 4 + QK_K // 8 + 12),
    12: GGMLType("Q4_K", QK_K, 2 + 2 + QK_K // 2 + 12),
    13: GGMLType("Q5_K", QK_K, 2 + 2 + QK_K // 2 + QK_K // 8 + 12),
    14: GGMLType("Q6_K", QK_K, 2 + QK_K // 2 + QK_K // 4 + QK_K // 16),
    15: GGMLType("Q8_K", QK_K, 4 + QK_K + QK_K // 8),
    16: GGMLType("IQ2_XXS", QK_K, 2 + QK_K // 4),
    17: GGMLType("IQ2_XS", QK_K, 2 + QK_K // 4 + QK_K // 32),
    18: GGMLType("IQ3_XXS", QK_K, 2 + QK_K // 4 + QK_K // 8),
    19: GGMLType("IQ1_S", QK_K, 2 + QK_K // 8 + QK_K // 16),
    20: GGMLType("IQ4_NL", 32, 2 + 16),
    21: GGMLType("IQ3_S", QK_K, 2 + QK_K // 4 + QK_K // 8 + QK_K // 32 + 4),
    22: GGMLType("IQ2_S", QK_K, 2 + QK_K // 4 + QK_K // 16),
    23: GGMLType("IQ4_XS", QK_K, 2 + 2 + QK_K // 2 + QK_K // 64),
    24: GGMLType("I8", 1, 1),
    25: GGMLType("I16", 1, 2),
    26: GGMLType("I32", 1, 4),
    27: GGMLType("I64", 1, 8),
    28: GGMLType("F64", 1, 8),
    29: GGMLType("IQ1_M", QK_K, QK_K // 8 + QK_K // 16 + QK_K // 32),
    30: GGMLType("BF16", 1, 2),
    34: GGMLType("TQ1_0", QK_K, 2 + 4 * 13),
    35: GGMLType("TQ2_0", QK_K, 2 + 64),
    39: GGMLType("MXFP4", 32, 1 + 16),
    40: GGMLType("NVFP4", 64, 4 + 32),
    41: GGMLType("Q1_0", 128, 2 + 16),
}


def ggml_type_name(ggml_type: int) -> str:
    """'Q4_K' for a known id, 'unknown type 99' otherwise (for messages)."""
    info = GGML_TYPE_INFO.get(ggml_type)
    return info.name if info else f"unknown type {ggml_type}"


def row_nbytes(ggml_type: int, n_cols: int) -> int:
    """Bytes of one row of n_cols elements; n_cols must be a multiple of the block size."""
    info = GGML_TYPE_INFO[ggml_type]
    return n_cols // info.block_size * info.type_size
