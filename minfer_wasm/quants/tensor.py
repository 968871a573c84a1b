"""QuantTensor: a weight matrix kept in its file's type, multiplied without materializing it.

The API every tensor type shares; block formats live in block_tensor.py. Work
goes a group of rows at a time (GROUP_WEIGHTS weights) through reused scratch,
so no whole matrix is ever held in float32 beyond what the file itself stores.
Plain float tensors (FloatTensor) keep their file dtype and convert a group at a time.
"""

from __future__ import annotations

import numpy as np

from . import as_blocks, lookup
from .floats import FloatType

GROUP_WEIGHTS = 1 << 19   # weights unpacked at a time: bounds the scratch (float32 group: 2 MiB)
LOAD_WEIGHTS = 1 << 20    # weights decoded at a time while loading


class QuantTensor:
    """Weights of one tensor; results are new float32 arrays."""
    name: str
    ggml_type: int
    shape: tuple[int, ...]   # numpy order; (rows, cols) for a matrix
    nbytes: int              # resident bytes held

    @classmethod
    def from_bytes(cls, info, raw) -> "QuantTensor":
        """info: gguf TensorInfo (name, ggml_type, shape); raw: its bytes (copied, not kept)."""
        from .block_tensor import BlockTensor

        what = f"tensor '{info.name}'"
        qtype = lookup(info.ggml_type, what)
        blocks = as_blocks(raw, qtype, info.shape, what)          # (R, NB, type_size)
        shape = tuple(int(s) for s in info.shape)
        if isinstance(qtype, FloatType):
            return FloatTensor(info.name, qtype, shape, blocks)
        return BlockTensor(info.name, qtype, shape, blocks, LOAD_WEIGHTS)

    @classmethod
    def concat_rows(cls, tensors: "list[QuantTensor]", name: str) -> "QuantTensor":
        """One tensor holding the rows of `tensors` in order (same type and row length), so a
        single matvec serves several projections of one input (q|k|v, gate|up). The result
        owns copies: drop the parts to free their memory."""
        first = tensors[0]
        for t in tensors[1:]:
            if (t.ggml_type, t.cols, len(t.shape)) != (first.ggml_type, first.cols, 2) or len(first.shape) != 2:
                raise ValueError(f"cannot concatenate rows of {first!r} and {t!r}: "
                                 f"need matrices of one type and row length")
        out = object.__new__(type(first))
        QuantTensor.__init__(out, name, first.qtype, (sum(t.rows for t in tensors), first.cols))
        out._concat(tensors)
        return out

    def __init__(self, name: str, qtype, shape: tuple[int, ...]):
        self.name, self.qtype, self.shape = name, qtype, shape
        self.ggml_type = qtype.type_id
        self.cols = shape[-1]
        self.rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
        self.group = max(1, GROUP_WEIGHTS // self.cols)

    def __repr__(self) -> str:
        return f"QuantTensor({self.name!r}, {self.qtype.name}, {self.shape}, {self.nbytes} bytes)"

    def _groups(self):
        for r0 in range(0, self.rows, self.group):
            yield slice(r0, min(r0 + self.group, self.rows))

    def _input(self, x, ndim: int) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != ndim or x.shape[-1] != self.cols:
            want = "(cols,)" if ndim == 1 else "(n, cols)"
            raise ValueError(f"{self.name}: input of shape {x.shape}, expected {want} with cols={self.cols}")
        return x

    def matvec(self, x) -> np.ndarray:
        """x: (cols,) -> W @ x: (rows,) float32."""
        out = np.empty(self.rows, np.float32)
        self._matvec_into(self._input(x, 1), out)
        return out

    def matmul(self, x) -> np.ndarray:
        """x: (n, cols) -> x @ W.T: (n, rows) float32."""
        x = self._input(x, 2)
        out = np.empty((x.shape[0], self.rows), np.float32)
        self._matmul_into(x, out)
        return out

    def _matmul_into(self, x: np.ndarray, out: np.ndarray) -> None:
        """Dequantize a group of rows at a time and multiply as float32."""
        for rows in self._groups():
            np.matmul(x, self._dequantize_group(rows).T, out=out[:, rows])

    def take_rows(self, ids) -> np.ndarray:
        """ids: (k,) row indices -> (k, cols) float32; only those rows are decoded."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.rows):
            raise ValueError(f"{self.name}: row index outside [0, {self.rows})")
        out = np.empty((len(ids), self.cols), np.float32)
        for i in range(0, len(ids), self.group):
            out[i:i + self.group] = self._dequantize_group(ids[i:i + self.group])
        return out

    def dequantize(self) -> np.ndarray:
        """All weights as float32 of `shape` (for tests and small tensors)."""
        out = np.empty((self.rows, self.cols), np.float32)
        for rows in self._groups():
            out[rows] = self._dequantize_group(rows)
        return out.reshape(self.shape)


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
