"""Raw blocks of every supported ggml type for the quant tests.

Blocks come from gguf-py's reference quantizer where it has one (legacy types)
or are random bytes whose f16 scale fields are overwritten with finite halves
(the K-quants and IQ4 types, and the legacy types again to reach every bit pattern).
"""

import numpy as np
from gguf import GGMLQuantizationType
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import quantize

# byte offsets of the f16 fields (d, m / dmin) inside one block (ggml-common.h block_* structs)
HALF_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
    "IQ4_NL": [0], "IQ4_XS": [0],
}
FLOATS = ["F32", "F16", "BF16"]
QUANTS = list(HALF_FIELDS)
REFERENCE_QUANTIZER = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]


def type_id(name: str) -> int:
    return int(GGMLQuantizationType[name])


def random_raw(name: str, shape: tuple[int, ...], rng: np.random.Generator, scale: float = 0.05) -> np.ndarray:
    """uint8 bytes of a tensor of `shape` (numpy order): random codes, finite random scales."""
    qt = GGMLQuantizationType[name]
    block_size, type_size = GGML_QUANT_SIZES[qt]
    if name in FLOATS:
        w = rng.standard_normal(shape).astype(np.float32)
        if name == "F16":
            return w.astype(np.float16).view(np.uint8)
        return w.view(np.uint8) if name == "F32" else (w.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    n_blocks = int(np.prod(shape)) // block_size
    raw = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    for off in HALF_FIELDS[name]:
        halves = (rng.standard_normal(n_blocks) * scale).astype(np.float16)
        raw[:, off:off + 2] = halves.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(*shape[:-1], shape[-1] // block_size * type_size)


def reference_raw(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Bytes from gguf-py's quantizer applied to random normal weights."""
    return quantize(rng.standard_normal(shape).astype(np.float32), GGMLQuantizationType[name])
