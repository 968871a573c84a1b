"""BlockTensor: a block-quantized matrix kept as bit planes + scales, and its kernels.

Storage (the file's bytes for legacy types; K-quants a little more, scales unpacked):
    planes   code bits, unit-major (planes.py)
    halves   (H, NB, R) float16: block scale d, and offset m (min; -dmin for K-quants)
    sc, mn   (U, R) integer sub-block scale / min (K-quants)
A group of rows is unpacked into reused scratch and cast to float32 codes
q (U, g, S) (for the non-linear types, their table values), its halves widened to float32
(codes.widen_steps); then, for w = a * (q - offset) + c with a, c per unit:
  matvec (and matmul of a short prompt): one batched matmul gives every unit's
          dot q[u] . x[u]; the format's algebra finishes the rows without forming w:
          y[r] = sum_u a[u,r] * (q[u,r] . x[u] - offset * sum(x[u])) + c[u,r] * sum(x[u])
  dequantize: w with the same float32 ops as gguf-py (bit-exact), row-major, for
          take_rows, dequantize and matmul of DENSE_FROM tokens or more (one large
          float32 matmul per group beats many unit-sized ones, above all with BLAS).
In Pyodide every numpy call costs microseconds, so each group's calls run on
views prebuilt once (`_Group`) and rebuilt only when a scratch buffer grows.
"""

from __future__ import annotations

import numpy as np

from .codes import QuantType, all_finite, code_values, table_values, widen_steps
from .planes import Planes
from .scratch import generation, scratch
from .tensor import QuantTensor

DENSE_FROM = 16   # prompt length from which matmul dequantizes groups instead (measured crossover)


