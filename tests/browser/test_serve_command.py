"""`serve`, the README's command, as a user runs it: from the checkout, and from a wheel install.

For the wheel, the repo is built as a release is (`python -m build`: the sdist, then the wheel
from that sdist), the wheel goes into a brand-new venv, and `minfer-wasm serve` runs from an
empty folder outside the checkout with an empty cache: the page's files come from the wheel,
the Pyodide runtime from npm into that cache. Only the model file and Pyodide's numpy wheel
are given, as a user would (they are large, and numpy is not on any registry here).
"""

import contextlib
import json
import os
import queue
import subprocess
import sys
import tarfile
import threading
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from minfer_wasm.native import model_store
from minfer_wasm.native.pyodide_wheels import default_mirror
from pagekit import answer_text, ask, native_answer, native_chat, open_ready

REPO = Path(__file__).resolve().parents[2]
SERVE_TIMEOUT_S = 300       # the first build of the site: npm ci, PyPI downloads, copies


def run(*cmd, **kwargs) -> str:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))}: {result.stderr[-2000:]}"
    return result.stdout


def model_path() -> Path:
    return model_store.pull(model_store.DEFAULT_MODEL, log=lambda _: None)


def user_env(cache: Path) -> dict:
    """This environment with an empty cache, the test's Pyodide mirror, and nothing that points
    Python at this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MINFER_PYODIDE_DIR")}
    env.update(MINFER_CACHE=str(cache), MINFER_PYODIDE_MIRROR=str(default_mirror()))
    return env


@contextlib.contextmanager
def serving(command: list, cwd: Path, env: dict):
    """Run `<command> serve --port 0 --model <the default model's file>`; yields (url, stderr
    lines up to "serving ...") once it listens, and stops it afterwards."""
    server = subprocess.Popen([str(c) for c in command] + ["serve", "--port", "0", "--model", str(model_path())],
                              cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in server.stderr], daemon=True).start()
    try:
        log = []
        while not (log and log[-1].startswith("serving ")):
            try:
                log.append(lines.get(timeout=SERVE_TIMEOUT_S))
            except queue.Empty:
                pytest.fail(f"serve did not come up: {log}")
            assert not log[-1].startswith("error:"), log
        yield log[-1].split(" at ", 1)[1].split()[0], log
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_from_the_checkout_builds_once_and_serves_the_site(tmp_path):
    env = user_env(tmp_path / "cache")
    with serving([sys.executable, "-m", "minfer_wasm"], REPO, env) as (url, log):
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.read() == (REPO / "index.html").read_bytes()
        with urllib.request.urlopen(url + "site.json", timeout=30) as response:
            content_type, site_json = response.headers["Content-Type"], json.loads(response.read())
    assert content_type == "application/json" and site_json["model"] == f"models/{model_path().name}"
    assert any(line.startswith("site built in ") for line in log), log
    with serving([sys.executable, "-m", "minfer_wasm"], REPO, env) as (_, again):
        assert not any(line.startswith("site built in ") for line in again), "nothing changed, yet it rebuilt"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The sdist and wheel built from the repo, and a fresh venv with the wheel installed."""
    work = tmp_path_factory.mktemp("wheel-install")
    run(sys.executable, "-m", "build", "--outdir", work / "dist", REPO)
    (wheel,), (sdist,) = (work / "dist").glob("*.whl"), (work / "dist").glob("*.tar.gz")
    run(sys.executable, "-m", "venv", work / "venv")
    python = work / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel)
    return SimpleNamespace(work=work, wheel=wheel, sdist=sdist, python=python,
                           command=work / "venv" / "bin" / "minfer-wasm")


def test_wheel_and_sdist_carry_every_package_file_and_the_page(installed):
    """Every file under minfer_wasm/ that git does not ignore (C sources too), and the page."""
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "minfer_wasm", "web",
                 "index.html", cwd=REPO).split()
    package = [p for p in listed if p.startswith("minfer_wasm/")]
    page = [p for p in listed if not p.startswith("minfer_wasm/")]
    assert "minfer_wasm/browser.py" in package and "index.html" in page and "web/worker.js" in page
    with zipfile.ZipFile(installed.wheel) as zf:
        in_wheel = set(zf.namelist())
    with tarfile.open(installed.sdist) as tf:
        in_sdist = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    assert [p for p in package if p not in in_wheel] == []
    assert [p for p in page if f"minfer_wasm/native/site_files/{p}" not in in_wheel] == []
    assert [p for p in package + page + ["package.json", "package-lock.json"] if p not in in_sdist] == []


def test_serve_from_a_wheel_install_outside_the_checkout_answers(installed, chromium, native_engine, tmp_path):
    folder = tmp_path / "anywhere"
    folder.mkdir()
    location = run(installed.python, "-c", "import minfer_wasm; print(minfer_wasm.__file__)", cwd=folder)
    assert Path(location.strip()).is_relative_to(installed.work / "venv"), location
    with serving([installed.command], folder, user_env(tmp_path / "cache")) as (url, _):
        context = chromium.new_context()
        try:
            page = open_ready(context, url)
            message = ask(page, "Say hi.", max_tokens=4)
            assert answer_text(message) == native_answer(native_chat(native_engine), "Say hi.", 4)
        finally:
            context.close()
