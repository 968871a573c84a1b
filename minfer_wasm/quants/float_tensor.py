"""FloatTensor: F32 / F16 / BF16 weights kept in their file dtype, converted a group at a time."""

from __future__ import annotations

import numpy as np

from .floats import FloatType
from .tensor import QuantTensor


class FloatTensor(QuantTensor):
    """F32 / F16 / BF16: the file's values in its dtype, (R, cols)."""

    def __init__(self, name: str, qtype: FloatType, shape, blocks: np.ndarray):
        super().__init__(name, qtype, shape)
        self.data = blocks.view(qtype.dtype).reshape(self.rows, self.cols).copy()   # (R, cols)
        self.nbytes = self.data.nbytes
        if qtype.dtype is np.float32:
            self.group = self.rows     # nothing to convert: one matmul over the whole matrix

    def _concat(self, parts) -> None:
        self.data = np.concatenate([p.data for p in parts])                    # (R, cols)
        self.nbytes = self.data.nbytes
        if self.qtype.dtype is np.float32:
            self.group = self.rows

    def _dequantize_group(self, rows) -> np.ndarray:
        return self.qtype.to_f32(self.data[rows])                              # (g, cols)

    def _matvec_into(self, x: np.ndarray, out: np.ndarray) -> None:
        for rows in self._groups():
            np.matmul(self._dequantize_group(rows), x, out=out[rows])
