"""build-site's byte-compiled Python: the package bundle (pyodide/site-packages.tar.gz) against
the wheels it comes from, and the standard library (pyodide/python_stdlib.zip) against Pyodide's."""

import json
import shutil
import tarfile
import zipfile
from pathlib import PurePosixPath

import pytest

from minfer_wasm.errors import SourceError
from minfer_wasm.native import site_packages
from minfer_wasm.native.site import pyodide_package
from minfer_wasm.native.site_packages import BUNDLE_FILE, write_bundle
from minfer_wasm.native.stdlib_zip import STDLIB_FILE

PYC_FLAGS_UNCHECKED_HASH = 0b01      # PEP 552: hash-based, source not checked


@pytest.fixture(scope="module")
def wheels(site_dir):
    lock = json.loads((site_dir / "pyodide" / "pyodide-lock.json").read_text())
    return [site_dir / "pyodide" / entry["file_name"] for entry in lock["packages"].values()]


@pytest.fixture(scope="module")
def bundle(site_dir) -> dict[str, bytes]:
    """{path: bytes} of every file in the site's bundle."""
    with tarfile.open(site_dir / "pyodide" / BUNDLE_FILE, "r:gz") as tar:
        assert all(m.isfile() for m in tar.getmembers())
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_the_bundle_holds_each_wheels_files_as_they_are_but_type_stubs(wheels, bundle):
    expected, stubs = {}, 0
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.endswith(".pyi"):
                    stubs += 1
                elif not name.endswith("/"):
                    expected[name] = zf.read(name)
    assert stubs > 100
    compiled = {name for name in bundle if "/__pycache__/" in name}
    assert {name: bundle[name] for name in bundle.keys() - compiled} == expected


def test_every_source_has_an_unchecked_hash_pyc_of_pyodides_python(bundle):
    # numpy's wheel, built by Pyodide, ships bytecode of the page's Python: its magic number is the reference
    magic = bundle["numpy/__init__.pyc"][:4]
    sources = [name for name in bundle if name.endswith(".py")]
    assert any(name.startswith("jinja2/") for name in sources) and "minfer_wasm/browser.py" in sources
    for name in sources:
        path = PurePosixPath(name)
        pyc = bundle[str(path.parent / "__pycache__" / f"{path.stem}.cpython-313.pyc")]
        assert pyc[:4] == magic, name
        assert int.from_bytes(pyc[4:8], "little") == PYC_FLAGS_UNCHECKED_HASH, name
        assert f"/lib/python3.13/site-packages/{name}".encode() in pyc, name     # where the page has it


def test_the_same_wheels_give_the_same_bundle(wheels, site_dir, tmp_path):
    again = write_bundle(wheels, tmp_path / BUNDLE_FILE, pyodide_package(log=lambda _: None))
    assert again.read_bytes() == (site_dir / "pyodide" / BUNDLE_FILE).read_bytes()


def test_a_wheel_member_outside_site_packages_is_refused(tmp_path):
    wheel = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("../../outside.py", "x = 1\n")
    with pytest.raises(SourceError, match="outside site-packages"):
        site_packages.unpack_wheels([wheel], tmp_path / "out")
    assert not (tmp_path.parent / "outside.py").exists()


def test_a_broken_wheel_is_named(tmp_path):
    wheel = tmp_path / "broken-1.0-py3-none-any.whl"
    wheel.write_bytes(b"not a zip")
    with pytest.raises(SourceError, match=f"{wheel}: not a readable wheel"):
        site_packages.unpack_wheels([wheel], tmp_path / "out")


def test_without_node_the_build_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(SourceError, match="Node.js is not installed"):
        site_packages.byte_compile(tmp_path, tmp_path)


def test_the_tar_is_plain_ustar_with_fixed_owners_and_times(tmp_path):
    (tmp_path / "in" / "pkg").mkdir(parents=True)
    (tmp_path / "in" / "pkg" / "a.py").write_text("x = 1\n")
    site_packages.write_tar_gz(tmp_path / "in", tmp_path / "out.tar.gz")
    with tarfile.open(tmp_path / "out.tar.gz", "r:gz") as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.mtime, member.uid, member.gid, member.mode) == ("pkg/a.py", 0, 0, 0, 0o644)
        assert tar.extractfile(member).read() == b"x = 1\n"
    assert (tmp_path / "out.tar.gz").read_bytes()[4:8] == b"\0\0\0\0"       # gzip MTIME field: none


def test_the_stdlib_zip_is_pyodides_with_each_source_replaced_by_its_pyc(site_dir, bundle):
    magic = bundle["numpy/__init__.pyc"][:4]
    with zipfile.ZipFile(pyodide_package(log=lambda _: None) / STDLIB_FILE) as zf:
        npm = {name: zf.read(name) for name in zf.namelist()}
    with zipfile.ZipFile(site_dir / "pyodide" / STDLIB_FILE) as zf:
        ours = {name: zf.read(name) for name in zf.namelist()}
    sources = [name for name in npm if name.endswith(".py")]
    assert len(sources) > 500 and not any(name.endswith(".py") for name in ours)
    assert {name for name in npm if not name.endswith(".py")} | {name + "c" for name in sources} == set(ours)
    assert all(ours[name] == data for name, data in npm.items() if not name.endswith(".py"))
    for name in sources:
        pyc = ours[name + "c"]
        assert pyc[:4] == magic and int.from_bytes(pyc[4:8], "little") == PYC_FLAGS_UNCHECKED_HASH, name
        assert f"/lib/python313.zip/{name}".encode() in pyc, name
