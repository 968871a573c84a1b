"""QuantTensor: a weight matrix kept in its file's type, multiplied without materializing it.

The API every tensor kind shares: plain floats in float_tensor.py, block formats in
block_tensor.py (load.py picks one). Work goes a group of rows at a time
(GROUP_WEIGHTS weights) through reused scratch, so no whole matrix is ever held in
float32 beyond what the file itself stores.
"""

from __future__ import annotations

import numpy as np

GROUP_WEIGHTS = 1 << 19   # weights unpacked at a time: bounds the scratch (float32 group: 2 MiB)


class QuantTensor:
    """Weights of one tensor; results are new float32 arrays. A kind of tensor provides
    _dequantize_group(rows), _matvec_into(x, out) and _concat(parts)."""
    name: str
    ggml_type: int
    shape: tuple[int, ...]   # numpy order; (rows, cols) for a matrix
    nbytes: int              # resident bytes held
    views_source = False     # holds views of the bytes it was loaded from (they must stay)
    path = "numpy"           # where its products run (minfer_wasm/profile.py)

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

    def _output(self, out, shape: tuple[int, ...]) -> np.ndarray:
        if out is None:
            return np.empty(shape, np.float32)
        if out.shape != shape or out.dtype != np.float32:
            raise ValueError(f"{self.name}: output of shape {out.shape} and type {out.dtype}, "
                             f"expected float32 {shape}")
        return out

    def matvec(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """x: (cols,) -> W @ x: (rows,) float32, written into out when given (a view will do)."""
        x = self._input(x, 1)
        out = self._output(out, (self.rows,))
        self._matvec_into(x, out)
        return out

    def matmul(self, x, out: np.ndarray | None = None) -> np.ndarray:
        """x: (n, cols) -> x @ W.T: (n, rows) float32, written into out when given (a view of
        some columns of a wider array will do)."""
        x = self._input(x, 2)
        out = self._output(out, (x.shape[0], self.rows))
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

