"""QuantTensor: a weight matrix kept in its file's type, multiplied without materializing it.

Block formats (BlockTensor) are stored unit-major: code bits as planes
(planes.py), block scales d and m as float32 (NB, R), integer sub-block scales
as (U, R); about the file's size (float32 d/m: up to 1.2x for Q4_1). A group of
rows is unpacked into reused scratch, cast to float32, and then
  matvec (one token): one batched matmul gives every unit's dot product q . x,
  and the format's algebra finishes the rows (w = a * (q - offset) + c):
      y[r] = sum_u a[u,r] * (q[u,r] . x[u] - offset * sum(x[u])) + c[u,r] * sum(x[u])
  matmul (a prompt) / take_rows / dequantize: the group is dequantized
  bit-exactly (same float ops as gguf-py) and, for matmul, multiplied as float32.
Plain float tensors (FloatTensor) keep their file dtype and convert a group at a time.
"""

from __future__ import annotations

import numpy as np

from . import as_blocks, lookup
from .codes import QuantType
from .floats import FloatType
from .planes import Planes
from .scratch import scratch

GROUP_WEIGHTS = 1 << 18   # weights unpacked at a time: bounds the scratch (float32 group: 1 MiB)
LOAD_WEIGHTS = 1 << 20    # weights decoded at a time while loading


class QuantTensor:
    """Weights of one tensor; see the module docstring. Results are new float32 arrays."""
    name: str
    ggml_type: int
    shape: tuple[int, ...]   # numpy order; (rows, cols) for a matrix
    nbytes: int              # resident bytes held

    @classmethod
    def from_bytes(cls, info, raw) -> "QuantTensor":
        """info: gguf TensorInfo (name, ggml_type, shape); raw: its bytes (copied, not kept)."""
        what = f"tensor '{info.name}'"
        qtype = lookup(info.ggml_type, what)
        blocks = as_blocks(raw, qtype, info.shape, what)          # (R, NB, type_size)
        impl = FloatTensor if isinstance(qtype, FloatType) else BlockTensor
        return impl(info.name, qtype, tuple(int(s) for s in info.shape), blocks)

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
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != ndim or x.shape[-1] != self.cols:
            want = "(cols,)" if ndim == 1 else "(n, cols)"
            raise ValueError(f"{self.name}: input of shape {x.shape}, expected {want} with cols={self.cols}")
        return x

    def matvec(self, x) -> np.ndarray:
        """x: (cols,) -> W @ x: (rows,) float32."""
        x = self._input(x, 1)
        prep = self._prepare(x)
        out = np.empty(self.rows, np.float32)
        for rows in self._groups():
            out[rows] = self._matvec_group(rows, prep)
        return out

    def matmul(self, x) -> np.ndarray:
        """x: (n, cols) -> x @ W.T: (n, rows) float32."""
        x = self._input(x, 2)
        out = np.empty((x.shape[0], self.rows), np.float32)
        for rows in self._groups():
            np.matmul(x, self._dequantize_group(rows).T, out=out[:, rows])
        return out

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

    def _prepare(self, x):
        return x

    def _dequantize_group(self, rows) -> np.ndarray:
        return self.qtype.to_f32(self.data[rows])                              # (g, cols)

    def _matvec_group(self, rows, x) -> np.ndarray:
        return self._dequantize_group(rows) @ x


class BlockTensor(QuantTensor):
    """A block format kept as planes + scales (see the module docstring)."""

    def __init__(self, name: str, qtype: QuantType, shape, blocks: np.ndarray):
        super().__init__(name, qtype, shape)
        r, nb = blocks.shape[:2]
        self.n_units = self.cols // qtype.unit
        self.planes = Planes(qtype.planes, r, self.n_units, qtype.unit, signed=qtype.code_bits == 8)
        first = qtype.scales(blocks[:1])
        self.d = np.empty((nb, r), np.float32)                                 # (NB, R)
        self.m = None if first.m is None else np.empty((nb, r), np.float32)    # (NB, R)
        self.sc = None if first.sc is None else np.empty((self.n_units, r), first.sc.dtype)  # (U, R)
        self.mn = None if first.mn is None else np.empty((self.n_units, r), first.mn.dtype)  # (U, R)
        step = max(1, LOAD_WEIGHTS // self.cols)
        for r0 in range(0, r, step):
            b = blocks[r0:r0 + step]
            self.planes.fill(r0, b, qtype.codes)
            s = qtype.scales(b)
            for mine, theirs in ((self.d, s.d), (self.m, s.m), (self.sc, s.sc), (self.mn, s.mn)):
                if mine is not None:
                    mine[:, r0:r0 + len(b)] = theirs.T
        self.nbytes = self.planes.nbytes + sum(a.nbytes for a in (self.d, self.m, self.sc, self.mn)
                                               if a is not None)

    def _scale(self, block: np.ndarray, sub: np.ndarray | None, rows, name: str) -> np.ndarray:
        """(NB, g) block values, or (U, g) block value * integer sub-block value (K-quants)."""
        if sub is None:
            return block[:, rows]
        nb = block.shape[0]
        g = sub[:, rows].shape[1]
        out = scratch(name, (self.n_units, g), np.float32)
        np.multiply(block[:, None, rows], sub[:, rows].reshape(nb, -1, g), out=out.reshape(nb, -1, g))
        return out

    def _codes_f32(self, rows) -> np.ndarray:
        q = self.planes.unpack(rows)                                           # (U, g, S)
        w = scratch("codes_f32", q.shape, np.float32)
        np.copyto(w, q)
        return w

    def _prepare(self, x):
        xu = x.reshape(self.n_units, self.qtype.unit, 1)                       # (U, S, 1)
        xs = xu.sum(axis=(1, 2))                                               # (U,) unit sums
        return xu, xs, xs.reshape(self.d.shape[0], -1).sum(1)                  # block sums (NB,)

    def _matvec_group(self, rows, prep) -> np.ndarray:
        xu, xs, xb = prep
        dots = np.matmul(self._codes_f32(rows), xu)[:, :, 0]                   # (U, g)
        if self.qtype.offset:
            dots -= np.float32(self.qtype.offset) * xs[:, None]
        a = self._scale(self.d, self.sc, rows, "a")                            # (NB|U, g)
        if len(a) != self.n_units:
            dots = dots.reshape(len(a), -1, dots.shape[1]).sum(1)             # (NB, g)
        y = np.einsum("ug,ug->g", a, dots)
        if self.m is not None:
            c = self._scale(self.m, self.mn, rows, "c")                        # (NB|U, g)
            y += np.einsum("ug,u->g", c, xs if len(c) == self.n_units else xb)
        return y

    def _dequantize_group(self, rows) -> np.ndarray:
        """(g, cols) float32, bit-exact: w = a * (q - offset) + c; a scratch view."""
        w = self._codes_f32(rows)                                              # (U, g, S)
        n_units, g, unit = w.shape
        if self.qtype.offset:
            w -= np.float32(self.qtype.offset)
        a = self._scale(self.d, self.sc, rows, "a")
        w.reshape(len(a), -1, g, unit)[...] *= a[:, None, :, None]
        if self.m is not None:
            c = self._scale(self.m, self.mn, rows, "c")
            w.reshape(len(c), -1, g, unit)[...] += c[:, None, :, None]
        out = scratch("rows_f32", (g, n_units, unit), np.float32)
        np.copyto(out, w.transpose(1, 0, 2))
        return out.reshape(g, self.cols)
