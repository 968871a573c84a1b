"""Reused work buffers: one growing byte buffer per name, handed out as typed views.

The kernels run one call at a time (CPython CLI, or the single Pyodide worker),
so a view is valid until the next request for the same name. Kernels may keep
views across calls (prebuilt group plans) as long as `generation()` is unchanged:
it advances whenever a buffer is replaced by a bigger one.
"""

from __future__ import annotations

import numpy as np

_buffers: dict[str, np.ndarray] = {}
_generation = [0]


def scratch(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialized C-contiguous array of shape/dtype backed by buffer `name`."""
    dtype = np.dtype(dtype)
    n = dtype.itemsize
    for s in shape:
        n *= s
    buf = _buffers.get(name)
    if buf is None or buf.nbytes < n:
        size = max(n, 2 * buf.nbytes if buf is not None else 0, 8)
        buf = _buffers[name] = np.empty(-(-size // 8), np.uint64).view(np.uint8)
        _generation[0] += 1
    return buf[:n].view(dtype).reshape(shape)


def generation() -> int:
    """Changes whenever any buffer was reallocated (views taken before are stale)."""
    return _generation[0]
