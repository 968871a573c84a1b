"""The page's Python standard library, byte-compiled: python_stdlib.zip with a .pyc for each .py.

Pyodide's npm package ships its standard library as sources in python_stdlib.zip, so every
module Python imports from it is compiled first, on every start: about half of the 2.5 s a
first visit spent starting Python in Chromium (1.2 s with this file), and a third of the
imports after a warm start. build-site writes the same zip with each .py replaced by its
unchecked-hash .pyc, compiled by Pyodide's own CPython under Node (pyc_compile.mjs), which
zipimport loads as it is. The sources are left out: with both, the file would grow from 2.4 to
6.6 MB for the page to download; stdlib frames of a traceback then show no source line.
Entries are sorted and dated 1980-01-01, so the same runtime gives the same bytes.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from ..errors import SourceError
from .site_packages import byte_compile

STDLIB_FILE = "python_stdlib.zip"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def write_stdlib(pyodide_dir: Path, dest: Path) -> Path:
    """Pyodide's python_stdlib.zip from `pyodide_dir`, byte-compiled, at `dest`; returns dest."""
    source = pyodide_dir / STDLIB_FILE
    with tempfile.TemporaryDirectory(prefix="minfer-stdlib-") as tmp:
        folder = Path(tmp)
        try:
            with zipfile.ZipFile(source) as zf:
                zf.extractall(folder)      # zipfile drops absolute and ".." parts of names
        except (OSError, zipfile.BadZipFile) as e:
            raise SourceError(f"{source}: cannot read Pyodide's standard library ({e})") from None
        byte_compile(folder, pyodide_dir, "stdlib")
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
            for path in sorted(folder.rglob("*")):
                name = path.relative_to(folder).as_posix()
                if path.is_dir():                  # folder entries, as Pyodide's zip has them
                    out.writestr(zipfile.ZipInfo(name + "/", ZIP_DATE), b"")
                    continue
                info = zipfile.ZipInfo(name, ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(info, path.read_bytes(), compresslevel=9)
    return dest
