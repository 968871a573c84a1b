"""The compiled matrix-product kernels (quant_kernels.c) behind a small ctypes API.

Pyodide-safe: ctypes and numpy only, nothing is compiled here. The library is built from
quant_kernels.c by minfer_wasm/native/kernel_build.py: a wasm side module for the page (written
into Pyodide's file system, then loaded here) or a native shared library.

    kernels = load_kernels(path)
    kernels.supports(ggml_type) -> bool
    kernels.matmul(ggml_type, w_addr, rows, cols, x_addr, n, out_addr, out_stride=0)
    kernels.matmul_arrays(ggml_type, blocks, x) -> np.ndarray

`matmul` is the hot path: it takes integer addresses (cache `array.ctypes.data` of long-lived
arrays; reading it costs about 0.1 ms in Pyodide) and makes one foreign call. The C code checks
the type and the sizes; that the buffers hold what the sizes say is the caller's business.
`matmul_arrays` checks everything and is for tests and occasional calls. Several tokens in one
call (prefill) go through each weight block together: about twice as fast per token as one by
one. A Kernels owns one scratch buffer, so it serves one thread.
"""

from __future__ import annotations

import ctypes

import numpy as np

from ..errors import MinferError, UnsupportedError
from ..ggml_types import GGML_TYPE_INFO, ggml_type_name

ABI = 1   # MINFER_ABI in quant_kernels.c: a library built from another version is refused
_SMALL_SCRATCH = 3   # MINFER_SMALL_SCRATCH; for the other codes _check names what is wrong
# The half-float table of each loaded library (the same path loads the same module: one table,
# alive as long as this process, as the module is).
_HALF_TABLES: dict[int, np.ndarray] = {}
_SCRATCH_STEP = 1 << 16


class KernelError(MinferError):
    """The kernel library cannot be loaded, or a call's sizes do not fit its arguments."""


