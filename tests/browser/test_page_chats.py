"""The chat page's kept conversations and message actions in Chromium, against the native engine:
chats and settings survive a reload and the reopened chat goes on; regenerate and edit answer as
the native engine does; a rejected message goes back into the text box; saved answers are shown
as Markdown (code blocks with Copy) and hostile HTML in them never runs.
"""

import json
import re

import pytest
from playwright.sync_api import expect

from pagekit import (READY_TIMEOUT_MS, answer_text, ask, native_answer, native_chat, new_chat, open_ready,
                     wait_state)


@pytest.fixture(scope="module")
def context(chromium):
    context = chromium.new_context(permissions=["clipboard-read", "clipboard-write"])
    yield context
    context.close()


@pytest.fixture(scope="module")
def page(context, server):
    return open_ready(context, server.url)


def chat_list(page):
    return page.get_by_test_id("chat-list")


def test_reload_keeps_the_chat_and_settings_and_the_chat_goes_on(page, native_engine):
    new_chat(page)
    page.get_by_label("Top-k").fill("7")
    page.get_by_label("Context length (tokens)").fill("2048")
    chat = native_chat(native_engine)
    first = ask(page, "Name a color.", max_tokens=6)
    assert answer_text(first) == native_answer(chat, "Name a color.", 6)
    expect(chat_list(page).get_by_role("button", name="Name a color.")).to_have_attribute("aria-current", "true")

    page.reload()
    wait_state(page, "ready", READY_TIMEOUT_MS)
    expect(page.locator('[data-role="user"]')).to_have_text(["Name a color."])
    assert answer_text(page.locator(".msg-assistant").last) == answer_text(first)
    expect(page.get_by_label("Top-k")).to_have_value("7")
    expect(page.get_by_label("Temperature")).to_have_value("0.0")       # as ask() typed it
    expect(chat_list(page).get_by_role("button", name="Name a color.")).to_be_visible()

    # continuing re-feeds the kept history: the answer is the native second turn
    second = ask(page, "Name another one.", max_tokens=6)
    assert answer_text(second) == native_answer(chat, "Name another one.", 6)


def test_regenerate_and_edit_answer_like_the_native_engine(page, native_engine):
    new_chat(page)
    chat = native_chat(native_engine)
    ask(page, "Name a fruit.", max_tokens=6)
    second = ask(page, "Name a vegetable.", max_tokens=6)
    native_answer(chat, "Name a fruit.", 6)
    expected = native_answer(chat, "Name a vegetable.", 6)
    assert answer_text(second) == expected

    # Regenerate the last answer: greedy, so the same text; only the answer's prompt is redone
    page.get_by_role("button", name="Regenerate answer").click()
    wait_state(page, "generating", 30_000)
    wait_state(page, "ready", 180_000)
    answers = page.locator(".msg-assistant")
    expect(answers).to_have_count(2)
    assert answer_text(answers.last) == expected
    evaluated = int(answers.last.get_attribute("data-prompt-tokens-evaluated"))
    assert 0 < evaluated < len(native_engine.encode_chat(chat.messages[:3]))

    # Edit the first question: what came after it goes, and the edited question is answered
    page.get_by_role("button", name="Edit message").first.click()
    page.get_by_label("Edited message").fill("Name a city.")
    page.get_by_role("button", name="Save and send").click()
    wait_state(page, "generating", 30_000)
    wait_state(page, "ready", 180_000)
    expect(page.locator('[data-role="user"]')).to_have_text(["Name a city."])
    expect(answers).to_have_count(1)
    assert answer_text(answers.last) == native_answer(native_chat(native_engine), "Name a city.", 6)


def test_a_rejected_message_goes_back_into_the_text_box(page):
    new_chat(page)
    box = page.get_by_role("textbox", name="Message")
    too_long = "tell me more about this " * 600        # well over the page's 2048-token context
    box.fill(too_long)
    page.get_by_role("button", name="Send").click()
    wait_state(page, "error", 120_000)
    expect(page.get_by_role("alert")).to_contain_text("Conversation too long")
    expect(box).to_have_value(too_long)
    expect(box).to_be_focused()
    expect(page.locator(".msg")).to_have_count(0)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_send_and_stop_return_focus_to_the_message_box(page):
    new_chat(page)
    page.get_by_label("Max tokens").fill("200")
    box = page.get_by_role("textbox", name="Message")
    box.fill("Write a long story about a lighthouse.")
    page.get_by_role("button", name="Send").click()
    expect(box).to_be_focused()
    expect(page.locator('[data-role="assistant"]').last).to_have_attribute("data-text", re.compile(r"\S"),
                                                                            timeout=180_000)
    page.get_by_role("button", name="Stop").click()
    wait_state(page, "ready", 60_000)
    expect(box).to_be_focused()
    expect(page.locator(".msg-assistant").last).to_have_attribute("data-stop-reason", "interrupted")
    assert answer_text(page.locator(".msg-assistant").last).strip()       # the partial answer stays


