"""The non-linear 4-bit formats: IQ4_NL (32 weights per block) and IQ4_XS (256).

Layouts follow `block_iq4_nl` and `block_iq4_xs` in llama.cpp ggml/src/ggml-common.h and
`dequantize_row_iq4_nl` / `dequantize_row_iq4_xs` in ggml/src/ggml-quants.c (gguf-py
quants.py: `IQ4_NL.dequantize_blocks`, `IQ4_XS.dequantize_blocks`). A 4-bit code q does
not weigh q - 8 but KVALUES[q] (`kvalues_iq4nl`), 16 levels spaced more tightly near zero,
where most weights are. The codes sit in the bytes as Q4_0's do, one 32-weight run at a time.
"""

from __future__ import annotations

import numpy as np

from .codes import QuantType, Scales, halves, pair_table
from .legacy import nibbles, paired_nibbles
from .planes import PlaneSpec

# kvalues_iq4nl (ggml-common.h): the weight of each 4-bit code, before the scale
KVALUES = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113],
                   np.float32)                                               # (16,)


def _runs(qs: np.ndarray) -> np.ndarray:
    """(R, NB, 16k) packed bytes -> (R, NB * k, 16): one row of 16 bytes per 32-weight run."""
    return qs.reshape(qs.shape[0], -1, 16)


# IQ4_NL (18 B) | d:f16 | qs[16]: qs[j] = q[j] | q[j+16] << 4 (as Q4_0) |   w = d * KVALUES[q]
#   plane: as Q4_0's, blocks 2i and 2i+1 sharing plane bytes
IQ4_NL = QuantType(type_id=20, name="IQ4_NL", block_size=32, type_size=18, unit=32, offset=0, code_bits=4,
                   planes=(PlaneSpec(bits=4, shift=0, source=lambda b: paired_nibbles(b[..., 2:18])),),
                   codes=lambda b: nibbles(b[..., 2:18]),
                   scales=lambda b: Scales(d=halves(b[..., 0:2])),
                   table=pair_table(KVALUES))


# IQ4_XS (136 B): 8 units of 32 weights
#   | d:f16 0 | scales_h:u16 2 | scales_l[4] 4..7 | qs[128] 8..135 |
#   six-bit ls[j] = (nibble j&1 of scales_l[j>>1]) | (bits 2j..2j+1 of scales_h) << 4
#   qs[16j .. 16j+15] hold unit j as a Q4_0 block's qs
#   w = d * (ls[j] - 32) * KVALUES[q]
#   plane: as IQ4_NL's over the units, units 2i and 2i+1 sharing plane bytes
def _iq4_xs_scales(b):
    r, nb = b.shape[:2]
    low = (b[..., 4:8].reshape(r, nb, 4, 1) >> np.array([0, 4], np.uint8)) & 15          # (R, NB, 4, 2)
    high = (b[..., 2:4].view(np.uint16) >> np.arange(0, 16, 2, dtype=np.uint16)) & 3      # (R, NB, 8)
    ls = low.reshape(r, nb, 8) | (high.astype(np.uint8) << 4)
    return Scales(d=halves(b[..., 0:2]), sc=(ls.astype(np.int8) - np.int8(32)).reshape(r, nb * 8))


IQ4_XS = QuantType(type_id=23, name="IQ4_XS", block_size=256, type_size=136, unit=32, offset=0, code_bits=4,
                   planes=(PlaneSpec(bits=4, shift=0, source=lambda b: paired_nibbles(_runs(b[..., 8:136]))),),
                   codes=lambda b: nibbles(_runs(b[..., 8:136])),
                   scales=_iq4_xs_scales,
                   table=pair_table(KVALUES))

I_TYPES = [IQ4_NL, IQ4_XS]
