"""The chat page's layout at a desktop (1280x800) and a phone (390x800) size, light and dark:
Settings opens on screen, the composer and the last answer's stats line stay in view, progress
tracks are dark in dark mode, the view follows new text only from the bottom, and the page is
installable (manifest and icons). Screenshots go to $MINFER_SCREENSHOTS when it is set.
"""

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from pagekit import ANSWER_TIMEOUT_MS, ask, new_chat, wait_state

SIZES = [(1280, 800), (390, 800)]


def shot(page, name: str) -> None:
    folder = os.environ.get("MINFER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def luminance(css_color: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def inside_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and \
        box["x"] + box["width"] <= size["width"] + 0.5 and box["y"] + box["height"] <= size["height"] + 0.5


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width,height", SIZES)
def test_layout_at_desktop_and_phone_sizes(chromium, server, scheme, width, height):
    context = chromium.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(server.url)
        track = page.evaluate("getComputedStyle(document.getElementById('progress-download')).backgroundColor")
        if scheme == "dark":
            assert luminance(track) < 0.3, f"the empty progress track is light in dark mode: {track}"
        shot(page, f"{scheme}-{width}-loading")
        wait_state(page, "ready")
        expect(page.get_by_role("button", name="Write a haiku about the sea.")).to_be_visible()     # starters

        settings = page.get_by_role("complementary", name="Settings")
        narrow = width < 1000
        if narrow:                          # a drawer, closed until asked for
            expect(settings).to_be_hidden()
            page.get_by_role("button", name="Settings").click()
        page.wait_for_timeout(300)          # the drawer's slide
        assert inside_viewport(page, page.get_by_label("Model URL"))
        page.get_by_label("Temperature").fill("0")
        page.get_by_label("Max tokens").fill("48")
        shot(page, f"{scheme}-{width}-settings")
        if narrow:
            assert inside_viewport(page, settings), "the settings drawer is not on screen"
        if narrow:
            page.get_by_role("button", name="Close").click()
            expect(settings).to_be_hidden()
            chats = page.get_by_role("navigation", name="Chats")
            expect(chats).to_be_hidden()
            page.get_by_role("button", name="Chats").click()
            expect(page.get_by_role("button", name="New chat")).to_be_visible()
            page.wait_for_timeout(300)
            assert inside_viewport(page, chats), "the chats drawer is not on screen"
            page.keyboard.press("Escape")
            expect(chats).to_be_hidden()

        page.get_by_role("textbox", name="Message").fill("Write a short poem about rain.")
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".msg-assistant").last).to_have_attribute("data-stop-reason", re.compile(r".+"),
                                                                       timeout=ANSWER_TIMEOUT_MS)
        stats = page.locator(".msg-assistant").last.locator(".msg-meta")
        expect(stats).to_contain_text("tok/s")
        page.wait_for_timeout(100)          # the last scroll, one frame after the last render
        assert inside_viewport(page, stats), "the last answer's stats line is out of view"
        assert inside_viewport(page, page.get_by_role("textbox", name="Message"))
        shot(page, f"{scheme}-{width}-chat")
    finally:
        context.close()


def test_the_view_follows_new_text_only_from_the_bottom(chromium, server):
    context = chromium.new_context(viewport={"width": 1280, "height": 600})
    try:
        page = context.new_page()
        page.goto(server.url)
        wait_state(page, "ready")
        new_chat(page)
        for question in ("Tell me about the sea.", "Tell me about the mountains.", "Tell me about rivers."):
            ask(page, question, max_tokens=40)
        log = page.get_by_role("log")
        assert log.evaluate("(el) => el.scrollHeight > el.clientHeight"), "the chat does not overflow yet"
        page.get_by_label("Max tokens").fill("150")
        page.get_by_role("textbox", name="Message").fill("Write a long story about a forest.")
        page.get_by_role("button", name="Send").click()
        answer = page.locator('[data-role="assistant"]').last
        expect(answer).to_have_attribute("data-text", re.compile(r"\S"), timeout=ANSWER_TIMEOUT_MS)
        log.evaluate("(el) => el.scrollTo(0, 0)")
        jump = page.get_by_role("button", name="Jump to latest")
        expect(jump).to_be_visible()
        grown = answer.get_attribute("data-text")
        expect(answer).not_to_have_attribute("data-text", grown, timeout=ANSWER_TIMEOUT_MS)
        assert log.evaluate("(el) => el.scrollTop") == 0, "the view moved while the reader was reading above"
        jump.click()
        expect(jump).to_be_hidden()
        wait_state(page, "ready", ANSWER_TIMEOUT_MS)
        assert log.evaluate("(el) => el.scrollHeight - el.scrollTop - el.clientHeight") < 48
    finally:
        context.close()


def test_the_page_is_installable(server):
    """index.html links a manifest whose icons exist, with the sizes installing asks for."""
    html = (server.site / "index.html").read_text()
    assert '<link rel="manifest" href="web/manifest.json">' in html
    manifest = json.loads((server.site / "web" / "manifest.json").read_text())
    assert manifest["display"] == "standalone" and manifest["start_url"]
    sizes = set()
    for icon in manifest["icons"]:
        data = (server.site / "web" / icon["src"]).read_bytes()
        if icon["type"] == "image/png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
            assert icon["sizes"] == f"{width}x{height}"
            sizes.add(width)
        else:
            assert data.lstrip().startswith(b"<svg")
    assert {192, 512} <= sizes
    site = json.loads((server.site / "site.json").read_text())
    assert {"web/manifest.json", "web/icons/icon-192.png", "web/vendor/marked.esm.js"} <= set(site["cache"])
