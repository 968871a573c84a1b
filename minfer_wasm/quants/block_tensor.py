"""BlockTensor: a block-quantized matrix kept as bit planes + scales, and its kernels.

Storage (about the file's size; float32 d/m make Q4_1 1.2x):
    planes   code bits, unit-major (planes.py)
    d, m     (NB, R) float32 block scale / offset (-dmin for K-quants)
    sc, mn   (U, R) integer sub-block scale / min (K-quants)
A group of rows is unpacked into reused scratch and cast to float32 codes
q (U, g, S); then, for w = a * (q - offset) + c with a, c per unit:
  matvec: one batched matmul gives every unit's dot q[u] . x[u]; the format's
          algebra finishes the rows without ever forming w:
          y[r] = sum_u a[u,r] * (q[u,r] . x[u] - offset * sum(x[u])) + c[u,r] * sum(x[u])
  dequantize: w with the same float32 ops as gguf-py (bit-exact), for matmul,
          take_rows and dequantize.
In Pyodide every numpy call costs microseconds, so each group's calls run on
views prebuilt once (`_Group`) and rebuilt only when a scratch buffer grows.
"""

from __future__ import annotations

import numpy as np

from .codes import QuantType
from .planes import Planes
from .scratch import generation, scratch
from .tensor import QuantTensor


class _Group:
    """Prebuilt views for one group of rows: the unpack steps and every operand."""

    def __init__(self, t: "BlockTensor", rows):
        nb, k, unit = t.d.shape[0], t.per_block, t.qtype.unit
        d = t.d[:, rows]                                                        # (NB, g)
        g = self.g = d.shape[1]
        self.rows = rows
        codes = None if t.planes.direct else scratch("codes", (t.planes.width, g, unit), np.uint8)
        high = None if codes is None else scratch("high", (codes.nbytes // 8,), np.uint64)
        self.steps, self.q = t.planes.unpack_plan(rows, codes, high)            # q: (U, g, S)
        self.w = scratch("codes_f32", self.q.shape, np.float32)                 # (U, g, S)
        self.m = None if t.m is None else t.m[:, rows]                          # (NB, g)
        self.d = d
        if t.sc is not None:       # K-quants: a = d * sc, c = m * mn per unit
            self.d = d.reshape(nb, 1, g)
            self.sc = t.sc[:, rows].reshape(nb, k, g)
            self.a = scratch("a", (nb, k, g), np.float32)
            if t.m is not None:
                self.m = self.m.reshape(nb, 1, g)
                self.mn = t.mn[:, rows].reshape(nb, k, g)
                self.c = scratch("c", (nb, k, g), np.float32)

    def unpack(self) -> np.ndarray:
        """(U, g, S) float32 codes of this group (a scratch view)."""
        for step in self.steps:
            step.ufunc(*step.args, out=step.out)
        np.copyto(self.w, self.q)
        return self.w


class BlockTensor(QuantTensor):
    """A block-format QuantTensor (see the module docstring)."""

    def __init__(self, name: str, qtype: QuantType, shape, blocks: np.ndarray, load_weights: int):
        super().__init__(name, qtype, shape)
        r, nb = blocks.shape[:2]
        self.n_units = self.cols // qtype.unit
        self.per_block = self.n_units // nb                                     # units per block
        self.planes = Planes(qtype.planes, r, self.n_units, qtype.unit, signed=qtype.code_bits == 8)
        first = qtype.scales(blocks[:1])
        self.d = np.empty((nb, r), np.float32)                                  # (NB, R)
        self.m = None if first.m is None else np.empty((nb, r), np.float32)     # (NB, R)
        self.sc = None if first.sc is None else np.empty((self.n_units, r), first.sc.dtype)  # (U, R)
        self.mn = None if first.mn is None else np.empty((self.n_units, r), first.mn.dtype)  # (U, R)
        step = max(1, load_weights // self.cols)
        for r0 in range(0, r, step):
            b = blocks[r0:r0 + step]
            self.planes.fill(r0, b, qtype.codes)
            s = qtype.scales(b)
            for mine, theirs in ((self.d, s.d), (self.m, s.m), (self.sc, s.sc), (self.mn, s.mn)):
                if mine is not None:
                    mine[:, r0:r0 + len(b)] = theirs.T
        self._finish()

    def _concat(self, parts: "list[BlockTensor]") -> None:
        first = parts[0]
        self.n_units, self.per_block = first.n_units, first.per_block
        self.planes = Planes.concat([p.planes for p in parts])
        for field in ("d", "m", "sc", "mn"):
            arrays = [getattr(p, field) for p in parts]
            setattr(self, field, None if arrays[0] is None else np.concatenate(arrays, axis=1))
        self._finish()

    def _finish(self) -> None:
        self.nbytes = self.planes.nbytes + sum(a.nbytes for a in (self.d, self.m, self.sc, self.mn)
                                               if a is not None)
        self._plan, self._plan_generation = [], -1

    def _groups_plan(self) -> list[_Group]:
        if self._plan_generation != generation():
            self._plan = [_Group(self, rows) for rows in self._groups()]
            self._plan_generation = generation()
        return self._plan

    def _matvec_into(self, x: np.ndarray, out: np.ndarray) -> None:
        n_units = self.n_units
        xu = x.reshape(n_units, self.qtype.unit, 1)                            # (U, S, 1)
        xs = np.add.reduce(xu, axis=(1, 2))                                     # (U,) unit sums
        offset = self.qtype.offset
        xo = (np.float32(offset) * xs)[:, None] if offset else None             # (U, 1)
        quants = self.sc is not None                                            # K-quant: per-unit a, c
        for gr in self._groups_plan():
            y = out[gr.rows]                                                    # (g,)
            dots = np.matmul(gr.unpack(), xu).reshape(n_units, gr.g)            # (U, g): q[u] . x[u]
            if xo is not None:
                np.subtract(dots, xo, out=dots)
            a = gr.d                                                            # legacy: a = d (NB = U)
            if quants:
                a = np.multiply(gr.d, gr.sc, out=gr.a).reshape(dots.shape)     # (U, g)
            np.multiply(dots, a, out=dots)
            np.add.reduce(dots, axis=0, out=y)
            if gr.m is not None:
                c = gr.m if not quants else np.multiply(gr.m, gr.mn, out=gr.c).reshape(dots.shape)
                np.add(y, np.matmul(xs, c), out=y)

    def _dequantize_group(self, rows) -> np.ndarray:
        """(g, cols) float32 weights of `rows` (slice or ids), bit-exact: w = a * (q - offset) + c;
        a scratch view."""
        gr = _Group(self, rows)
        w = gr.unpack()                                                         # (U, g, S)
        n_units, g, unit = w.shape
        if self.qtype.offset:
            np.subtract(w, np.float32(self.qtype.offset), out=w)
        wb = w.reshape(self.d.shape[0], -1, g, unit)                            # (NB, k, g, S)
        if self.sc is None:
            np.multiply(wb, gr.d[:, None, :, None], out=wb)
            if gr.m is not None:
                np.add(wb, gr.m[:, None, :, None], out=wb)
        else:
            np.multiply(gr.d, gr.sc, out=gr.a)
            np.multiply(wb, gr.a[..., None], out=wb)
            if gr.m is not None:
                np.multiply(gr.m, gr.mn, out=gr.c)
                np.add(wb, gr.c[..., None], out=wb)
        rows = scratch("rows_f32", (g, n_units, unit), np.float32)
        np.copyto(rows, w.transpose(1, 0, 2))
        return rows.reshape(g, self.cols)
