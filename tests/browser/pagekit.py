"""Driving the chat page the way a person does (through its labels and roles), and the native
reference its answers are compared with."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, Request, expect

from minfer_wasm.chat import Chat
from minfer_wasm.sampling import SamplingParams

CHROMIUM = "/usr/bin/chromium"
# The browser's own traffic off: background services, component and extension updates, sync,
# first-run and default-browser checks, crash and metrics uploads, domain reliability and safe
# browsing reports. What still starts (Debian's Chromium 156 asks accounts.google.com,
# update.googleapis.com and the autofill service anyway) fails at name resolution: every host
# name but the test server's 127.0.0.1 resolves to nothing. A page request to another
# origin is still attempted, so record_requests still sees it. No --disable-features here:
# Playwright passes its own list (no search-engine preconnects, network-time queries or
# optimization hints), and a second --disable-features switch replaces it.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--no-default-browser-check", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-default-apps",
                  "--disable-extensions", "--disable-domain-reliability",
                  "--disable-client-side-phishing-detection", "--metrics-recording-only",
                  "--disable-breakpad", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
SUBPATH = "/deep/sub/path/"         # the test server mounts the site again below this prefix
NO_RANGE = "/no-range/"             # ... and again here, ignoring Range like a plain static server
READY_TIMEOUT_MS = 240_000          # Pyodide start + model download + load on a busy 2-core box
ANSWER_TIMEOUT_MS = 180_000
PAGE_N_CTX = 2048                   # the context length the page asks the worker for


def record_requests(context: BrowserContext) -> list[Request]:
    """A list that collects every request `context`'s pages, their workers and their service
    workers make from now on (a service worker's own requests have `service_worker` set). The
    browser's own background traffic belongs to no context and never appears."""
    requests: list[Request] = []

    def record(request: Request) -> None:     # Playwright keeps state on handlers: no bound builtins
        requests.append(request)

    context.on("request", record)
    return requests


def status(page: Page):
    return page.get_by_test_id("status")


def wait_state(page: Page, state: str, timeout: int = READY_TIMEOUT_MS) -> None:
    expect(status(page)).to_have_attribute("data-state", state, timeout=timeout)


def open_ready(context, url: str) -> Page:
    """A new page at `url`, waited on until its default model is ready."""
    page = context.new_page()
    page.goto(url)
    wait_state(page, "ready")
    return page


def ask(page: Page, text: str, *, max_tokens: int, temperature: float = 0.0):
    """Send `text` with these settings and wait for the answer to finish; returns the answer's
    message element (its data-stop-reason and data-prompt-tokens-evaluated describe the turn)."""
    page.get_by_label("Temperature").fill(str(temperature))
    page.get_by_label("Max tokens").fill(str(max_tokens))
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()
    message = page.locator(".msg-assistant").last
    expect(message).to_have_attribute("data-stop-reason", re.compile(r".+"), timeout=ANSWER_TIMEOUT_MS)
    wait_state(page, "ready", ANSWER_TIMEOUT_MS)
    return message


def answer_text(message) -> str:
    """The answer's raw model text (data-text), as generated, before Markdown."""
    return message.locator('[data-role="assistant"]').get_attribute("data-text")


def new_chat(page: Page) -> None:
    page.get_by_role("button", name="New chat").click()
    expect(page.locator('[data-role="assistant"]')).to_have_count(0)


def native_chat(engine) -> Chat:
    """A native conversation set up like the page's (no system prompt, same context length)."""
    return Chat(engine, None, n_ctx=PAGE_N_CTX)


def native_answer(chat: Chat, text: str, max_tokens: int) -> str:
    """The greedy answer, with the page's other sampling defaults."""
    return "".join(chat.send(text, SamplingParams(temperature=0.0), max_tokens=max_tokens))


def native_until(chat: Chat, text: str, partial: str) -> str:
    """The native greedy answer to `text`, interrupted once it is as long as the page's
    stopped answer `partial` (as the page's Stop ends it): the conversation then goes on from it."""
    pieces = chat.send(text, SamplingParams(temperature=0.0), max_tokens=200)
    native = ""
    for piece in pieces:
        native += piece
        if len(native) >= len(partial):
            break
    pieces.close()
    return native
