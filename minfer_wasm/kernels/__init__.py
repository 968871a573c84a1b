"""The compiled kernels behind a small ctypes API: matrix products (quant_kernels.c), and the
gated activation and the attention around them (glue_kernels.c).

Pyodide-safe: ctypes and numpy only, nothing is compiled here. The library is built from
quant_kernels.c and glue_kernels.c by minfer_wasm/native/kernel_build.py: a wasm side module
for the page (written into Pyodide's file system, then loaded here) or a native shared library.

    kernels = load_kernels(path)
    kernels.supports(ggml_type) -> bool
    kernels.matmul(ggml_type, w_addr, rows, cols, x_addr, n, out_addr, out_stride=0)
    kernels.matmul_arrays(ggml_type, blocks, x) -> np.ndarray
    kernels.gated_activation("silu" | "gelu_tanh") -> act_mul(gate, up, tmp=None)
    kernels.attention() -> attention(q, k, v, mask, out, unit=1.0)

`matmul` is the hot path: it takes integer addresses (cache `array.ctypes.data` of long-lived
arrays; reading it costs about 0.1 ms in Pyodide) and makes one foreign call. The C code checks
the type and the sizes; that the buffers hold what the sizes say is the caller's business.
`matmul_arrays` checks everything and is for tests and occasional calls. Several tokens in one
call (prefill) go through each weight block together: about twice as fast per token as one by
one. A Kernels owns one scratch buffer, so it serves one thread.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

from ..errors import MinferError, UnsupportedError
from ..ggml_types import GGML_TYPE_INFO, ggml_type_name

ABI = 3   # MINFER_ABI in quant_kernels.c: a library built from another version is refused
_SMALL_SCRATCH = 3   # MINFER_SMALL_SCRATCH; for the other codes _check names what is wrong
# The half-float table of each loaded library (the same path loads the same module: one table,
# alive as long as this process, as the module is).
_HALF_TABLES: dict[int, np.ndarray] = {}
_SCRATCH_STEP = 1 << 16
ACTIVATIONS = {"silu": 0, "gelu_tanh": 1}   # minfer_act_mul's act codes (glue_kernels.c)


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
        self._act_mul = lib.minfer_act_mul
        if ctypes.sizeof(ctypes.c_void_p) != 4:
            self._act_mul.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 3
        self._attention = lib.minfer_attention
        if ctypes.sizeof(ctypes.c_void_p) != 4:
            p, i = ctypes.c_void_p, ctypes.c_int
            self._attention.argtypes = [p, i, i, i, i, p, p, i, i, i, p, p, i, i, p]
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

    def gated_activation(self, act: str) -> "GatedActivation":
        """The compiled `gate <- act(gate) * up` for act "silu" or "gelu_tanh": called as
        layers.silu_mul / gelu_mul are (their results within a few float32 roundings)."""
        if act not in ACTIVATIONS:
            raise UnsupportedError(f"no kernel for the activation {act!r}; kernels: {', '.join(ACTIVATIONS)}")
        return GatedActivation(self._act_mul, act)

    def attention(self) -> "Attention":
        """The compiled layers.attention (softmax attention over the cached keys and values),
        called as it is (its results within float32 rounding of a different summation order)."""
        return Attention(self._attention)

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


class GatedActivation:
    """gate <- act(gate) * up in place by one foreign call (minfer_act_mul). The arrays' addresses
    and layout are read and checked once per pair of arrays: the model passes the same two views
    of its gate | up buffer to every layer."""

    def __init__(self, act_mul, act: str):
        self.act, self._code, self._act_mul = act, ACTIVATIONS[act], act_mul
        self._last = None   # (gate, up, gate address, up address, cols, n, row stride)

    def __call__(self, gate: np.ndarray, up: np.ndarray, tmp: np.ndarray | None = None) -> None:
        """gate, up: (n, cols) float32, values of a row contiguous, one row stride for both (the
        halves of one (n, 2 cols) buffer, or contiguous arrays); tmp is not needed (layers' API)."""
        last = self._last
        if last is None or last[0] is not gate or last[1] is not up:
            last = self._last = (gate, up, *_act_layout(gate, up))
        code = self._act_mul(self._code, *last[2:])
        if code:
            raise KernelError(f"{self.act} kernel call failed with code {code}")


def _act_layout(gate: np.ndarray, up: np.ndarray) -> tuple[int, int, int, int, int]:
    """(gate address, up address, cols, n, row stride in floats) of a pair minfer_act_mul takes,
    or a KernelError naming what does not fit."""
    g2, u2 = gate.reshape(1, -1) if gate.ndim == 1 else gate, up.reshape(1, -1) if up.ndim == 1 else up
    if (gate.dtype != np.float32 or up.dtype != np.float32 or g2.ndim != 2 or g2.shape != u2.shape
            or g2.size == 0):
        raise KernelError(f"the activation kernel needs gate and up of one shape (n, cols) float32, got "
                          f"{gate.shape} {gate.dtype} and {up.shape} {up.dtype}")
    n, cols = g2.shape
    stride = g2.strides[0] // 4 if n > 1 else cols
    if (g2.strides[1] != 4 or u2.strides[1] != 4 or (n > 1 and (u2.strides[0] != g2.strides[0]
            or g2.strides[0] % 4 or stride < cols)) or not gate.flags.writeable):
        raise KernelError(f"the activation kernel needs writable gate and up rows of contiguous values "
                          f"and one row stride, got strides {gate.strides} and {up.strides}")
    return gate.ctypes.data, up.ctypes.data, cols, n, stride


class Attention:
    """layers.attention by one foreign call (minfer_attention). q, out and mask are the same
    arrays for every layer of a step: their layout is checked and their addresses read once per
    array; the keys and values (new views every layer) on every call."""

    def __init__(self, attention):
        self._attention = attention
        self._q = self._out = self._mask = self._unit = None      # the last ones seen
        self._query = self._mask_addr = self._unit_exp = None     # what was read from them
        self._scratch, self._scratch_addr = np.empty(0, np.float32), 0

    def __call__(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None,
                 out: np.ndarray, unit: float = 1.0) -> None:
        """q: (n, n_head, d) float32 already scaled; k, v: (n_kv, T, d) float32 divided by unit
        (a power of two), rows of d values; mask: (n, T) additive or None; out: (n, n_head * d)."""
        if q is not self._q or out is not self._out:
            self._query, self._q, self._out = _query_layout(q, out), q, out
        if mask is not self._mask:
            self._mask_addr, self._mask = _mask_address(mask, len(q)), mask
        if unit != self._unit:
            self._unit_exp, self._unit = _power_of_two(unit), unit
        q_addr, q_stride, n, n_head, d, out_addr, out_stride = self._query
        if (k.ndim != 3 or k.dtype != np.float32 or v.dtype != np.float32 or k.shape != v.shape
                or k.strides != v.strides or k.shape[2] != d or k.strides[1:] != (4 * d, 4)
                or k.strides[0] % 4 or n_head % k.shape[0] or (mask is not None and mask.shape[1] != k.shape[1])):
            raise KernelError(f"the attention kernel needs keys and values of one layout (n_kv, T, {d}) "
                              f"float32 with rows of {d} values, n_kv dividing {n_head} heads and T "
                              f"the mask's, got {k.shape} {k.dtype} {k.strides} and {v.shape} {v.dtype} "
                              f"{v.strides}")
        n_kv, T = k.shape[:2]
        if d + T > self._scratch.size:
            self._scratch = np.empty(-(-(d + T) // 4096) * 4096, np.float32)
            self._scratch_addr = self._scratch.ctypes.data
        code = self._attention(q_addr, q_stride, n, n_head, d, k.ctypes.data, v.ctypes.data,
                               k.strides[0] // 4, n_kv, T, self._mask_addr, out_addr, out_stride,
                               self._unit_exp, self._scratch_addr)
        if code:
            raise KernelError(f"attention kernel call failed with code {code}")


def _query_layout(q: np.ndarray, out: np.ndarray) -> tuple[int, int, int, int, int, int, int]:
    """(q address, q token stride, n, n_head, d, out address, out row stride) in floats, or a
    KernelError: q (n, n_head, d) with its heads side by side, out (n, n_head * d) rows."""
    if (q.ndim != 3 or q.dtype != np.float32 or q.size == 0 or q.strides[1:] != (4 * q.shape[2], 4)
            or q.strides[0] % 4 or (len(q) > 1 and q.strides[0] < q[0].nbytes)):
        raise KernelError(f"the attention kernel needs q of shape (n, n_head, d) float32 with each "
                          f"token's heads side by side, got {q.shape} {q.dtype} {q.strides}")
    n, n_head, d = q.shape
    if (out.shape != (n, n_head * d) or out.dtype != np.float32 or out.strides[1] != 4
            or out.strides[0] % 4 or (n > 1 and out.strides[0] < 4 * n_head * d) or not out.flags.writeable):
        raise KernelError(f"the attention kernel needs a writable out of shape ({n}, {n_head * d}) "
                          f"float32 with contiguous rows, got {out.shape} {out.dtype} {out.strides}")
    return (q.ctypes.data, q.strides[0] // 4 if n > 1 else n_head * d, n, n_head, d,
            out.ctypes.data, out.strides[0] // 4 if n > 1 else n_head * d)


def _mask_address(mask: np.ndarray | None, n: int) -> int:
    """The address of an additive (n, T) float32 C-contiguous mask (0 for None)."""
    if mask is None:
        return 0
    if mask.ndim != 2 or len(mask) != n or mask.dtype != np.float32 or not mask.flags.c_contiguous:
        raise KernelError(f"the attention kernel needs a C-contiguous ({n}, T) float32 mask, "
                          f"got {mask.shape} {mask.dtype}")
    return mask.ctypes.data


def _power_of_two(unit: float) -> int:
    """e with unit = 2^e, -126 <= e <= 127 (the attention's unit), or a KernelError."""
    mantissa, exp = math.frexp(float(unit))
    if mantissa != 0.5 or not -126 <= exp - 1 <= 127:
        raise KernelError(f"the attention kernel's unit must be a power of two 2^-126 .. 2^127, got {unit}")
    return exp - 1


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


__all__ = ["ABI", "ACTIVATIONS", "Attention", "GatedActivation", "KernelError", "Kernels", "load_kernels"]
