"""The engine's wheel for the page, written directly from the imported package's files.

Pyodide installs minfer_wasm from a wheel (PEP 427: a zip of the package files plus a
`.dist-info` folder with METADATA, WHEEL and RECORD, where RECORD lists every file's sha256).
The engine is pure Python, so the wheel is written here rather than built by a build tool:
the same code works from a source checkout, an editable install and a wheel install, and
needs nothing that happens to be installed. `native/` stays out: the page never runs it.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from .. import __version__

DIST_NAME = "minfer-wasm"
DEPENDS = ("numpy", "jinja2")           # what the page must install with it (Pyodide's names)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)        # fixed: the same files give the same wheel, byte for byte
PACKAGE_DIR = Path(__file__).resolve().parents[1]       # the imported minfer_wasm/


def package_files(package_dir: Path = PACKAGE_DIR) -> list[tuple[str, Path]]:
    """(name in the wheel, file) for every file of the package the page needs: all but
    native/ and compiled bytecode, in sorted order."""
    files = []
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if rel.parts[0] == "native" or "__pycache__" in rel.parts or path.suffix == ".pyc":
            continue
        if path.is_file():
            files.append((f"{package_dir.name}/{rel.as_posix()}", path))
    return files


def _record_hash(data: bytes) -> str:
    """RECORD's hash field: sha256, urlsafe base64 without padding (PEP 376 / 427)."""
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def dist_info(version: str, files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """METADATA, WHEEL and RECORD for a wheel holding `files` (name, bytes)."""
    folder = f"{DIST_NAME.replace('-', '_')}-{version}.dist-info"
    metadata = (f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: {version}\n"
                + "".join(f"Requires-Dist: {name}\n" for name in DEPENDS))
    wheel = "Wheel-Version: 1.0\nGenerator: minfer-wasm build-site\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entries = files + [(f"{folder}/METADATA", metadata.encode()), (f"{folder}/WHEEL", wheel.encode())]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    return entries[len(files):] + [(f"{folder}/RECORD", (record + f"{folder}/RECORD,,\n").encode())]


def write_engine_wheel(out_dir: Path, package_dir: Path = PACKAGE_DIR) -> Path:
    """Write minfer_wasm-<version>-py3-none-any.whl of `package_dir` into `out_dir`; returns its path."""
    version = __version__
    files = [(name, path.read_bytes()) for name, path in package_files(package_dir)]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{DIST_NAME.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files + dist_info(version, files):
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16        # rw-r--r--
            zf.writestr(info, data)
    return path
