"""The one shape every block format is decoded into: integer codes plus scales.

Every supported quant type stores, per row, blocks whose weights are

    w = a * v(q) + c                  (float32 ops in this order)

with q a small unsigned integer code (int8 for Q8_0) and its value v(q) = q - offset, or
values[q] from a table for the non-linear types (IQ4_NL, IQ4_XS: iquants.py); `a` a
scale per *unit* (a run of `unit` consecutive weights sharing one scale: a legacy block,
or a K-quant sub-block) and `c` an optional additive term per unit. A type gives its
codes, its scales and where its code bits sit (planes.py); the bit-exact
dequantizer here and the kernels in block_tensor.py are shared by all types.

The products are formed exactly as gguf-py's `quants.py` forms them
(`dequantize_blocks`), so dequantization is bit-exact:
a = d (legacy types) or d * sc (K-quants, `d * sc.astype(float32)`);
c = m (Q4_1/Q5_1 min) or (-dmin) * mn (K-quants: `- dmin * m`; IEEE x - y == x + (-y)).
The block halves d, m stay float16 (exact, the file's 2 bytes); `widen_steps` turns
a group of them into float32 with integer ops (cheaper than a float16 cast in Pyodide).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..f16 import widen_ops
from .planes import PlaneSpec, Step

_PYODIDE = sys.platform == "emscripten"   # its np.take is slow (table_values)


@dataclass
class Scales:
    """Per-block and per-unit scales of R rows (NB blocks, U units per row)."""
    d: np.ndarray                 # (R, NB) float16 block scale
    m: np.ndarray | None = None   # (R, NB) float16 block offset: min (Q4_1, Q5_1) or -dmin (K-quants)
    sc: np.ndarray | None = None  # (R, U) integer sub-block scale (K-quants): a = d * sc
    mn: np.ndarray | None = None  # (R, U) integer sub-block min (K-quants): c = m * mn


@dataclass(frozen=True, kw_only=True)
class QuantType:
    """A block format: sizes (as ggml's type_traits) plus how its bits are laid out."""
    type_id: int
    name: str
    block_size: int                              # weights per block
    type_size: int                               # bytes per block
    unit: int                                    # weights sharing one scale
    offset: int                                  # w = a * (q - offset) + c
    code_bits: int                               # q is in [0, 2**code_bits) (int8 for Q8_0)
    planes: tuple[PlaneSpec, ...]                # where the code bits sit (planes.py)
    codes: Callable[[np.ndarray], np.ndarray]    # (R, NB, type_size) uint8 -> (R, U, unit) q
                                                 # (the plain decoding, for dequantize())
    scales: Callable[[np.ndarray], Scales]       # (R, NB, type_size) uint8 -> Scales
    table: np.ndarray | None = None              # non-linear types (offset 0) weigh code q as
                                                 # values[q]: pair_table(values)


def halves(raw: np.ndarray) -> np.ndarray:
    """(..., 2) uint8 little-endian halves -> (...) float16 (a view)."""
    return raw.view(np.float16)[..., 0]


def widen_steps(h: np.ndarray, out: np.ndarray, finite: bool) -> list[Step]:
    """Calls that set out (float32) to h (float16, same shape) exactly: integer ops for finite
    halves (f16.widen_ops), otherwise (inf / nan present) a plain cast."""
    if not finite:
        return [Step(np.positive, (h,), out)]
    return [Step(*op) for op in widen_ops(h, out)]


def all_finite(h: np.ndarray) -> bool:
    """No inf or nan among the float16 values h (exponent field not all ones)."""
    return not np.any((h.view(np.uint16) & 0x7C00) == 0x7C00)


def _per_unit(block: np.ndarray, sub: np.ndarray | None, n_units: int) -> np.ndarray:
    """(R, NB) block value [* (R, U) integer sub-block value] -> (R, U) float32."""
    r, nb = block.shape
    per_block = n_units // nb
    if sub is None:
        return np.repeat(block, per_block, axis=1)
    return (block[:, :, None] * sub.reshape(r, nb, per_block).astype(np.float32)).reshape(r, n_units)


def pair_table(values: np.ndarray) -> np.ndarray:
    """(16,) float32 values of 4-bit codes -> (0xF10,) uint64 whose entry lo | hi << 8 holds the
    float32 pair (values[lo], values[hi]): two neighbouring uint8 codes, read as one uint16,
    look up both values in one take() (1.8x faster than a take() per code)."""
    i = np.arange(0xF10)
    pairs = np.stack([values[i & 15], values[i >> 8 & 15]], axis=-1).astype(np.float32)   # (0xF10, 2)
    return pairs.view(np.uint64).reshape(-1)


def table_values(table: np.ndarray, q: np.ndarray, out: np.ndarray) -> None:
    """out (float32, q's shape; both C-contiguous, an even last axis) = values[q] for 4-bit uint8
    codes q and table = pair_table(values). Measured on 512K codes, same runs: natively take()
    0.19 ms, indexing and a copy 0.42; in Pyodide take() 1.9-15 ms, indexing and a copy 0.6-1.7."""
    pairs, out_pairs = q.view(np.uint16), out.view(np.uint64)
    if _PYODIDE:
        np.copyto(out_pairs, table[pairs])
    else:
        np.take(table, pairs, out=out_pairs, mode="wrap")    # "wrap": its fastest mode (all in range)


def code_values(q: np.ndarray, qtype: QuantType, out: np.ndarray) -> np.ndarray:
    """out (float32, q's shape) = v(q): q - offset, or values[q] for the non-linear types
    (exact: small integers either way)."""
    if qtype.table is not None:
        table_values(qtype.table, np.ascontiguousarray(q), out)
    elif qtype.offset:
        np.subtract(q, np.float32(qtype.offset), out=out)
    else:
        np.copyto(out, q)
    return out


def dequantize_codes(q: np.ndarray, s: Scales, qtype: QuantType) -> np.ndarray:
    """q: (R, U, unit) codes -> (R, U * unit) float32 weights, bit-exact with gguf-py."""
    n_units = q.shape[1]
    w = code_values(q, qtype, np.empty(q.shape, np.float32))
    w *= _per_unit(s.d.astype(np.float32), s.sc, n_units)[:, :, None]
    if s.m is not None:
        w += _per_unit(s.m.astype(np.float32), s.mn, n_units)[:, :, None]
    return w.reshape(len(w), -1)
