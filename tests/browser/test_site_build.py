"""build-site: what the static folder holds, and where its browser-side wheels come from."""

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest

from gguf_fixtures import write_gguf
from minfer_wasm.errors import SourceError, UnsupportedError
from minfer_wasm.native import pyodide_wheels, site
from minfer_wasm.native.engine_wheel import PACKAGE_DIR
from minfer_wasm.native.pyodide_wheels import MissingWheelError, read_release_lock, wasm_wheel
from minfer_wasm.native.serve import make_server
from minfer_wasm.native.site import RUNTIME_FILES, build_site, pyodide_package

SITE_PACKAGES = {"numpy", "markupsafe", "jinja2", "minfer-wasm"}


@pytest.fixture(scope="module")
def release():
    """The npm package's own pyodide-lock.json."""
    return read_release_lock(pyodide_package(log=lambda _: None))


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


def engine_wheel_path(site_dir):
    lock = json.loads((site_dir / "pyodide" / "pyodide-lock.json").read_text())
    return site_dir / "pyodide" / lock["packages"]["minfer-wasm"]["file_name"]


def test_engine_wheel_holds_the_package_but_not_its_native_tooling(site_dir):
    path = engine_wheel_path(site_dir)
    assert path.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(path) as zf:
        names = {n for n in zf.namelist() if ".dist-info/" not in n}
    package = {f"minfer_wasm/{p.relative_to(PACKAGE_DIR).as_posix()}" for p in PACKAGE_DIR.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert names == {n for n in package if not n.startswith("minfer_wasm/native/")}
    assert "minfer_wasm/browser.py" in names


def test_engine_wheel_record_lists_every_file_with_its_sha256(site_dir):
    with zipfile.ZipFile(engine_wheel_path(site_dir)) as zf:
        record_name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        rows = [line.split(",") for line in zf.read(record_name).decode().splitlines()]
        assert sorted(r[0] for r in rows) == sorted(zf.namelist())
        for name, digest, size in rows:
            if name == record_name:
                assert digest == size == ""
                continue
            data = zf.read(name)
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert int(size) == len(data)
        wheel = zf.read(record_name.replace("RECORD", "WHEEL")).decode()
    assert "Root-Is-Purelib: true" in wheel and "Tag: py3-none-any" in wheel


def test_pip_installs_the_engine_wheel_and_the_page_api_imports_from_it(site_dir, tmp_path):
    """pip, an independent reader of wheels, installs it; the worker's import works from there."""
    target = tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(target), str(engine_wheel_path(site_dir))], check=True, capture_output=True)
    code = (f"import sys; sys.path.insert(0, {str(target)!r}); import minfer_wasm.browser; "
            "print(minfer_wasm.browser.__file__); import minfer_wasm.native")
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == str(target / "minfer_wasm" / "browser.py")
    assert result.returncode == 1 and "No module named 'minfer_wasm.native'" in result.stderr, result.stderr


def test_runtime_page_and_model_are_in_place_with_relative_urls(site_dir):
    npm = pyodide_package(log=lambda _: None)
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


def test_a_pyodide_dir_without_the_runtime_says_how_to_fix_it(tmp_path):
    with pytest.raises(SourceError, match=re.escape(f"{tmp_path / 'none'} holds no npm package pyodide")) as caught:
        pyodide_package(tmp_path / "none", log=lambda _: None)
    assert "--pyodide-dir" in str(caught.value)
    old = tmp_path / "old"
    old.mkdir()
    (old / "package.json").write_text('{"name": "pyodide", "version": "0.25.0"}')
    with pytest.raises(SourceError, match=f"holds pyodide 0.25.0, the site needs {pyodide_wheels.PYODIDE_VERSION}"):
        pyodide_package(old, log=lambda _: None)


def test_the_environment_can_name_the_runtime(tmp_path, monkeypatch):
    runtime = tmp_path / "runtime"
    runtime.symlink_to(pyodide_package(log=lambda _: None))
    monkeypatch.setenv("MINFER_PYODIDE_DIR", str(runtime))
    assert pyodide_package(log=lambda _: None) == runtime


def test_an_installed_package_without_npm_says_how_to_get_the_runtime(tmp_path, monkeypatch):
    """Laid out as a wheel install: the page's files as package data, no checkout, no npm."""
    packaged = tmp_path / "site_files"
    packaged.mkdir()
    for name in site.PAGE_FILES:
        (shutil.copytree if (site.CHECKOUT / name).is_dir() else shutil.copy2)(site.CHECKOUT / name, packaged / name)
    monkeypatch.setattr(site, "PACKAGED_PAGE", packaged)
    monkeypatch.setattr(site, "CHECKOUT", tmp_path / "no-checkout")
    monkeypatch.setenv("MINFER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINFER_PYODIDE_DIR", raising=False)
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(SourceError) as caught:
        pyodide_package(log=lambda _: None)
    message = str(caught.value)
    assert str(tmp_path / "cache" / "pyodide-npm") in message
    assert "npm is not installed" in message and "--pyodide-dir" in message and "MINFER_PYODIDE_DIR" in message


def test_a_model_url_is_copied_into_the_site_with_range_requests(tmp_path, monkeypatch):
    www = tmp_path / "www"
    www.mkdir()
    weights = np.arange(40 * 64, dtype=np.float32).reshape(40, 64)
    data = write_gguf(www / "tiny.gguf", tensors={"w": weights}).read_bytes()
    httpd = make_server(www, "127.0.0.1", 0, quiet=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(site, "COPY_BLOCK", 1000)       # several reads, the last one short
    try:
        dest = site.copy_model(f"http://127.0.0.1:{httpd.server_address[1]}/tiny.gguf", tmp_path / "models",
                               log=lambda _: None)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert len(data) > 10_000
    assert dest == tmp_path / "models" / "tiny.gguf" and dest.read_bytes() == data
