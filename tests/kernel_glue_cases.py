"""Cases and references for the compiled gated activation (glue_kernels.c), shared by the native
test (test_kernels_glue.py) and its Pyodide run (pyodide_node/check_glue.py).

A case is one (n, 2 cols) float32 gate | up buffer, as model.Buffers.gate_up: gaussian values
of a few units (the models' gates reach +-20), an odd cols (the SIMD loop's scalar tail runs),
and in its first row the extremes: +-100, the clamp edges of exp, zeros, tiny and subnormal
values, the largest floats, NaN and infinities.
"""

import numpy as np

from minfer_wasm.layers import gelu_mul, silu_mul

ACTS = {"silu": silu_mul, "gelu_tanh": gelu_mul}
COLS, N = 1027, 5
EXTREMES = np.array([100.0, -100.0, 88.5, -88.5, 87.5, -87.5, 44.0, -44.0, 20.0, -20.0, 0.0, -0.0,
                     1e-30, -1e-30, 1e-40, -1e-40, 3.4e38, -3.4e38, 1e20, -1e20, np.nan, np.inf,
                     -np.inf], np.float32)


def act_case(seed: int, n: int = N, cols: int = COLS) -> np.ndarray:
    """(n, 2 cols) float32 gate | up, extremes in row 0's gates (their ups gaussian)."""
    rng = np.random.default_rng(seed)
    gate_up = (rng.standard_normal((n, 2 * cols)) * np.float32(4)).astype(np.float32)
    gate_up[0, :len(EXTREMES)] = EXTREMES
    return gate_up


def numpy_act(act: str, gate_up: np.ndarray) -> np.ndarray:
    """The numpy path (layers.silu_mul / gelu_mul) on a copy: (n, cols) act(gate) * up."""
    cols = gate_up.shape[1] // 2
    out = gate_up.copy()
    with np.errstate(all="ignore"):
        ACTS[act](out[:, :cols], out[:, cols:], np.empty_like(out[:, :cols]))
    return out[:, :cols]


def exact_act(act: str, gate_up: np.ndarray) -> np.ndarray:
    """float64 g * sigmoid(z) * up, the form accurate in both tails (0.5 (1 + tanh(y)) = sigmoid(2y))."""
    cols = gate_up.shape[1] // 2
    g, u = gate_up[:, :cols].astype(np.float64), gate_up[:, cols:].astype(np.float64)
    with np.errstate(all="ignore"):
        z = g if act == "silu" else 2 * np.sqrt(2 / np.pi) * g * (1 + 0.044715 * g * g)
        return g / (1 + np.exp(-z)) * u


def act_errors(act: str, gate_up: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Errors of got (n, cols) on the case's finite inputs whose exact result is a finite float32:
    `abs`: |got - numpy path|; `numpy`: that over |gate * up|, and `sigmoid`: |got - exact| over
    |gate * up| (both the sigmoid factor's absolute error: what a product of floats keeps; where
    gate is a normal float, as a subnormal one keeps fewer digits in any product); `rel`: against
    the exact value where that is at least 1e-30 (numpy's tanh form loses the negative tail
    there: 1 + tanh(y) cancels)."""
    cols = gate_up.shape[1] // 2
    g, u = gate_up[:, :cols].astype(np.float64), gate_up[:, cols:].astype(np.float64)
    exact = exact_act(act, gate_up)
    ok = np.isfinite(g) & np.isfinite(u) & (np.abs(exact) < np.finfo(np.float32).max)
    got64, exact = got.astype(np.float64)[ok], exact[ok]
    diff = np.abs(got64 - numpy_act(act, gate_up)[ok])
    gu = np.abs(g * u)[ok]
    normal = (np.abs(g[ok]) >= np.finfo(np.float32).tiny) & (gu > 0)
    big = np.abs(exact) >= 1e-30
    return {"abs": float(diff.max()), "numpy": float((diff[normal] / gu[normal]).max()),
            "sigmoid": float((np.abs(got64 - exact)[normal] / gu[normal]).max()),
            "rel": float((np.abs(got64 - exact)[big] / np.abs(exact[big])).max())}
