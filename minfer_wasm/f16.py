"""float16 values widened to float32 exactly with integer ops.

numpy's float16 cast converts one value at a time in software: measured 5x slower
natively and 2x slower in Pyodide than these four whole-array ufunc calls. Used for
the quant block scales (quants/codes.py) and the float16 KV cache (kv_cache.py).
"""

from __future__ import annotations

import numpy as np

_F16_BIAS_GAP = np.float32(2.0 ** 112)   # 2**(127 - 15): float32 exponent bias minus float16's
_SIGN_AND_BODY = np.int32(-0x70000001)   # 0x8FFFFFFF: bit 31 and bits 0..27


def widen_ops(h: np.ndarray, out: np.ndarray) -> list[tuple]:
    """(ufunc, args, out) calls that set out (float32) to h (float16, same shape) exactly for
    finite halves: the bits moved into place with integer ops, sign-extended to bit 31 (bits
    28..30 cleared), exponent and mantissa at bits 13..27, then * 2**112 rebiases the exponent;
    exact for normal and subnormal halves alike (a float32 times a power of two in range).
    An infinite half comes out as +-65536, a nan as a finite value beyond that."""
    bits = out.view(np.int32)
    return [(np.positive, (h.view(np.int16),), bits),          # sign-extended to 32 bits
            (np.left_shift, (bits, 13), bits),
            (np.bitwise_and, (bits, _SIGN_AND_BODY), bits),
            (np.multiply, (out, _F16_BIAS_GAP), out)]


def widen(h: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (float32) = h (float16, finite), exactly (see widen_ops); returns out."""
    for ufunc, args, dst in widen_ops(h, out):
        ufunc(*args, out=dst)
    return out
