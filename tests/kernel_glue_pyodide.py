"""Runs pyodide_node/check_glue.py on saved cases: the wasm SIMD glue kernels in Pyodide 0.29.3
under Node (tests/test_kernels_glue.py, test_kernels_attention.py)."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tests" / "pyodide_node" / "run.mjs"
NO_NUMPY_WHEEL = 3         # run.mjs's exit status when the mirror has no numpy wheel


def glue_in_pyodide(arrays: dict, wasm_kernels_path: Path, tmp: Path):
    """check_glue.py's OUT.npz for these CASES.npz arrays; skips without node or Pyodide."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (ROOT / "node_modules" / "pyodide").is_dir():
        pytest.skip("node_modules/pyodide is missing: run scripts/setup.sh")
    np.savez(tmp / "cases.npz", **arrays)
    proc = subprocess.run(["node", str(RUNNER), "--mount", str(tmp), "--mount", str(wasm_kernels_path.parent),
                           str(ROOT / "tests" / "pyodide_node" / "check_glue.py"), str(wasm_kernels_path),
                           str(tmp / "cases.npz"), str(tmp / "out.npz")],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode == NO_NUMPY_WHEEL:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0 and (tmp / "out.npz").exists(), proc.stdout + proc.stderr[-3000:]
    return np.load(tmp / "out.npz")
