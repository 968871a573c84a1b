"""The built site as a static site: offline after one visit, from a sub-path, on its own origin.

What the page sends is taken from the browser context's request events, which cover the page,
its worker and its service worker (and not the browser's own background traffic); what reached
the network is taken from the test server's access log.
"""

import json
from urllib.parse import urlsplit

from pagekit import (SUBPATH, answer_text, ask, native_answer, native_chat, open_ready, record_requests,
                     wait_state)

# Chromium checks for a new service worker script on navigation outside DevTools' offline
# emulation; with the server down those checks fail, as they would with no network at all.
SW_UPDATE_CHECKS = ("/sw.js", "/web/sw.js")


def answered_by_service_worker(request) -> bool:
    response = request.response()
    return response is not None and response.from_service_worker


def test_offline_reload_still_answers(new_context, server, native_engine):
    context = new_context()
    requests = record_requests(context)
    page = open_ready(context, server.url)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=60_000)
    seen, reached_before = len(requests), len(server.requests)
    context.set_offline(True)
    server.handler.down = True          # and the server is gone too: nothing can be fetched
    try:
        page.reload()
        wait_state(page, "ready")
        message = ask(page, "What is two plus two?", max_tokens=8)
    finally:
        server.handler.down = False
    assert answer_text(message) == native_answer(native_chat(native_engine), "What is two plus two?", 8)

    # Every request after going offline was answered by the service worker, except the worker's
    # probe of its model's URL for a newer copy, which fails for want of a network (the worker
    # then uses its cached copy).
    offline = requests[seen:]
    assert any(answered_by_service_worker(r) for r in offline), "the service worker answered nothing"
    failed = {urlsplit(r.url).path for r in offline if r.failure is not None}
    assert failed <= {f"/{json.loads((server.site / 'site.json').read_text())['model']}"}, failed
    went_out = [r.url for r in offline if not answered_by_service_worker(r) and r.failure is None
                and urlsplit(r.url).path not in SW_UPDATE_CHECKS]
    assert went_out == [], "the offline page got answers from the network"
    reached = [path for _, path in server.requests[reached_before:] if urlsplit(path).path not in SW_UPDATE_CHECKS]
    assert reached == [], "the offline page still reached the server"


def test_site_works_from_a_sub_path_and_stays_on_its_origin(new_context, server, native_engine):
    """Also: the model named by ?model=, relative to the page."""
    model = next((server.site / "models").glob("*.gguf")).name
    context = new_context()
    requests = record_requests(context)
    page = open_ready(context, f"{server.url}{SUBPATH.lstrip('/')}?model=models/{model}")
    message = ask(page, "Say hello.", max_tokens=6)
    assert answer_text(message) == native_answer(native_chat(native_engine), "Say hello.", 6)
    context.close()

    paths = [urlsplit(r.url).path for r in requests]
    assert f"{SUBPATH}models/{model}" in paths, "no model request from the worker was recorded"
    assert any(r.service_worker is not None for r in requests), "no request of the service worker was recorded"
    foreign = [r.url for r in requests if f"{urlsplit(r.url).scheme}://{urlsplit(r.url).netloc}" != server.origin]
    assert foreign == [], "requests that left the page's origin"
    outside = [path for path in paths if not path.startswith(SUBPATH)]
    assert outside == [], "requests outside the sub-path: some URL is not relative"
