"""A tensor's raw GGUF bytes in: a QuantTensor kept in its type, or float32 weights.

`load_tensor` picks the QuantTensor kind: KernelTensor when compiled kernels are given and
cover the type, else from the registry entry (FloatTensor for plain floats, BlockTensor for
block formats). `dequantize` matches gguf-py's `gguf.quants.dequantize` bit for bit.
Both copy what they keep (never a view of raw: that would keep a mapped file's pages or a
downloaded buffer alive), except a KernelTensor, whose weights are the file's bytes.
"""

from __future__ import annotations

import numpy as np

from .block_tensor import BlockTensor
from .float_tensor import FloatTensor
from .floats import FloatType
from .kernel_tensor import KernelTensor
from .registry import as_blocks, decode_blocks, lookup
from .tensor import QuantTensor

LOAD_WEIGHTS = 1 << 20    # weights decoded at a time: bounds the temporaries of loading


def load_tensor(info, raw, kernels=None) -> QuantTensor:
    """info: gguf TensorInfo (name, ggml_type, shape); raw: its bytes. With `kernels` (a
    minfer_wasm.kernels.Kernels) that support the type, a KernelTensor keeps raw itself (a view:
    the file's bytes are the weights); otherwise raw is copied, not kept."""
    what = f"tensor '{info.name}'"
    qtype = lookup(info.ggml_type, what)
    blocks = as_blocks(raw, qtype, info.shape, what)          # (R, NB, type_size)
    shape = tuple(int(s) for s in info.shape)
    if kernels is not None and kernels.supports(info.ggml_type):
        return KernelTensor(info.name, qtype, shape, blocks, kernels)
    if isinstance(qtype, FloatType):
        return FloatTensor(info.name, qtype, shape, blocks)
    return BlockTensor(info.name, qtype, shape, blocks, LOAD_WEIGHTS)


def dequantize(raw, ggml_type: int, shape) -> np.ndarray:
    """A new float32 array of `shape` from the tensor's raw bytes, bit-exact vs gguf-py."""
    qtype = lookup(ggml_type)
    blocks = as_blocks(raw, qtype, shape)                 # (R, NB, type_size)
    rows, nb, _ = blocks.shape
    out = np.empty((rows, nb * qtype.block_size), np.float32)   # a copy even for F32: raw can go
    step = max(1, LOAD_WEIGHTS // max(1, nb * qtype.block_size))
    for r0 in range(0, rows, step):
        out[r0:r0 + step] = decode_blocks(blocks[r0:r0 + step], qtype)
    return out.reshape(shape)
