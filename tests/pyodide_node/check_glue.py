"""Inside Pyodide: the wasm SIMD gated activation (glue_kernels.c) on saved cases.

    node tests/pyodide_node/run.mjs --mount DIR tests/pyodide_node/check_glue.py MODULE.so CASES.npz OUT.npz

CASES.npz (written by tests/test_kernels_glue.py) holds `acts` and per case i the (n, 2 cols)
gate | up buffer `{i}`. The module is copied into Pyodide's own file system and loaded with
ctypes.CDLL, as the page does. OUT.npz gets each result `{i}.got` (n, cols) and `simd`.
Prints each case's errors (kernel_glue_cases.act_errors).
"""

import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kernel_glue_cases import act_errors  # noqa: E402
from minfer_wasm.kernels import load_kernels  # noqa: E402


def main(module: str, cases_path: str, out_path: str) -> int:
    local = "/tmp/quant_kernels.so"          # Pyodide's in-memory file system, as in the page
    shutil.copyfile(module, local)
    kernels = load_kernels(local)
    print(f"{sys.platform}: {kernels}")
    cases = np.load(cases_path)
    out = {}
    for i, act in enumerate(cases["acts"]):
        gate_up = cases[str(i)].copy()                       # (n, 2 cols)
        cols = gate_up.shape[1] // 2
        kernels.gated_activation(str(act))(gate_up[:, :cols], gate_up[:, cols:])
        out[f"{i}.got"] = gate_up[:, :cols]
        errors = act_errors(str(act), cases[str(i)], out[f"{i}.got"])
        print(f"  {act:9s} {gate_up.shape}  " + "  ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    np.savez(out_path, simd=kernels.simd, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
