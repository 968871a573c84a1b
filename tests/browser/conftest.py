"""Browser test fixtures: the site built once per session, served by minfer_wasm.serve in a
thread, and headless Chromium (Debian's). Every browser context uses that same server as its HTTP
proxy, so each request of a page, its worker and its service worker is recorded there, and one
that would leave the page's origin is refused, never sent. The browser's own background traffic
goes to a second proxy that refuses everything.

When Pyodide's numpy wheel cannot be had (mirror folder empty, release download unreachable) the
browser tests skip with the build's message, which names the missing file and where to put it.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from minfer_wasm.native import model_store
from minfer_wasm.native.pyodide_wheels import MissingWheelError
from minfer_wasm.native.serve import SiteHandler, make_server
from minfer_wasm.native.site import build_site

from pagekit import CHROMIUM, CHROMIUM_FLAGS, NO_RANGE, SUBPATH


class RecordingSiteHandler(SiteHandler):
    """SiteHandler plus proxy-form requests (recorded in `requests`; only this server's own
    origin is served), the SUBPATH mount, and the NO_RANGE mount. While `down` is set it answers
    every request with 503, like a network that is gone."""

    requests: list = []
    down = False

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        self.requests.append((self.command, self.path))
        if self.down:
            self.send_error(503, "the network is down")
            return False
        if self.command == "CONNECT":           # an https tunnel: nothing here is https
            self.send_error(403, "tests allow no request outside the page's origin")
            return False
        if "://" in self.path:                  # proxy form: http://host:port/path?query
            url = urlsplit(self.path)
            own = f"{self.server.server_address[0]}:{self.server.server_address[1]}"
            if url.netloc != own:
                self.send_error(403, "tests allow no request outside the page's origin")
                return False
            self.path = url.path + (f"?{url.query}" if url.query else "")
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
        pytest.skip(f"no browser-side numpy for the page: {e}")


def _serve(site_dir, down: bool):
    handler = type("RecordingHandler", (RecordingSiteHandler,), {"requests": [], "down": down})
    httpd = make_server(site_dir, "127.0.0.1", 0, quiet=True, handler=handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    host, port = httpd.server_address[:2]
    return httpd, SimpleNamespace(origin=f"http://{host}:{port}", url=f"http://{host}:{port}/",
                                  requests=handler.requests, handler=handler, site=site_dir)


@pytest.fixture(scope="session")
def server(site_dir):
    httpd, info = _serve(site_dir, down=False)
    yield info
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def chromium(site_dir):
    """The browser; its own traffic (component updates, autofill...) goes to a proxy that is down."""
    from playwright.sync_api import sync_playwright

    httpd, blackhole = _serve(site_dir, down=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True,
                                    proxy={"server": blackhole.origin})
        yield browser
        browser.close()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def new_context(chromium, server):
    """new_context() -> a fresh browser context (own caches and service workers) whose requests
    all go through the recording server; "<-loopback>" removes Chromium's implicit proxy bypass
    for 127.0.0.1. Closed after the test."""
    contexts = []

    def make():
        contexts.append(chromium.new_context(proxy={"server": server.origin, "bypass": "<-loopback>"}))
        return contexts[-1]

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def native_engine(site_dir):
    """The same model, loaded natively: the reference for the page's answers."""
    from minfer_wasm.engine import Engine

    return Engine.load(model_store.open_model(model_store.DEFAULT_MODEL, log=lambda _: None))
