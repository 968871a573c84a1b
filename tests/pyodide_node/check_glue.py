"""Inside Pyodide: the wasm SIMD glue kernels (glue_kernels.c) on saved cases.

    node tests/pyodide_node/run.mjs --mount DIR tests/pyodide_node/check_glue.py MODULE.so CASES.npz OUT.npz

CASES.npz (written by tests/test_kernels_glue.py and test_kernels_attention.py) holds
- gated activations: `acts` and per case i the (n, 2 cols) gate | up buffer `{i}`;
- attention: `attention` (case names) and per case i `a{i}.qkv`, `a{i}.kv`, `a{i}.unit`,
  `a{i}.n_head`, `a{i}.T` and, if it has one, `a{i}.mask` (kernel_attention_cases.py).
The module is copied into Pyodide's own file system and loaded with ctypes.CDLL, as the page
does. OUT.npz gets `simd` and each result, `{i}.got` (n, cols) or `a{i}.got` (n, n_head * d).
Prints each case's errors.
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..")]

from check_kernels import load_as_the_page  # noqa: E402
from kernel_attention_cases import attention_error, with_views  # noqa: E402
from kernel_glue_cases import act_errors  # noqa: E402

CASE_FIELDS = ("qkv", "kv", "unit", "n_head", "T")


def main(module: str, cases_path: str, out_path: str) -> int:
    kernels = load_as_the_page(module)
    cases = np.load(cases_path)
    out = {}
    for i, act in enumerate(cases["acts"] if "acts" in cases else []):
        gate_up = cases[str(i)].copy()                       # (n, 2 cols)
        cols = gate_up.shape[1] // 2
        kernels.gated_activation(str(act))(gate_up[:, :cols], gate_up[:, cols:])
        out[f"{i}.got"] = gate_up[:, :cols]
        errors = act_errors(str(act), cases[str(i)], out[f"{i}.got"])
        print(f"  {act:9s} {gate_up.shape}  " + "  ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    attention = kernels.attention()
    for i, name in enumerate(cases["attention"] if "attention" in cases else []):
        case = {field: cases[f"a{i}.{field}"] for field in CASE_FIELDS}
        case = with_views({**case, "mask": cases[f"a{i}.mask"] if f"a{i}.mask" in cases else None})
        n, n_head, d = case["q"].shape
        got = out[f"a{i}.got"] = np.empty((n, n_head * d), np.float32)
        attention(case["q"], case["k"], case["v"], case["mask"], got, float(case["unit"]))
        print(f"  attention {name:20s} error {attention_error(case, got):.1e}")
    np.savez(out_path, simd=kernels.simd, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
