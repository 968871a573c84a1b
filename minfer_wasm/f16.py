"""float16 values widened to float32 exactly with integer ops.

A float16's sign, exponent and mantissa moved into float32 places (sign-extended
to bit 31, bits 28..30 cleared, exponent and mantissa at bits 13..27) make the
float32 h * 2**-112: the exponent bias differs by 127 - 15 = 112. That is exact
for normal and subnormal halves alike, and a multiply by 2**112 (F16_UNIT)
finishes the widening. numpy's own float16 cast converts one value at a time in
software: measured 5x slower natively and 2x-3x slower in Pyodide than these
whole-array ufunc calls. An infinite half comes out as +-65536, a nan as a finite
value beyond that. Used for the quant block scales (quants/codes.py) and the
float16 KV cache (kv_cache.py), which leaves the last multiply to the attention.
"""

from __future__ import annotations

import numpy as np

F16_UNIT = np.float32(2.0 ** 112)        # placed values are the halves divided by this
_SIGN_AND_BODY = np.int32(-0x70000001)   # 0x8FFFFFFF: bit 31 and bits 0..27
_SHIFT_13 = 1 << 13                      # an integer multiply: cheaper than a shift in Pyodide


def place(h: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (float32) = h (float16, same shape) / F16_UNIT, exactly; returns out."""
    bits = out.view(np.int32)
    np.copyto(bits, h.view(np.int16))                    # sign-extended to 32 bits
    np.multiply(bits, _SHIFT_13, out=bits)
    np.bitwise_and(bits, _SIGN_AND_BODY, out=bits)
    return out


def widen_ops(h: np.ndarray, out: np.ndarray) -> list[tuple]:
    """The (ufunc, args, out) calls that set out (float32) to h (float16) exactly: place(),
    as ufunc calls for plans built once and run many times, then the multiply by F16_UNIT."""
    bits = out.view(np.int32)
    return [(np.positive, (h.view(np.int16),), bits),     # sign-extended to 32 bits
            (np.multiply, (bits, _SHIFT_13), bits),
            (np.bitwise_and, (bits, _SIGN_AND_BODY), bits),
            (np.multiply, (out, F16_UNIT), out)]
