"""Inside Pyodide: the wasm SIMD kernels on saved cases, against numpy in the same runtime.

    node tests/pyodide_node/run.mjs --mount DIR tests/pyodide_node/check_kernels.py MODULE.so CASES.npz OUT.npz

CASES.npz (written by tests/test_kernels_pyodide.py) holds `labels`, `types` and per case i the
arrays `{i}.blocks` (R, NB, type_size) uint8 and `{i}.x` (n, K) float32. The module is copied
into Pyodide's own file system and loaded with ctypes.CDLL, as the page does. OUT.npz gets each
product `{i}.got` and the errors `own`, `exact`, `excess` (kernel_reference.product_errors).
Prints one line per case; exits 1 when an error is over its bound.
"""

import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kernel_reference import ACCUMULATION_TOL, TYPE_IDS, product_errors  # noqa: E402
from minfer_wasm.kernels import load_kernels  # noqa: E402


def load_as_the_page(module: str):
    """The kernels at `module`, copied into Pyodide's in-memory file system and loaded from there,
    as the page does; prints what was loaded."""
    local = "/tmp/quant_kernels.so"
    shutil.copyfile(module, local)
    kernels = load_kernels(local)
    print(f"{sys.platform}: {kernels}")
    return kernels


def main(module: str, cases_path: str, out_path: str) -> int:
    kernels = load_as_the_page(module)
    cases = np.load(cases_path)
    labels, types = list(cases["labels"]), list(cases["types"])
    out, errors = {}, []
    for i, (label, name) in enumerate(zip(labels, types)):
        blocks, x = cases[f"{i}.blocks"], cases[f"{i}.x"]
        out[f"{i}.got"] = got = kernels.matmul_arrays(TYPE_IDS[name], blocks, x)
        errors.append(product_errors(name, blocks, x, got))
        own, exact, excess = errors[-1]
        print(f"  {label:53s} {name:5s} n={x.shape[0]:<3d} own {own:.1e}  exact {exact:.1e}  "
              f"of the rounding bound {excess:.2f}")
    own, exact, excess = np.array(errors).T
    np.savez(out_path, own=own, exact=exact, excess=excess, simd=kernels.simd, **out)
    return int(own.max() >= ACCUMULATION_TOL or excess.max() > 1)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
