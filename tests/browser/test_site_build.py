"""build-site: what the static folder holds, and where its browser-side wheels come from."""

import hashlib
import json
import re
import zipfile

import pytest

from minfer_wasm.native import pyodide_wheels
from minfer_wasm.errors import SourceError, UnsupportedError
from minfer_wasm.native.pyodide_wheels import MissingWheelError, read_release_lock, wasm_wheel
from minfer_wasm.native.site import RUNTIME_FILES, build_site, pyodide_package, repo_root

SITE_PACKAGES = {"numpy", "markupsafe", "jinja2", "micropip", "minfer-wasm"}


@pytest.fixture(scope="module")
def release():
    """The npm package's own pyodide-lock.json."""
    return read_release_lock(pyodide_package(repo_root(), log=lambda _: None))


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_lock_lists_exactly_the_shipped_wheels_with_their_sha256(site_dir, release):
    runtime = site_dir / "pyodide"
    lock = json.loads((runtime / "pyodide-lock.json").read_text())
    assert lock["info"] == release["info"]
    assert set(lock["packages"]) == SITE_PACKAGES
    assert sorted(e["file_name"] for e in lock["packages"].values()) == sorted(p.name for p in runtime.glob("*.whl"))
    for entry in lock["packages"].values():
        assert entry["sha256"] == sha256(runtime / entry["file_name"])
    for name in SITE_PACKAGES - {"minfer-wasm"}:      # the release's versions and file names
        assert lock["packages"][name]["version"] == release["packages"][name]["version"]
        assert lock["packages"][name]["file_name"] == release["packages"][name]["file_name"]


def test_engine_wheel_is_pure_python_and_holds_the_package(site_dir):
    lock = json.loads((site_dir / "pyodide" / "pyodide-lock.json").read_text())
    path = site_dir / "pyodide" / lock["packages"]["minfer-wasm"]["file_name"]
    assert path.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    sources = {f"minfer_wasm/{p.relative_to(repo_root() / 'minfer_wasm').as_posix()}"
               for p in (repo_root() / "minfer_wasm").rglob("*.py")}
    assert sources <= names


def test_runtime_page_and_model_are_in_place_with_relative_urls(site_dir):
    npm = pyodide_package(repo_root(), log=lambda _: None)
    for name in RUNTIME_FILES:
        assert sha256(site_dir / "pyodide" / name) == sha256(npm / name)
    site = json.loads((site_dir / "site.json").read_text())
    assert not site["model"].startswith(("/", "http")) and site["model"].endswith(".gguf")
    assert (site_dir / site["model"]).is_file()
    for rel in site["cache"]:
        assert (site_dir / rel).is_file(), rel
    assert 'importScripts("web/sw.js")' in (site_dir / "sw.js").read_text()
    for page_file in ("index.html", "web/app.js", "web/worker.js", "web/sw.js"):
        text = (site_dir / page_file).read_text()
        assert not re.search(r"""(src|href)=["']/|["'](https?:)?//""", text), page_file


def _fake_wheel(path, tag: str) -> None:
    name, version = path.name.split("-")[:2]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/__init__.py", "")
        zf.writestr(f"{name}-{version}.dist-info/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")


def test_missing_wasm_wheel_names_the_file_and_the_folder(tmp_path, release, monkeypatch):
    monkeypatch.setattr(pyodide_wheels, "RELEASE_URL", "http://127.0.0.1:9/")   # nothing listens there
    mirror = tmp_path / "mirror"
    with pytest.raises(MissingWheelError) as caught:
        wasm_wheel(release, "numpy", mirror, log=lambda _: None)
    message = str(caught.value)
    assert release["packages"]["numpy"]["file_name"] in message
    assert str(mirror) in message


def test_wheel_with_another_hash_and_the_same_abi_is_used_and_reported(tmp_path, release):
    entry = release["packages"]["markupsafe"]
    path = tmp_path / entry["file_name"]
    _fake_wheel(path, "cp313-cp313-pyodide_2025_0_wasm32")
    notes = []
    wheel = wasm_wheel(release, "markupsafe", tmp_path, log=notes.append)
    assert wheel.entry["sha256"] == sha256(path) != entry["sha256"]
    report = " ".join(notes)
    assert sha256(path) in report and entry["sha256"] in report and entry["version"] in report


def test_wheel_for_another_abi_is_refused(tmp_path, release):
    path = tmp_path / release["packages"]["numpy"]["file_name"]
    _fake_wheel(path, "cp312-cp312-pyodide_2024_0_wasm32")
    with pytest.raises(UnsupportedError, match="cp313-cp313-pyodide_2025_0_wasm32"):
        wasm_wheel(release, "numpy", tmp_path, log=lambda _: None)


def test_failed_build_leaves_the_earlier_site_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr(pyodide_wheels, "RELEASE_URL", "http://127.0.0.1:9/")
    out = tmp_path / "site"
    out.mkdir()
    (out / "site.json").write_text("{}")
    (out / "index.html").write_text("earlier build")
    with pytest.raises(MissingWheelError):
        build_site(out, model="none", pyodide_mirror=tmp_path / "empty-mirror", log=lambda _: None)
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "site.json"]
    assert (out / "index.html").read_text() == "earlier build"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-mirror", "site"]      # no scratch folder left


def test_build_refuses_a_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(SourceError, match="no site.json"):
        build_site(tmp_path, model="none", log=lambda _: None)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
