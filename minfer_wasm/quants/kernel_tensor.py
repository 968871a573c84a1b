"""KernelTensor: a matrix kept as the GGUF's own bytes and multiplied by the compiled kernels.

The bytes are not copied: in the page they are views of the buffer the model was downloaded
into, so the weights take exactly the file's size. Products go through `_Staging`, input and
output buffers whose addresses are read once (reading an array's address costs microseconds in
Pyodide, a hundred times a token). Rows are decoded (take_rows, dequantize) by the registry's
numpy decoders, bit-exact as on the numpy path, so both paths embed tokens alike.
"""

from __future__ import annotations

import numpy as np

from .registry import decode_blocks
from .tensor import QuantTensor


class _Staging:
    """Float32 input and output buffers at known addresses, grown when a product needs more."""

    def __init__(self):
        self.x = self.out = np.empty(0, np.float32)
        self.x_addr = self.out_addr = 0

    def fit(self, x_size: int, out_size: int) -> "_Staging":
        if x_size > self.x.size:
            self.x = np.empty(x_size, np.float32)
            self.x_addr = self.x.ctypes.data
        if out_size > self.out.size:
            self.out = np.empty(out_size, np.float32)
            self.out_addr = self.out.ctypes.data
        return self


_STAGING = _Staging()


class KernelTensor(QuantTensor):
    """Weights as the file's blocks, (R, NB, type_size) uint8; products by `kernels`."""
    views_source = True
    path = "kernel"

    def __init__(self, name: str, qtype, shape, blocks: np.ndarray, kernels):
        super().__init__(name, qtype, shape)
        self.kernels = kernels
        self._set_blocks([blocks])

    def _concat(self, parts: "list[KernelTensor]") -> None:
        """Rows of several tensors: their blocks stay where they are, one kernel call each."""
        self.kernels = parts[0].kernels
        self._set_blocks([b for p in parts for b in p.blocks])

    def _set_blocks(self, blocks: list[np.ndarray]) -> None:
        self.blocks = blocks                     # each (R_i, NB, type_size) uint8, rows in order
        self.segments = []                       # (address, first row, rows) per block array
        first = 0
        for b in blocks:
            self.segments.append((b.ctypes.data, first, len(b)))
            first += len(b)
        self.nbytes = sum(b.nbytes for b in blocks)

    def _matvec_into(self, x: np.ndarray, out: np.ndarray) -> None:
        self._product(x, 1, out)

    def _matmul_into(self, x: np.ndarray, out: np.ndarray) -> None:
        self._product(x, len(x), out)

    def _product(self, x: np.ndarray, n: int, out: np.ndarray) -> None:
        """out (n rows of `rows` values, any strides) = x (n rows of cols values) @ W.T, one
        kernel call per block array, through the staging buffers."""
        staging = _STAGING.fit(x.size, n * self.rows)
        np.copyto(staging.x[:x.size], x.reshape(-1))
        for addr, first, rows in self.segments:
            self.kernels.matmul(self.ggml_type, addr, rows, self.cols, staging.x_addr, n,
                                staging.out_addr + 4 * first, self.rows)
        np.copyto(out, staging.out[:n * self.rows].reshape(out.shape))

    def _dequantize_group(self, rows) -> np.ndarray:
        """(g, cols) float32 weights of `rows` (slice or ids), decoded as on the numpy path."""
        blocks = self.blocks[0] if len(self.blocks) == 1 else np.concatenate(self.blocks)
        return decode_blocks(blocks[rows], self.qtype)                          # (g, cols)