def seed_chat(page, title: str, messages: list) -> None:
    """Store a chat as the page keeps it and make it the one shown after a reload."""
    page.evaluate("""async ([title, messages]) => {
        const store = await import('./web/ui/store.js');
        const chat = { ...store.newChat(), title, messages };
        await store.saveChat(chat);
        const settings = store.loadSettings();
        settings.lastChat = chat.id;
        store.saveSettings(settings);
    }""", [title, messages])
    page.reload()


def test_saved_answers_show_code_blocks_with_a_working_copy_button(page):
    code = 'def greet(name):\n    return f"hello {name}"\n'
    text = f"Here it is:\n\n```python\n{code}```\n\n1. call it\n2. print it\n"
    seed_chat(page, "Code please", [{"role": "user", "content": "A greeting function?"},
                                    {"role": "assistant", "content": text}])
    answer = page.locator('[data-role="assistant"]')
    expect(answer.locator("pre code")).to_have_text(code)
    expect(answer.locator("ol li")).to_have_count(2)
    assert answer.get_attribute("data-text") == text
    answer.locator(".code-block").get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == code
    wait_state(page, "ready")


def test_hostile_html_in_a_saved_answer_never_runs(page):
    page.evaluate("() => { window.__pwned = null; }")
    hostile = ('<img src=x onerror="window.__pwned = 1">\n\n<script>window.__pwned = 2</script>\n\n'
               'Fine <b onclick="x()">text</b>.')
    # every element added inside the conversation log, from the start of the page
    page.add_init_script("""window.__created = [];
        new MutationObserver((rs) => rs.forEach((r) => r.addedNodes.forEach((n) => {
            if (n.nodeType === 1 && r.target.closest && r.target.closest('[role=log]')) {
                window.__created.push(n.tagName, ...[...n.querySelectorAll('*')].map((e) => e.tagName));
            }
        }))).observe(document, {subtree: true, childList: true});""")
    seed_chat(page, "Hostile", [{"role": "user", "content": "Say something."}, {"role": "assistant", "content": hostile}])
    answer = page.locator('[data-role="assistant"]')
    expect(answer).to_contain_text("<img src=x onerror=")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    created = page.evaluate("window.__created")
    assert "ARTICLE" in created                  # the observer saw the chat being shown
    assert not {"IMG", "SCRIPT", "B"} & set(created), created
    assert answer.get_attribute("data-text") == hostile
    wait_state(page, "ready")


def test_chats_are_listed_renamed_exported_imported_and_deleted(page, tmp_path):
    new_chat(page)
    ask(page, "Hello there.", max_tokens=3)
    item = chat_list(page).get_by_role("button", name="Hello there.")
    expect(item).to_be_visible()
    entry = chat_list(page).locator("li", has=page.get_by_role("button", name="Hello there."))
    entry.get_by_role("button", name="Rename chat").click()
    page.get_by_label("Chat name").fill("Greetings")
    page.get_by_label("Chat name").press("Enter")
    renamed = chat_list(page).get_by_role("button", name="Greetings", exact=True)
    expect(renamed).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("button", name="Export").click()
    exported = json.loads(open(download.value.path()).read())
    kept = next(c for c in exported["chats"] if c["title"] == "Greetings")
    assert [m["content"] for m in kept["messages"]][0] == "Hello there."

    chat_list(page).locator("li", has=page.get_by_role("button", name="Greetings", exact=True)) \
        .get_by_role("button", name="Delete chat").click()
    expect(renamed).to_have_count(0)
    expect(page.locator(".msg")).to_have_count(0)            # the open chat was the deleted one

    path = tmp_path / "chats.json"
    path.write_text(json.dumps({"chats": [kept]}))
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Import").click()
    chooser.value.set_files(path)
    expect(renamed).to_be_visible()
    renamed.click()
    expect(page.locator('[data-role="user"]')).to_have_text(["Hello there."])

    # a file that is not an export is refused with a message, and nothing is added
    bad = tmp_path / "notes.json"
    bad.write_text('{"chats": [{"title": "x", "messages": [{"role": "robot", "content": 1}]}]}')
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Import").click()
    chooser.value.set_files(bad)
    expect(page.get_by_role("alert")).to_contain_text("notes.json: chat 1, message 1")
    expect(chat_list(page).get_by_role("button", name="x", exact=True)).to_have_count(0)
