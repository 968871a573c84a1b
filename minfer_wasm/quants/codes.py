"""The one shape every block format is decoded into: integer codes plus scales.

Every supported quant type stores, per row, blocks whose weights are

    w = a * (q - offset) + c          (float32 ops in this order)

with q a small unsigned integer code (int8 for Q8_0), `a` a scale per *unit*
(a run of `unit` consecutive weights: a block, or a K-quant sub-block) and `c`
an optional additive term per unit. A type's decoder turns raw blocks into a
`Codes`; everything else (the bit-exact dequantizer here, the packed layout and
the matmul kernels in planes.py / tensor.py) is shared by all types.

The products are formed exactly as gguf-py's `quants.py` forms them
(`dequantize_blocks`), so dequantization is bit-exact:
a = d (legacy types) or d * sc (K-quants, `d * sc.astype(float32)`);
c = m (Q4_1/Q5_1 min) or (-dmin) * mn (K-quants: `- dmin * m`; IEEE x - y == x + (-y)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class Codes:
    """Decoded blocks of R rows: NB blocks per row, U units of `unit` weights per row."""
    q: np.ndarray                # (R, U, unit) uint8 codes in weight order (int8 for Q8_0)
    d: np.ndarray                # (R, NB) float32 block scale
    m: np.ndarray | None = None  # (R, NB) float32 block offset: min (Q4_1, Q5_1) or -dmin (K-quants)
    sc: np.ndarray | None = None  # (R, U) integer sub-block scale (K-quants): a = d * sc
    mn: np.ndarray | None = None  # (R, U) integer sub-block min (K-quants): c = m * mn


@dataclass(frozen=True)
class QuantType:
    """A block format: sizes (as ggml's type_traits) plus how its bits are laid out."""
    type_id: int
    name: str
    block_size: int                     # weights per block
    type_size: int                      # bytes per block
    unit: int                           # weights sharing one scale (block or sub-block)
    offset: int                         # w = a * (q - offset) + c
    low_bits: int                       # bits of q stored in the low plane: 2, 4 or 8
    high_bits: int                      # bits of q above them (0, 1 or 2), stored in a second plane
    decode: Callable[[np.ndarray], Codes]  # (R, NB, type_size) uint8 -> Codes


def f16_to_f32(raw: np.ndarray) -> np.ndarray:
    """(..., 2) uint8 little-endian halves -> (...) float32 (exact)."""
    return raw.view(np.float16)[..., 0].astype(np.float32)


def unit_scales(codes: Codes) -> tuple[np.ndarray, np.ndarray | None]:
    """a, c: (R, U) float32 per-unit scale and additive term (c None when absent)."""
    r, u = codes.q.shape[:2]
    per_block = u // codes.d.shape[1]
    a = codes.d if codes.sc is None else (codes.d[:, :, None] * codes.sc.reshape(r, -1, per_block)
                                          .astype(np.float32)).reshape(r, u)
    c = codes.m
    if c is not None and codes.mn is not None:
        c = (c[:, :, None] * codes.mn.reshape(r, -1, per_block).astype(np.float32)).reshape(r, u)
    return a, c


def dequantize_codes(codes: Codes, qtype: QuantType) -> np.ndarray:
    """(R, U * unit) float32 weights, bit-exact with gguf-py's dequantize."""
    a, c = unit_scales(codes)
    w = codes.q.astype(np.float32)            # (R, U, unit)
    if qtype.offset:
        w -= np.float32(qtype.offset)         # exact: small integers
    w = a[:, :, None] * w
    if c is not None:
        w += c[:, :, None]
    return w.reshape(len(w), -1)