class Kernels:
    """One loaded kernel library; owns the scratch buffer its calls use."""

    def __init__(self, lib: ctypes.CDLL, path: str):
        self.path = path
        table = _HALF_TABLES.setdefault(lib._handle, np.empty(1 << 16, np.float32))   # (65536,)
        lib.minfer_init(ctypes.c_void_p(table.ctypes.data))
        self.simd = bool(lib.minfer_simd())                      # built with wasm SIMD128
        self.types = frozenset(t for t in GGML_TYPE_INFO if lib.minfer_supports(t))
        lib.minfer_scratch_bytes.argtypes = [ctypes.c_int] * 3
        self._scratch_bytes = lib.minfer_scratch_bytes
        self._matmul = lib.minfer_matmul                         # returns a C int (the default)
        if ctypes.sizeof(ctypes.c_void_p) != 4:
            # 64-bit pointers must be declared; on wasm32 a plain Python int passes as a 32-bit
            # C int (0 .. 2**32 - 1 accepted), and skipping the argtypes converters makes a call
            # about 3x cheaper in Pyodide (1.7 us instead of 5)
            self._matmul.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                     ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                     ctypes.c_void_p, ctypes.c_int]
        self._scratch = np.empty(0, np.uint8)
        self._scratch_addr, self._scratch_size = 0, 0

    def __repr__(self) -> str:
        names = ", ".join(ggml_type_name(t) for t in sorted(self.types))
        return f"Kernels({self.path!r}, {'SIMD' if self.simd else 'scalar'}: {names})"

    def supports(self, ggml_type: int) -> bool:
        return ggml_type in self.types

    def scratch_bytes(self, ggml_type: int, cols: int, n: int) -> int:
        """Scratch bytes a product of n tokens of cols values needs (0 for float weights)."""
        need = self._scratch_bytes(ggml_type, cols, n)
        if need < 0:
            self._check(ggml_type, 1, cols, n, 1)
            raise KernelError(f"kernel scratch for {n} tokens of {cols} values is over 2 GiB")
        return need

    def reserve(self, ggml_type: int, cols: int, n: int) -> None:
        """Grow the scratch now so products up to this size never allocate."""
        need = self.scratch_bytes(ggml_type, cols, n)
        if need > self._scratch_size:
            self._scratch = np.empty(-(-need // _SCRATCH_STEP) * _SCRATCH_STEP, np.uint8)
            self._scratch_addr, self._scratch_size = self._scratch.ctypes.data, self._scratch.size

    def matmul(self, ggml_type: int, w_addr: int, rows: int, cols: int, x_addr: int, n: int,
               out_addr: int, out_stride: int = 0) -> None:
        """out[t * out_stride + r] = sum_k W[r, k] * x[t * cols + k] (float32), r < rows, t < n.

        w_addr: the weights' GGUF bytes, (rows, cols / block_size, type_size) uint8;
        x_addr: (n, cols) float32; out_addr: float32 with room for (n - 1) * out_stride + rows;
        out_stride 0 means rows."""
        stride = out_stride or rows
        code = self._matmul(ggml_type, w_addr, rows, cols, x_addr, n, out_addr, stride,
                            self._scratch_addr, self._scratch_size)
        if code == _SMALL_SCRATCH:
            self.reserve(ggml_type, cols, n)
            code = self._matmul(ggml_type, w_addr, rows, cols, x_addr, n, out_addr, stride,
                                self._scratch_addr, self._scratch_size)
        if code:
            self._check(ggml_type, rows, cols, n, stride)
            raise KernelError(f"kernel call failed with code {code}")

    def matmul_arrays(self, ggml_type: int, blocks: np.ndarray, x: np.ndarray) -> np.ndarray:
        """blocks: (R, NB, type_size) uint8, x: (n, K) or (K,) float32 -> (n, R) or (R,) float32."""
        info = self._info(ggml_type)
        blocks = np.ascontiguousarray(blocks)
        if blocks.dtype != np.uint8 or blocks.ndim != 3 or blocks.shape[2] != info.type_size:
            raise KernelError(f"{info.name} weights must be (rows, blocks, {info.type_size}) uint8, "
                              f"got {blocks.shape} {blocks.dtype}")
        rows, cols = blocks.shape[0], blocks.shape[1] * info.block_size
        xs = np.ascontiguousarray(x, dtype=np.float32)
        if xs.ndim not in (1, 2) or xs.shape[-1] != cols or xs.size == 0 or rows == 0:
            raise KernelError(f"{info.name} product of {rows}x{cols} weights needs x of shape "
                              f"(n, {cols}) or ({cols},), got {np.shape(x)}")
        x2 = xs.reshape(-1, cols)                                 # (n, K)
        out = np.empty((x2.shape[0], rows), np.float32)           # (n, R)
        self.matmul(ggml_type, blocks.ctypes.data, rows, cols, x2.ctypes.data, x2.shape[0],
                    out.ctypes.data, rows)
        return out if xs.ndim == 2 else out[0]

    def _info(self, ggml_type: int):
        if ggml_type not in self.types:
            names = ", ".join(ggml_type_name(t) for t in sorted(self.types))
            raise UnsupportedError(f"no kernel for ggml type {ggml_type_name(ggml_type)} "
                                   f"(id {ggml_type}); kernels: {names}")
        return GGML_TYPE_INFO[ggml_type]

    def _check(self, ggml_type: int, rows: int, cols: int, n: int, stride: int) -> None:
        """Raise the error that names what is wrong with these arguments, if anything is."""
        info = self._info(ggml_type)
        if min(rows, cols, n) <= 0 or cols % info.block_size:
            raise KernelError(f"{info.name} kernel: rows {rows}, cols {cols}, tokens {n}: sizes must "
                              f"be positive and cols a multiple of {info.block_size}")
        if n > 1 and stride < rows:
            raise KernelError(f"{info.name} kernel: out_stride {stride} is less than rows {rows}")


def load_kernels(path) -> Kernels:
    """The kernel library at `path` (a wasm side module in Pyodide, else a native one)."""
    try:
        lib = ctypes.CDLL(str(path))
        abi = lib.minfer_abi()
    except (OSError, AttributeError) as e:
        raise KernelError(f"cannot load the kernels from {path}: {e}") from None
    if abi != ABI:
        raise KernelError(f"kernels at {path} have ABI {abi}, this engine needs {ABI}: rebuild them")
    return Kernels(lib, str(path))


__all__ = ["ABI", "KernelError", "Kernels", "load_kernels"]
