"""The hostile chat templates in Pyodide 0.29.3 under Node (tests/pyodide_node/check_templates.py):
the page's runtime holds the same limits as the native one. Every case ends in a one-line
TemplateError, within a time bound (the render budget is 1 s; Pyodide is slower), with its
tracemalloc peak under 64 MiB, and the wasm heap, which never shrinks, stays within a fixed
budget of where it stood before the first case."""

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import jinja2
import pytest

from hostile_templates import GENERATED, NAMED
from minfer_wasm.native.pyodide_wheels import default_mirror

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tests" / "pyodide_node" / "run.mjs"
SCRIPT = ROOT / "tests" / "pyodide_node" / "check_templates.py"
NO_NUMPY_WHEEL = 3              # run.mjs's exit status when the mirror has no numpy wheel
TIME_BOUND = 6.0
MEMORY_BOUND = 64 << 20
HEAP_BUDGET = 96 << 20


@pytest.fixture(scope="module")
def pyodide_results(tmp_path_factory):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (ROOT / "node_modules" / "pyodide").is_dir():
        pytest.skip("node_modules/pyodide is missing: run scripts/setup.sh")
    wheels = sorted(default_mirror().glob("markupsafe-*-pyodide_*_wasm32.whl"))
    if not wheels:
        pytest.skip(f"no Pyodide markupsafe wheel in {default_mirror()}")
    site = tmp_path_factory.mktemp("pyodide_site")
    zipfile.ZipFile(wheels[-1]).extractall(site)            # markupsafe as the page has it
    shutil.copytree(Path(jinja2.__file__).parent, site / "jinja2")   # pure Python, same release
    out = site / "results.json"
    proc = subprocess.run(["node", str(RUNNER), "--mount", str(site), str(SCRIPT), str(site),
                           str(out)], capture_output=True, text=True, timeout=900)
    if proc.returncode == NO_NUMPY_WHEEL:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0 and out.exists(), proc.stderr[-3000:]
    return json.loads(out.read_text()), proc


def test_every_hostile_template_ends_cleanly_in_pyodide(pyodide_results):
    results, proc = pyodide_results
    assert [r["name"] for r in results] == [*NAMED, *GENERATED]
    assert proc.stdout == "" and proc.stderr == "", (proc.stdout + proc.stderr)[-2000:]
    for r in results:
        assert r["kind"] == "TemplateError", r
        assert "\n" not in r["message"] and len(r["message"]) < 300, r
        assert r["seconds"] < TIME_BOUND, r
        assert r["peak"] < MEMORY_BOUND, r
    start = results[0]["heap"] - results[0]["heap_growth"]
    assert max(r["heap"] for r in results) - start <= HEAP_BUDGET, \
        max(results, key=lambda r: r["heap_growth"])
