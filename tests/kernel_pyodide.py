"""Runs a tests/pyodide_node/check_*.py script on saved cases: the wasm SIMD kernels in Pyodide
0.29.3 under Node (test_kernels_pyodide.py, test_kernels_glue.py, test_kernels_attention.py,
test_kernel_path_pyodide.py)."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tests" / "pyodide_node" / "run.mjs"
NO_NUMPY_WHEEL = 3         # run.mjs's exit status when the mirror has no numpy wheel


def run_in_pyodide(script: str, arrays: dict, wasm_kernels_path: Path, tmp: Path, *files: Path):
    """tests/pyodide_node/<script> MODULE CASES.npz OUT.npz [FILES...] on these arrays (the
    files' folders mounted): (OUT.npz loaded, the finished process); skips without node,
    Pyodide or its numpy wheel."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (ROOT / "node_modules" / "pyodide").is_dir():
        pytest.skip("node_modules/pyodide is missing: run scripts/setup.sh")
    np.savez(tmp / "cases.npz", **arrays)
    mounts = [arg for folder in {tmp, wasm_kernels_path.parent, *(Path(f).parent for f in files)}
              for arg in ("--mount", str(folder))]
    proc = subprocess.run(["node", str(RUNNER), *mounts, str(ROOT / "tests" / "pyodide_node" / script),
                           str(wasm_kernels_path), str(tmp / "cases.npz"), str(tmp / "out.npz"), *map(str, files)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode == NO_NUMPY_WHEEL:
        pytest.skip(proc.stderr.strip())
    assert (tmp / "out.npz").exists(), proc.stdout + proc.stderr[-3000:]
    return np.load(tmp / "out.npz"), proc
