"""Browser test fixtures: the site built once per session, served by minfer_wasm.native.serve in a
thread, and headless Chromium (Debian's) with its own background traffic turned off.

What the page sends is judged from the browser's side: Playwright's context-level request events
report every request of a context's pages, their workers and their service workers
(pagekit.record_requests), and never the browser's own traffic (component updates, safe
browsing, preconnects...), which belongs to no page. The test server's access log tells what
reached it.

Pyodide's numpy wheel for the page comes from the mirror folder (~/.cache/minfer-wasm/pyodide-mirror)
or Pyodide's download location; when neither has it, the browser tests fail with the build's
message, which names the missing file and where to put it.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from minfer_wasm.native import model_store
from minfer_wasm.native.pyodide_wheels import MissingWheelError
from minfer_wasm.native.serve import SiteHandler, make_server
from minfer_wasm.native.site import build_site

from pagekit import CHROMIUM, CHROMIUM_FLAGS, NO_RANGE, SUBPATH


class RecordingSiteHandler(SiteHandler):
    """SiteHandler that logs each request it receives in `requests`, serves the site again below
    SUBPATH and below NO_RANGE (ignoring Range there), and while `down` is set answers 503,
    like a server that is gone."""

    requests: list = []
    down = False

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        self.requests.append((self.command, self.path))
        if self.down:
            self.send_error(503, "the network is down")
            return False
        return True

    def send_head(self):
        if self.path.startswith(SUBPATH):
            self.path = "/" + self.path[len(SUBPATH):]
        elif self.path.startswith(NO_RANGE):
            self.path = "/" + self.path[len(NO_RANGE):]
            del self.headers["Range"]
        return super().send_head()


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory):
    try:
        return build_site(tmp_path_factory.mktemp("site"), model=model_store.DEFAULT_MODEL, log=lambda _: None)
    except MissingWheelError as e:
        pytest.fail(f"no browser-side numpy for the page: {e}", pytrace=False)


@pytest.fixture(scope="session")
def server(site_dir):
    handler = type("RecordingHandler", (RecordingSiteHandler,), {"requests": [], "down": False})
    httpd = make_server(site_dir, "127.0.0.1", 0, quiet=True, handler=handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    host, port = httpd.server_address[:2]
    yield SimpleNamespace(origin=f"http://{host}:{port}", url=f"http://{host}:{port}/",
                          requests=handler.requests, handler=handler, site=site_dir)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_context(chromium):
    """new_context() -> a fresh browser context (own caches and service workers), closed after
    the test."""
    contexts = []

    def make():
        contexts.append(chromium.new_context(service_workers="allow"))
        return contexts[-1]

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def native_engine(site_dir, native_kernels_path):
    """The page's default path natively: the same model through the same kernels, built from the
    same C by the system compiler (its scalar path gives the wasm SIMD build's results bit for
    bit), so the page's greedy answers must match it exactly."""
    from minfer_wasm.engine import Engine
    from minfer_wasm.kernels import load_kernels

    source = model_store.open_model(model_store.DEFAULT_MODEL, log=lambda _: None)
    return Engine.load(source, load_kernels(native_kernels_path))


@pytest.fixture(scope="session")
def numpy_engine(site_dir):
    """The numpy path natively (what the CLI runs): the reference for the page's ?kernels=numpy."""
    from minfer_wasm.engine import Engine

    return Engine.load(model_store.open_model(model_store.DEFAULT_MODEL, log=lambda _: None))
