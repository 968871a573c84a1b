"""The page's Markdown renderer (web/ui/markdown.js) in Chromium: code blocks, lists, tables and
links come out as elements; raw HTML in model text is shown as text and never runs.

The renderer is imported as the page imports it, into a blank page of the built site's origin,
so hostile text reaches it directly (the model cannot be made to write it on demand); the
streaming path (MarkdownStream) gets the text in pieces, as an answer arrives. Saved answers
shown by the page itself are covered in test_page_chats.py.
"""

import pytest
from playwright.sync_api import expect

BLANK = "blank.html"
HOSTILE = ("Here you go:\n\n<img src=x onerror=\"window.__pwned = 'img'\">\n\n"
           "<script>window.__pwned = 'script'</script>\n\n"
           "Inline <b onmouseover=\"window.__pwned = 'b'\">bold</b> and <svg onload=\"window.__pwned = 'svg'\"></svg>\n\n"
           "[click](javascript:window.__pwned='link') ![pic](x \"t\")\n\n"
           "<iframe src=\"javascript:window.__pwned='iframe'\"></iframe>\n")
MARKDOWN = ("Steps:\n\n1. one\n2. two\n\n- a\n- b\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n"
            "See [the docs](https://example.org/docs).\n\n```python\ndef add(a, b):\n    return a + b\n```\n")


@pytest.fixture(scope="module")
def blank(chromium, server):
    """A blank page of the site's origin with clipboard access; records every element added."""
    context = chromium.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.route(f"**/{BLANK}", lambda route: route.fulfill(
        body="<!doctype html><html><head><link rel='stylesheet' href='web/style.css'></head><body></body></html>",
        content_type="text/html"))
    page.goto(server.url + BLANK)
    page.evaluate("""() => {
        window.__added = [];
        new MutationObserver((records) => {
            for (const r of records) for (const n of r.addedNodes) {
                if (n.nodeType === 1) window.__added.push(n.tagName, ...[...n.querySelectorAll('*')].map((e) => e.tagName));
            }
        }).observe(document, {subtree: true, childList: true});
    }""")
    yield page
    context.close()


def render(page, text: str) -> str:
    """renderMarkdown(text) into a new <div class=msg-body> -> its innerHTML."""
    return page.evaluate("""async (text) => {
        const { renderMarkdown } = await import('./web/ui/markdown.js');
        const div = document.createElement('div');
        div.className = 'msg-body';
        document.body.append(div);
        div.append(renderMarkdown(text));
        return div.innerHTML;
    }""", text)


def stream(page, text: str, piece: int) -> str:
    """MarkdownStream fed `text` `piece` characters at a time, a frame apart, then finished."""
    return page.evaluate("""async ([text, piece]) => {
        const { MarkdownStream } = await import('./web/ui/markdown.js');
        const div = document.createElement('div');
        div.className = 'msg-body';
        document.body.append(div);
        const s = new MarkdownStream(div);
        const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
        for (let i = piece; i < text.length + piece; i += piece) {
            s.set(text.slice(0, i));
            await frame();
        }
        const streamed = div.innerHTML;
        s.finish();
        return streamed;
    }""", [text, piece])


def test_markdown_becomes_lists_tables_links_and_highlighted_code(blank):
    render(blank, MARKDOWN)
    body = blank.locator(".msg-body").last
    expect(body.locator("ol > li")).to_have_text(["one", "two"])
    expect(body.locator("ul > li")).to_have_text(["a", "b"])
    expect(body.locator("table td")).to_have_text(["1", "2"])
    link = body.get_by_role("link", name="the docs")
    expect(link).to_have_attribute("href", "https://example.org/docs")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    code = body.locator("pre code")
    expect(code).to_have_text("def add(a, b):\n    return a + b\n")
    expect(code.locator(".hljs-keyword").first).to_have_text("def")      # highlighted as Python


def test_copy_button_puts_the_code_on_the_clipboard(blank):
    """The page's click handler lives in ConversationView; here the button's own contract:
    a Copy button in the code block's bar, and (through the view) the code on the clipboard."""
    blank.evaluate("""async () => {
        const { ConversationView } = await import('./web/ui/conversation.js');
        const log = document.createElement('div');
        const hint = document.createElement('p');
        const jump = document.createElement('button');
        document.body.append(log, jump);
        const view = new ConversationView({ log, emptyHint: hint, jump }, {});
        view.addAnswer(0).finish('Try:\\n\\n```js\\nconsole.log("hi <b>");\\n```\\n', {});
        window.__log = log;
    }""")
    block = blank.locator(".code-block").last
    expect(block.locator("pre code")).to_have_text('console.log("hi <b>");\n')
    block.get_by_role("button", name="Copy").click()
    expect(block.get_by_role("button", name="Copied")).to_be_visible()
    assert blank.evaluate("navigator.clipboard.readText()") == 'console.log("hi <b>");\n'


@pytest.mark.parametrize("how", ["whole", "streamed"])
def test_raw_html_in_model_text_never_runs_nor_becomes_elements(blank, how):
    blank.evaluate("() => { window.__pwned = null; window.__added = []; }")
    if how == "whole":
        html = render(blank, HOSTILE)
    else:
        html = stream(blank, HOSTILE, 3)
    blank.wait_for_timeout(300)         # an onerror / onload would have fired by now
    body = blank.locator(".msg-body").last
    assert blank.evaluate("window.__pwned") is None
    added = blank.evaluate("window.__added")
    for tag in ("IMG", "SCRIPT", "SVG", "IFRAME", "B"):
        assert tag not in added, f"<{tag.lower()}> was created ({how}): {html}"
    # the tags are shown as the text the model wrote
    expect(body).to_contain_text("<img src=x onerror=")
    expect(body).to_contain_text("<script>window.__pwned = 'script'</script>")
    # the javascript: link lost its target; the image became a plain link to its address
    assert "javascript:" not in (body.locator("a", has_text="click").get_attribute("href") or "")
    expect(body.get_by_role("link", name="pic")).to_have_attribute("href", "x")
    assert not [e for e in blank.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
                if e.endswith("/x")], "the image was fetched"


def test_streaming_renders_the_same_as_a_whole_render_without_redoing_kept_blocks(blank):
    text = MARKDOWN * 4
    whole = render(blank, text)
    streamed = stream(blank, text, 7)
    parts = blank.locator(".msg-body").last.locator(":scope > .md-part")
    # The finished stream is the whole render; before finish() it was split at blank lines
    # outside the code fences, so only its last part was being redone.
    assert blank.locator(".msg-body").last.inner_html() == whole
    assert streamed.count('class="md-part"') > 8
    assert parts.count() == 0
