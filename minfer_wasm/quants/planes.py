"""Quant codes kept packed in unit-major bit planes, unpacked a group of rows at a time.

A plane holds some bits of every code of a tensor with R rows, as an array

    (A, B, R, S) uint8    byte (a, b, r, l) holds F = 8 // bits fields; field k
                          is bits [shift, shift + bits) of the code of weight l
                          of unit a*F*B + k*B + b in row r  (units of S weights)

Most planes are the block bytes themselves, only regrouped unit-major: e.g.
Q4_K's 32-byte chunk c holds unit 2c in its low nibbles and 2c+1 in its high
ones (A=4 per block, B=1, F=2, S=32); others are repacked at load (`source`). Rows r0:r1 of a plane are A*B runs of
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
    """One plane of a block format: field width, place in the code, unit order, and bytes."""
    bits: int                  # field width: 1, 2, 4, or 8 (the plane is the codes themselves)
    shift: int                 # fields are bits shift .. shift+bits-1 of the code
    stride: int = 1            # B: units between the fields of one byte
    source: Callable[[np.ndarray], np.ndarray] | None = None
    # source(blocks (r, NB, type_size)) -> this plane's bytes of those rows, (r, A, B, S) in
    # row order (any shape with that many bytes per row), e.g. raw_bytes(16, 144)

    @property
    def fields(self) -> int:
        return 8 // self.bits


def raw_bytes(start: int, stop: int) -> Callable[[np.ndarray], np.ndarray]:
    """A plane stored in the blocks as such: bytes start:stop of every block."""
    return lambda blocks: blocks[:, :, start:stop]


def pack_fields(values: np.ndarray, bits: int) -> np.ndarray:
    """(r, U, S) values < 2**bits -> (r, ceil(U/F), S) bytes, unit F*a + k in field k of byte a
    (F = 8 // bits); missing units are zero."""
    r, u, unit = values.shape
    f = 8 // bits
    if u % f:
        values = np.concatenate([values, np.zeros((r, f - u % f, unit), values.dtype)], axis=1)
    packed = values[:, 0::f].copy()
    for k in range(1, f):
        packed |= values[:, k::f] << (bits * k)
    return packed


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
        self.a = -(-n_units // (spec.fields * spec.stride))   # planes may pad to whole bytes
        self.data = np.empty((self.a, spec.stride, rows, unit), dtype)
        self.n_units = self.a * spec.fields * spec.stride    # units covered, padding included

    def fill(self, r0: int, blocks: np.ndarray) -> None:
        """Store the plane bytes of blocks (r, NB, type_size) as rows r0.. (unit-major)."""
        part = self.spec.source(blocks).reshape(len(blocks), self.a, self.spec.stride, -1)
        self.data[:, :, r0:r0 + len(blocks)] = part.transpose(1, 2, 0, 3)

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

    def fill(self, r0: int, blocks: np.ndarray) -> None:
        """Store rows r0.. from raw blocks (r, NB, type_size)."""
        for p in self.planes:
            p.fill(r0, blocks)

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
