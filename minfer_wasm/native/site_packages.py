"""The page's Python packages as one file: the wheels' contents, byte-compiled, in a gzipped tar.

The worker could install the wheels with Pyodide's `loadPackage`, which unpacks each zip in
Python (zipfile, shutil: about 0.4-0.6 s for these four in Chromium) and loads every shared
library of numpy's at once, used or not. Instead it fetches this bundle while Python starts,
unpacks it in JS (DecompressionStream, a tar walk: web/site_packages.js) straight into
site-packages, and numpy's libraries load when an import first needs them.

What goes in, per wheel: every file but the `.pyi` type stubs (130 of numpy's), plus an
unchecked-hash .pyc beside each .py (in __pycache__), made by Pyodide's
own CPython under Node (pyc_compile.mjs): the imports then skip compiling the sources, which
stay for tracebacks and readers. The tar is ustar, its entries sorted, with fixed times and
owners, and the gzip stream carries no time: the same wheels give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import SourceError
from .commands import run_tool

BUNDLE_FILE = "site-packages.tar.gz"       # in the site's pyodide/ folder; web/worker.js fetches it
PYC_COMPILER = Path(__file__).resolve().parent / "pyc_compile.mjs"


def _wanted(name: str) -> bool:
    """Whether a wheel's member goes into the bundle: files, not type stubs."""
    return not name.endswith("/") and not name.endswith(".pyi")


def unpack_wheels(wheels: list[Path], into: Path) -> None:
    """Extract the wanted members of each wheel into the folder `into` (site-packages' layout)."""
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as zf:
                for member in zf.infolist():
                    name = member.filename
                    if not _wanted(name):
                        continue
                    if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
                        raise SourceError(f"{wheel}: member {name!r} would land outside site-packages")
                    dest = into / name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(member) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out)
        except zipfile.BadZipFile as e:
            raise SourceError(f"{wheel}: not a readable wheel ({e})") from None


def byte_compile(folder: Path, pyodide_dir: Path, where: str = "site-packages") -> None:
    """An unchecked-hash .pyc for every .py under `folder`, compiled by Pyodide's Python, for
    files that go to `where` in the page: "site-packages" (beside the sources, in __pycache__)
    or "stdlib" (in place of the sources); see pyc_compile.mjs."""
    node = shutil.which("node")
    if node is None:
        raise SourceError("Node.js is not installed: the site's Python files are compiled by Pyodide "
                          "under Node (install Node.js, which npm comes with)")
    run_tool([node, str(PYC_COMPILER), str(pyodide_dir), str(folder), where],
             f"compiling the page's Python files with Pyodide in {pyodide_dir}")


def write_tar_gz(folder: Path, dest: Path) -> None:
    """Every file under `folder` into the gzipped ustar archive `dest`, reproducibly."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            with open(path, "rb") as f:
                tar.addfile(info, f)
    dest.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0))


def write_bundle(wheels: list[Path], dest: Path, pyodide_dir: Path) -> Path:
    """The bundle of `wheels` at `dest` (see the module docstring); returns dest."""
    with tempfile.TemporaryDirectory(prefix="minfer-site-packages-") as tmp:
        folder = Path(tmp)
        unpack_wheels(wheels, folder)
        byte_compile(folder, pyodide_dir)
        write_tar_gz(folder, dest)
    return dest
