"""Quant codes kept packed in unit-major bit planes, unpacked a group of rows at a time.

A plane holds some bits of every code of a tensor with R rows, as an array

    (A, B, R, S) uint8    byte (a, b, r, l) holds F = 8 // bits fields; field k
                          is bits [shift, shift + bits) of the code of weight l
                          of unit a*F*B + k*B + b in row r  (units of S weights)

Most planes are the block bytes themselves, only regrouped unit-major: e.g.
Q4_K's 32-byte chunk c holds unit 2c in its low nibbles and 2c+1 in its high
ones (A=4 per block, B=1, F=2, S=32). Rows r0:r1 of a plane are A*B runs of
(r1-r0)*S contiguous bytes, so unpacking a group of rows is a few whole-array
shifts and masks on uint64 views (8 bytes per element), whatever the format.
Unpacking is planned as a list of ufunc calls on prebuilt views (`Step`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np


@dataclass(frozen=True)
class PlaneSpec:
    """One plane of a block format: its field width, position in the code and unit order."""
    bits: int                  # field width: 1, 2, 4, or 8 (the plane is the codes themselves)
    shift: int                 # fields are bits shift .. shift+bits-1 of the code
    groups: int = 1            # A: plane rows per block (per row of units when packed)
    stride: int = 1            # B: units between the fields of one byte
    start: int | None = None   # byte range in the block; None: packed from the codes (B = 1)
    stop: int | None = None

    @property
    def fields(self) -> int:
        return 8 // self.bits


class Step(NamedTuple):
    """One ufunc call: ufunc(*args, out=out)."""
    ufunc: Callable
    args: tuple
    out: np.ndarray


def _byte_mask(bits: int, shift: int) -> np.uint64:
    """((1 << bits) - 1) << shift in each of the 8 bytes of a uint64."""
    return np.uint64((((1 << bits) - 1) << shift) * 0x0101010101010101)


def _shifts(values) -> np.ndarray:
    return np.array(values, np.uint64).reshape(-1, 1, 1)


class Plane:
    """One plane's bytes (A, B, R, S) and how to unpack its fields into codes."""

    def __init__(self, spec: PlaneSpec, n_units: int, rows: int, unit: int, dtype=np.uint8):
        self.spec = spec
        self.a = -(-n_units // (spec.fields * spec.stride))   # pads packed planes to whole bytes
        self.data = np.empty((self.a, spec.stride, rows, unit), dtype)
        self.n_units = self.a * spec.fields * spec.stride    # units covered, padding included

    def fill_raw(self, r0: int, blocks: np.ndarray) -> None:
        """Copy this plane's bytes of blocks (r, NB, type_size) into rows r0.. ."""
        s, (r, nb, _) = self.spec, blocks.shape
        part = blocks[:, :, s.start:s.stop].reshape(r, nb * s.groups, s.stride, -1)
        self.data[:, :, r0:r0 + r] = part.transpose(1, 2, 0, 3)

    def fill_codes(self, r0: int, q: np.ndarray) -> None:
        """Pack this plane's bits of codes q (r, U, S) into rows r0.. (B = 1: unit F*a + k)."""
        s, (r, u, unit) = self.spec, q.shape
        f, mask = s.fields, (1 << s.bits) - 1
        if u < self.n_units:                                    # pad to whole bytes with zero codes
            q = np.concatenate([q, np.zeros((r, self.n_units - u, unit), q.dtype)], axis=1)
        fields = (q >> s.shift) & mask if s.shift else q & mask
        packed = fields[:, 0::f].copy()                         # (r, A, S)
        for k in range(1, f):
            packed |= fields[:, k::f] << (s.bits * k)
        self.data[:, 0, r0:r0 + r] = packed.transpose(1, 0, 2)

    def steps(self, rows, codes: np.ndarray, tmp: np.ndarray | None) -> list[Step]:
        """Calls that write (tmp None: the first plane) or OR (tmp: a uint64 scratch of the
        codes' size) this plane's fields for `rows` into codes (>= n_units, g, S) uint8."""
        s, f = self.spec, self.spec.fields
        p = self.data[:, :, rows]                                          # (A, B, g, S)
        src = p.reshape(self.a, 1, s.stride, -1).view(np.uint64)           # (A, 1, B, g*S/8)
        dst = codes[:self.n_units].reshape(self.a, f, s.stride, -1).view(np.uint64)
        if tmp is None:            # low bits: field 0 is a mask, fields k > 0 a shift and a mask
            mask = _byte_mask(s.bits, 0)
            steps = [Step(np.bitwise_and, (src, mask), dst[:, :1])]
            if f > 1:
                steps.append(Step(np.right_shift, (src, _shifts(range(s.bits, 8, s.bits))), dst[:, 1:]))
                steps.append(Step(np.bitwise_and, (dst[:, 1:], mask), dst[:, 1:]))
            return steps
        # high bits: field k moves from bit bits*k up/down to bit `shift`, is masked, OR-ed in
        out = tmp[:dst.size].reshape(dst.shape)
        moves = [s.bits * k - s.shift for k in range(f)]
        n_left = sum(m < 0 for m in moves)
        steps = []
        if n_left:
            steps.append(Step(np.left_shift, (src, _shifts([-m for m in moves[:n_left]])), out[:, :n_left]))
        if n_left < f:
            steps.append(Step(np.right_shift, (src, _shifts(moves[n_left:])), out[:, n_left:]))
        steps.append(Step(np.bitwise_and, (out, _byte_mask(s.bits, s.shift)), out))
        steps.append(Step(np.bitwise_or, (dst, out), dst))
        return steps


class Planes:
    """All planes of one tensor's codes: (R, U, S) codes in about the file's bytes."""

    def __init__(self, specs: tuple[PlaneSpec, ...], rows: int, n_units: int, unit: int, signed: bool):
        self.specs, self.n_units, self.unit, self.signed = specs, n_units, unit, signed
        dtype = np.int8 if signed else np.uint8
        self.planes = [Plane(s, n_units, rows, unit, dtype if s.bits == 8 else np.uint8) for s in specs]
        self.width = max(p.n_units for p in self.planes)   # units of the unpack buffer
        self.direct = specs[0].bits == 8                    # the plane is the codes: nothing to unpack

    @property
    def nbytes(self) -> int:
        return sum(p.data.nbytes for p in self.planes)

    @classmethod
    def concat(cls, parts: "list[Planes]") -> "Planes":
        """Planes holding the rows of `parts` (same format and row length) in order."""
        first = parts[0]
        rows = [p.planes[0].data.shape[2] for p in parts]
        out = cls(first.specs, sum(rows), first.n_units, first.unit, first.signed)
        r0 = 0
        for part, r in zip(parts, rows):
            for mine, theirs in zip(out.planes, part.planes):
                mine.data[:, :, r0:r0 + r] = theirs.data
            r0 += r
        return out

    def fill(self, r0: int, blocks: np.ndarray, codes) -> None:
        """Store rows r0.. from raw blocks (r, NB, type_size); codes(blocks) gives (r, U, S)
        codes for planes not stored in the blocks as such."""
        q = None
        for p in self.planes:
            if p.spec.start is not None:
                p.fill_raw(r0, blocks)
            else:
                q = codes(blocks) if q is None else q
                p.fill_codes(r0, q)

    def unpack_plan(self, rows, codes: np.ndarray | None, tmp: np.ndarray | None):
        """(steps, q): running the steps leaves `rows`' codes in q (U, g, S). codes: a
        (width, g, S) uint8 buffer and tmp a uint64 buffer of the same bytes (unused
        when the plane holds the codes as such: then q is a view of the plane)."""
        if self.direct:
            p = self.planes[0].data[:, :, rows]
            return [], p.reshape(self.n_units, p.shape[2], self.unit)
        steps = []
        for i, p in enumerate(self.planes):
            steps += p.steps(rows, codes, None if i == 0 else tmp)
        return steps, codes[:self.n_units]
