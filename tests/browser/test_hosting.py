"""The built site as a static site: offline after one visit, from a sub-path, on its own origin.

The test server is also Chromium's HTTP proxy and records every request the browser makes (page,
worker and service worker alike), so "nothing reached the network" and "nothing left the origin"
are checked on the wire, not inferred from the page.
"""

from urllib.parse import urlsplit

from pagekit import SUBPATH, answer_text, ask, native_answer, native_chat, open_ready, wait_state


# Chromium checks for a new service worker script on navigation outside DevTools' offline
# emulation; with the server down those checks fail, as they would with no network at all.
SW_UPDATE_CHECKS = ("/sw.js", "/web/sw.js")


def test_offline_reload_still_answers(new_context, server, native_engine):
    context = new_context()
    page = open_ready(context, server.url)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=60_000)
    seen = len(server.requests)
    context.set_offline(True)
    server.handler.down = True          # and the server is gone too: nothing can be fetched
    try:
        page.reload()
        wait_state(page, "ready")
        message = ask(page, "What is two plus two?", max_tokens=8)
    finally:
        server.handler.down = False
    assert answer_text(message) == native_answer(native_chat(native_engine), "What is two plus two?", 8)
    reached = [path for _, path in server.requests[seen:] if urlsplit(path).path not in SW_UPDATE_CHECKS]
    assert reached == [], "the offline page still sent requests"


def test_site_works_from_a_sub_path_and_stays_on_its_origin(new_context, server, native_engine):
    """Also: the model named by ?model=, relative to the page."""
    model = next((server.site / "models").glob("*.gguf")).name
    seen = len(server.requests)
    context = new_context()
    page = open_ready(context, f"{server.url}{SUBPATH.lstrip('/')}?model=models/{model}")
    message = ask(page, "Say hello.", max_tokens=6)
    assert answer_text(message) == native_answer(native_chat(native_engine), "Say hello.", 6)
    context.close()
    origin = urlsplit(server.origin).netloc
    requests = server.requests[seen:]
    assert f"{SUBPATH}models/{model}" in [urlsplit(path).path for _, path in requests], "the proxy saw no model request"
    foreign = [(cmd, path) for cmd, path in requests if cmd == "CONNECT" or urlsplit(path).netloc != origin]
    assert foreign == []
    outside = [path for _, path in requests if not urlsplit(path).path.startswith(SUBPATH)]
    assert outside == [], "requests outside the sub-path: some URL is not relative"
