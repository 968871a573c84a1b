"""The page's wheels, and the pyodide-lock.json that lists exactly them (the worker installs
their files from one bundle made of them: site_packages.py).

Pyodide's npm package ships the runtime and a lock file describing its release's packages (names,
file names, sha256) but not the package wheels. The site needs four:

  numpy, markupsafe   wasm builds: a local mirror folder, else Pyodide's release download location
  jinja2              pure wheel: PyPI (`pip download --no-deps --only-binary=:all:`), cached
  minfer-wasm         this engine: written from the imported package (engine_wheel.py)

The lock we write keeps the release's `info` block and entry format (see the npm package's
pyodide-lock.json) with the real file names and sha256 of the wheels we ship, because Pyodide's
loadPackage checks each download against that hash.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import SourceError, UnsupportedError
from .commands import run_tool
from .engine_wheel import DEPENDS, DIST_NAME, write_engine_wheel
from .model_store import cache_dir, file_sha256

PYODIDE_VERSION = "0.29.3"
RELEASE_URL = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
CDN_TIMEOUT_S = 10
WASM_PACKAGES = ("numpy", "markupsafe")
PYPI_PACKAGES = ("jinja2",)


class MissingWheelError(SourceError):
    """A wasm wheel is neither in the mirror folder nor downloadable; the message says what to put where."""


@dataclass(frozen=True)
class Wheel:
    """One wheel for the site: where it is now and its pyodide-lock.json entry."""

    path: Path
    entry: dict                 # lock entry with this file's name and sha256


def default_mirror() -> Path:
    """$MINFER_PYODIDE_MIRROR, else <cache>/pyodide-mirror."""
    env = os.environ.get("MINFER_PYODIDE_MIRROR")
    return Path(env).expanduser() if env else cache_dir() / "pyodide-mirror"


def read_release_lock(pyodide_dir: Path) -> dict:
    """The npm package's pyodide-lock.json (its `info` block and `packages` entries)."""
    path = pyodide_dir / "pyodide-lock.json"
    try:
        lock = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SourceError(f"{path}: cannot read Pyodide's lock file ({e})") from None
    for key in ("info", "packages"):
        if key not in lock:
            raise SourceError(f"{path}: no {key!r} field; is this Pyodide {PYODIDE_VERSION}'s lock file?")
    return lock


def abi_tag(info: dict) -> tuple[str, str]:
    """(python tag, platform tag) of the release, e.g. ("cp313", "pyodide_2025_0_wasm32")."""
    major, minor = info["python"].split(".")[:2]
    return f"cp{major}{minor}", f"pyodide_{info['abi_version']}_{info['arch']}"


def wheel_tags(path: Path) -> set[str]:
    """The `Tag:` lines of a wheel's .dist-info/WHEEL file (PEP 427)."""
    try:
        with zipfile.ZipFile(path) as zf:
            name = next(n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/WHEEL"))
            text = zf.read(name).decode()
    except (zipfile.BadZipFile, StopIteration, OSError) as e:
        raise SourceError(f"{path}: not a readable wheel ({e or 'no .dist-info/WHEEL'})") from None
    return {line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")}


def _entry_for(release_entry: dict, path: Path) -> dict:
    return {**release_entry, "file_name": path.name, "sha256": file_sha256(path)}


def _download(url: str, dest: Path) -> None:
    """GET `url` into `dest` (atomically), with a short timeout: this host may well be unreachable."""
    partial = dest.with_name(dest.name + ".partial")
    with urllib.request.urlopen(url, timeout=CDN_TIMEOUT_S) as response, open(partial, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
    partial.replace(dest)


def wasm_wheel(release: dict, name: str, mirror: Path, log: Callable[[str], None]) -> Wheel:
    """numpy / markupsafe for this Pyodide release: from `mirror`, else downloaded into it."""
    entry = release["packages"][name]
    file_name, want_sha = entry["file_name"], entry["sha256"]
    path = mirror / file_name
    if not path.is_file():
        url = RELEASE_URL + file_name
        try:
            mirror.mkdir(parents=True, exist_ok=True)
            _download(url, path)
            log(f"downloaded {url}")
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise MissingWheelError(
                f"missing {file_name} (Pyodide {PYODIDE_VERSION}'s {name} {entry['version']}): put that file "
                f"in {mirror} (or point --pyodide-mirror / MINFER_PYODIDE_MIRROR at a folder holding it); "
                f"{url} could not be fetched ({reason})") from None
    got_sha = file_sha256(path)
    if got_sha != want_sha:
        py_tag, platform = abi_tag(release["info"])
        wanted = f"{py_tag}-{py_tag}-{platform}"
        tags = wheel_tags(path)
        log(f"note: {name} {entry['version']} in {path} has sha256 {got_sha}; "
            f"Pyodide {PYODIDE_VERSION}'s release has {want_sha}")
        if wanted not in tags:
            raise UnsupportedError(
                f"{path}: differs from Pyodide {PYODIDE_VERSION}'s {file_name} and is built for "
                f"{', '.join(sorted(tags)) or 'no tag'}, not {wanted}; replace it with the release's wheel")
        log(f"note: using it: it carries the release's ABI tag {wanted}")
    return Wheel(path, _entry_for(entry, path))


def pypi_wheel(release: dict, name: str, cache: Path) -> Wheel:
    """jinja2 at the release's version, from PyPI, cached in `cache`."""
    entry = release["packages"][name]
    path = cache / entry["file_name"]
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        major, minor = release["info"]["python"].split(".")[:2]
        requirement = f"{name}=={entry['version']}"
        run_tool([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                  "--python-version", f"{major}.{minor}", "--dest", str(cache), requirement],
                 f"downloading {requirement} from PyPI into {cache}")
        if not path.is_file():
            raise SourceError(f"pip downloaded {requirement} into {cache}, but not as {path.name}")
    return Wheel(path, _entry_for(entry, path))


def engine_wheel(out_dir: Path) -> Wheel:
    """This engine's py3-none-any wheel, written into `out_dir`, with its lock entry."""
    path = write_engine_wheel(out_dir)
    version = path.name.split("-")[1]
    entry = {"name": DIST_NAME, "version": version, "file_name": path.name,
             "install_dir": "site", "sha256": file_sha256(path), "package_type": "package",
             "imports": ["minfer_wasm"], "depends": list(DEPENDS), "unvendored_tests": False}
    return Wheel(path, entry)


def collect_wheels(release: dict, out_dir: Path, mirror: Path | None = None,
                   log: Callable[[str], None] = print) -> list[Wheel]:
    """All five wheels copied into `out_dir` (next to the lock file); returns them."""
    mirror = Path(mirror).expanduser() if mirror else default_mirror()
    found = [wasm_wheel(release, name, mirror, log) for name in WASM_PACKAGES]
    found += [pypi_wheel(release, name, cache_dir() / "wheels") for name in PYPI_PACKAGES]
    out_dir.mkdir(parents=True, exist_ok=True)
    wheels = [Wheel(Path(shutil.copy2(w.path, out_dir / w.path.name)), w.entry) for w in found]
    return wheels + [engine_wheel(out_dir)]


def write_lock(release: dict, wheels: list[Wheel], path: Path) -> None:
    """pyodide-lock.json listing exactly `wheels` (keys: canonical lower-case names)."""
    packages = {w.entry["name"].lower(): w.entry for w in wheels}
    path.write_text(json.dumps({"info": release["info"], "packages": packages}, indent=2) + "\n")