class _Group:
    """Prebuilt views for one group of rows: the unpack steps and every operand."""

    def __init__(self, t: "BlockTensor", rows):
        nb, k, unit = t.halves.shape[1], t.per_block, t.qtype.unit
        halves = t.halves[:, :, rows]                                           # (H, NB, g) float16
        g = self.g = halves.shape[2]
        self.rows = rows
        codes = None if t.planes.direct else scratch("codes", (t.planes.width, g, unit), np.uint8)
        high = None if codes is None else scratch("high", (codes.nbytes // 8,), np.uint64)
        self.steps, self.q = t.planes.unpack_plan(rows, codes, high)            # q: (U, g, S)
        self.w = scratch("codes_f32", self.q.shape, np.float32)                 # (U, g, S)
        self.table = t.qtype.table                                              # pair table or None
        widened = scratch("halves_f32", halves.shape, np.float32)               # (H, NB, g)
        self.widen_steps = widen_steps(halves, widened, t.finite)
        d = widened[0]                                                          # (NB, g)
        self.d, self.a3 = d, d[:, :, None]                                      # legacy: a = d
        self.m = widened[1] if len(widened) > 1 else None                       # (NB, g)
        self.sc = None if t.sc is None else t.sc[:, rows].reshape(nb, k, g)
        self.c = self.m                                                         # legacy: c = m
        if self.sc is not None:    # K-quants: a = d * sc, c = m * mn per unit, into scratch
            self.d = d.reshape(nb, 1, g)
            self.a = scratch("a", (nb, k, g), np.float32)
            self.a3 = self.a.reshape(nb * k, g, 1)
            if self.m is not None:
                self.m = self.m.reshape(nb, 1, g)
                self.mn = t.mn[:, rows].reshape(nb, k, g)
                self.c = scratch("c", (nb, k, g), np.float32)

    def widen(self) -> None:
        """d and m of this group as float32 (scratch): before scale() and offsets()."""
        for step in self.widen_steps:
            step.ufunc(*step.args, out=step.out)

    def scale(self) -> np.ndarray:
        """(U, g, 1) float32 per-unit scales a (K-quants: d * sc, computed into scratch;
        cast first: a mixed-type broadcast multiply is several times slower in Pyodide)."""
        if self.sc is not None:
            np.copyto(self.a, self.sc)
            np.multiply(self.d, self.a, out=self.a)
        return self.a3

    def offsets(self) -> np.ndarray:
        """(U, g) float32 per-unit additive terms c (K-quants: m * mn, computed into scratch)."""
        if self.sc is None:
            return self.c
        np.copyto(self.c, self.mn)
        np.multiply(self.m, self.c, out=self.c)
        return self.c.reshape(-1, self.g)

    def codes(self) -> np.ndarray:
        """(U, g, S) integer codes of this group (a scratch view, or the plane itself)."""
        for step in self.steps:
            step.ufunc(*step.args, out=step.out)
        return self.q

    def unpack(self) -> np.ndarray:
        """(U, g, S) float32 codes of this group (a scratch view); for the non-linear types their
        values[q] (codes.table_values)."""
        codes = self.codes()
        if self.table is None:
            np.copyto(self.w, codes)
        else:
            table_values(self.table, codes, self.w)
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
        self.halves = np.empty((1 if first.m is None else 2, nb, r), np.float16)  # (H, NB, R)
        self.finite = True
        self.sc = None if first.sc is None else np.empty((self.n_units, r), first.sc.dtype)  # (U, R)
        self.mn = None if first.mn is None else np.empty((self.n_units, r), first.mn.dtype)  # (U, R)
        step = max(1, load_weights // self.cols)
        for r0 in range(0, r, step):
            b = blocks[r0:r0 + step]
            self.planes.fill(r0, b)
            s = qtype.scales(b)
            for mine, theirs in zip(self.halves, (s.d, s.m)):
                mine[:, r0:r0 + len(b)] = theirs.T
                self.finite = self.finite and all_finite(theirs)
            for mine, theirs in ((self.sc, s.sc), (self.mn, s.mn)):
                if mine is not None:
                    mine[:, r0:r0 + len(b)] = theirs.T
        self._finish()

    def _concat(self, parts: "list[BlockTensor]") -> None:
        first = parts[0]
        self.n_units, self.per_block = first.n_units, first.per_block
        self.planes = Planes.concat([p.planes for p in parts])
        self.halves = np.concatenate([p.halves for p in parts], axis=2)
        self.finite = all(p.finite for p in parts)
        for field in ("sc", "mn"):
            arrays = [getattr(p, field) for p in parts]
            setattr(self, field, None if arrays[0] is None else np.concatenate(arrays, axis=1))
        self._finish()

    def _finish(self) -> None:
        self.nbytes = self.planes.nbytes + sum(a.nbytes for a in (self.halves, self.sc, self.mn)
                                               if a is not None)
        self._plan, self._plan_generation = [], -1

    def _groups_plan(self) -> list[_Group]:
        if self._plan_generation != generation():
            self._plan = [_Group(self, rows) for rows in self._groups()]
            self._plan_generation = generation()
        return self._plan

    def _matvec_into(self, x: np.ndarray, out: np.ndarray) -> None:
        self._product(x[None], out[None], self._groups_plan())

    def _matmul_into(self, x: np.ndarray, out: np.ndarray) -> None:
        if len(x) >= DENSE_FROM:      # long prompts: dequantized groups through one (BLAS) matmul
            return super()._matmul_into(x, out)
        # short prompts: the dots take U * g * n floats, no more than the plan's scratch
        # (n < DENSE_FROM <= unit), so the planned groups serve as they are
        self._product(x, out, self._groups_plan())

    def _product(self, x: np.ndarray, out: np.ndarray, groups) -> None:
        """out[:, rows] = x @ W.T for x: (n, cols), out: (n, R), by the format's algebra."""
        n_units, n = self.n_units, len(x)
        xu = x.reshape(n, n_units, self.qtype.unit).transpose(1, 2, 0)          # (U, S, n)
        xs = np.add.reduce(xu, axis=1)                                          # (U, n) unit sums
        offset = self.qtype.offset
        xo = (np.float32(offset) * xs)[:, None, :] if offset else None          # (U, 1, n)
        xs_t = xs.T                                                             # (n, U)
        for gr in groups:
            y = out[:, gr.rows]                                                 # (n, g) view
            gr.widen()
            dots = np.matmul(gr.unpack(), xu)                                   # (U, g, n): q[u] . x[u]
            if xo is not None:
                np.subtract(dots, xo, out=dots)
            np.multiply(dots, gr.scale(), out=dots)                             # * a[u, r]
            np.add.reduce(dots, axis=0, out=y.T)
            if gr.m is not None:
                np.add(y, np.matmul(xs_t, gr.offsets()), out=y)                # + sum_u xs[u] * c[u, r]

    def _dequantize_group(self, rows) -> np.ndarray:
        """(g, cols) float32 weights of `rows` (slice or ids), bit-exact: w = a * v(q) + c;
        a scratch view. Codes go row-major while still bytes (the cheapest transpose)."""
        gr = _Group(self, rows)
        gr.widen()
        q = gr.codes()                                                          # (U, g, S) integers
        n_units, g, unit = q.shape
        q_rows = scratch("codes_rows", (g, n_units, unit), q.dtype)
        np.copyto(q_rows, q.transpose(1, 0, 2))
        w = code_values(q_rows, self.qtype, scratch("rows_f32", (g, n_units, unit), np.float32))  # (g, U, S)
        np.multiply(w, gr.scale().transpose(1, 0, 2), out=w)
        if gr.m is not None:
            np.add(w, gr.offsets().T[:, :, None], out=w)
        return w.reshape(g, self.cols)
