"""Reused work buffers: one growing byte buffer per name, handed out as typed views.

The kernels run one call at a time (CPython CLI, or the single Pyodide worker),
so a view is valid until the next request for the same name.
"""

from __future__ import annotations

import numpy as np

_buffers: dict[str, np.ndarray] = {}


def scratch(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialized C-contiguous array of shape/dtype backed by buffer `name`."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = _buffers.get(name)
    if buf is None or buf.nbytes < nbytes:
        buf = _buffers[name] = np.empty(-(-max(nbytes, 8) // 8), np.uint64).view(np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def scratch_nbytes() -> int:
    """Bytes currently held by all scratch buffers (for memory accounting)."""
    return sum(b.nbytes for b in _buffers.values())
