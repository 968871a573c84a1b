"""The page's engine and the native-only tooling stay apart.

web/worker.js imports minfer_wasm.browser inside Pyodide; nothing on that path may pull in
minfer_wasm.native (CLI, model store, site build, server, benchmarks) or the standard-library
modules only that tooling uses (processes, sockets, HTTP, archives, argument parsing).
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import minfer_wasm

PACKAGE = Path(minfer_wasm.__file__).parent
NATIVE_ONLY_STDLIB = ("subprocess", "socket", "ssl", "http.client", "http.server", "socketserver",
                      "urllib.request", "urllib.error", "zipfile", "argparse")


def test_importing_the_browser_api_loads_no_native_module():
    code = "import json, sys, minfer_wasm.browser; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert {"minfer_wasm.browser", "minfer_wasm.engine", "numpy", "jinja2"} <= loaded
    assert sorted(m for m in loaded if m.split(".")[:2] == ["minfer_wasm", "native"]) == []
    assert sorted(loaded & set(NATIVE_ONLY_STDLIB)) == []


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module) if p)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_outside_native_imports_it():
    """Only the `python -m minfer_wasm` entry point may: it is the CLI."""
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "native" or rel == Path("__main__.py"):
            continue
        native = sorted(m for m in _imported_modules(path) if m.startswith("minfer_wasm.native"))
        if native:
            offenders[rel.as_posix()] = native
    assert offenders == {}
    assert "minfer_wasm.native.cli" in _imported_modules(PACKAGE / "__main__.py")
