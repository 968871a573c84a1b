"""The chat page in headless Chromium, against the same model run natively.

One page (one Pyodide start, one model download) serves every test in this module; each test
starts with "New chat". Answers are greedy and short: the model decodes a few tokens per second
in Pyodide.
"""

import re

import numpy as np
import pytest
from gguf import GGUFWriter
from playwright.sync_api import expect

from minfer_wasm.native import model_store
from pagekit import (NO_RANGE, answer_text, ask, native_answer, native_chat, native_until, new_chat,
                     open_ready, wait_state)


@pytest.fixture(scope="module")
def page(chromium, server):
    context = chromium.new_context()
    page = open_ready(context, server.url)
    yield page
    context.close()


def test_page_becomes_ready_with_the_default_model(page, native_engine):
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()
    expect(page.get_by_role("region", name="Loading progress")).to_be_hidden()
    expect(page.locator("header")).to_contain_text(native_engine.model.config.arch)


def test_greedy_answer_matches_native_engine(page, native_engine):
    new_chat(page)
    question = "What is the capital of France?"
    message = ask(page, question, max_tokens=12)
    assert answer_text(message) == native_answer(native_chat(native_engine), question, 12)
    assert message.get_attribute("data-stop-reason") in ("eog", "length")


def test_the_page_runs_the_compiled_kernels_and_says_so(page):
    path = page.get_by_test_id("kernel-path")
    expect(path).to_be_visible()
    expect(path).to_have_attribute("data-path", "wasm-simd")


def test_numpy_path_on_request_answers_like_the_cli(chromium, server, numpy_engine):
    """?kernels=numpy: the page runs the numpy engine, says so, and answers exactly as the
    native CLI does (the numpy path, same float operations)."""
    context = chromium.new_context()
    try:
        page = open_ready(context, server.url + "?kernels=numpy")
        expect(page.get_by_test_id("kernel-path")).to_have_attribute("data-path", "numpy")
        expect(page.get_by_label("Matrix kernels")).to_have_value("numpy")
        question = "What is the capital of France?"
        message = ask(page, question, max_tokens=12)
        assert answer_text(message) == native_answer(native_chat(numpy_engine), question, 12)
        # the setting switches back: the model reloads on the kernels, and says so
        page.get_by_label("Matrix kernels").select_option("wasm")
        wait_state(page, "ready")
        expect(page.get_by_test_id("kernel-path")).to_have_attribute("data-path", "wasm-simd")
    finally:
        context.close()


def test_tokens_arrive_incrementally(page):
    new_chat(page)
    # Record the answer's raw text (data-text) at every DOM change, with the status at that moment.
    page.evaluate("""() => {
        window.__snapshots = [];
        const status = document.querySelector('[data-testid="status"]');
        new MutationObserver(() => {
            const bodies = document.querySelectorAll('[data-role="assistant"]');
            if (bodies.length) window.__snapshots.push([bodies[bodies.length - 1].dataset.text, status.dataset.state]);
        }).observe(document.querySelector('[role="log"]'), {subtree: true, childList: true, characterData: true, attributes: true});
    }""")
    question = "Count from one to ten in words. <b>Bold?</b><img src=x>"
    final = answer_text(ask(page, question, max_tokens=12))
    expect(page.locator('[data-role="user"]').last).to_have_text(question)     # text, not markup
    expect(page.get_by_role("log").locator("b, img")).to_have_count(0)
    during = [text for text, state in page.evaluate("window.__snapshots") if state == "generating" and text]
    distinct = list(dict.fromkeys(during))
    assert len(distinct) >= 3, f"the answer appeared in {len(distinct)} steps: {distinct}"
    assert all(final.startswith(text) for text in distinct)
    assert [len(t) for t in distinct] == sorted(len(t) for t in distinct)


def test_stop_ends_the_answer_early_and_the_next_message_works(page, native_engine):
    new_chat(page)
    question = "Write a long story about a dragon who learns to bake bread."
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max tokens").fill("200")
    page.get_by_role("textbox", name="Message").fill(question)
    page.get_by_role("button", name="Send").click()
    expect(page.locator('[data-role="assistant"]').last).to_have_text(re.compile(r"\S"), timeout=180_000)
    page.get_by_role("button", name="Stop").click()
    wait_state(page, "ready", 60_000)
    stopped = page.locator(".msg-assistant").last
    expect(stopped).to_have_attribute("data-stop-reason", "interrupted")
    partial = answer_text(stopped)

    # The native conversation, interrupted after the same text: the page's partial answer is
    # where the greedy answer stood, and the conversation goes on from there in both.
    chat = native_chat(native_engine)
    assert native_until(chat, question, partial) == partial

    follow_up = "Thank you! Now say hello."
    message = ask(page, follow_up, max_tokens=8)
    assert answer_text(message) == native_answer(chat, follow_up, 8)


def test_second_turn_reuses_the_cache(page, native_engine):
    new_chat(page)
    chat = native_chat(native_engine)
    first = ask(page, "Name a fruit.", max_tokens=8)
    assert answer_text(first) == native_answer(chat, "Name a fruit.", 8)
    # a new chat keeps what it shares with the last one cached (the template's system prompt)
    first_prompt = native_engine.encode_chat(chat.messages[:1])
    assert 0 < int(first.get_attribute("data-prompt-tokens-evaluated")) <= len(first_prompt)

    second = ask(page, "Name a vegetable.", max_tokens=8)
    assert answer_text(second) == native_answer(chat, "Name a vegetable.", 8)
    evaluated = int(second.get_attribute("data-prompt-tokens-evaluated"))
    full_prompt = native_engine.encode_chat(chat.messages[:3])
    assert evaluated == chat.last_timings.prompt_tokens
    assert 0 < evaluated < len(full_prompt)


def test_local_file_is_read_in_place(page, server, native_engine):
    path = model_store.pull(model_store.DEFAULT_MODEL, log=lambda _: None)
    seen = len(server.requests)
    page.get_by_label("Local .gguf file").set_input_files(path)
    wait_state(page, "ready")
    new_chat(page)          # loading a model keeps the chat shown; this one starts afresh
    message = ask(page, "Say hi.", max_tokens=4)
    assert answer_text(message) == native_answer(native_chat(native_engine), "Say hi.", 4)
    assert not [p for _, p in server.requests[seen:] if ".gguf" in p], "the local file was fetched"


def test_an_invalid_setting_is_reported_and_the_chat_goes_on(page, native_engine):
    new_chat(page)
    page.get_by_label("Top-p").fill("2")
    page.get_by_label("Max tokens").fill("4")
    page.get_by_role("textbox", name="Message").fill("Say hi.")
    page.get_by_role("button", name="Send").click()
    wait_state(page, "error", 60_000)
    expect(page.get_by_role("alert")).to_contain_text("top_p")
    page.get_by_label("Top-p").fill("0.95")
    message = ask(page, "Say hi.", max_tokens=4)
    assert answer_text(message) == native_answer(native_chat(native_engine), "Say hi.", 4)


def _load_url(page, url: str) -> None:
    page.get_by_label("Model URL").fill(url)
    page.get_by_role("button", name="Load model").click()


def test_model_errors_are_shown_beside_the_field_and_the_loaded_model_keeps_working(page, server, native_engine,
                                                                                 tmp_path):
    """A failed load (issue 10, defect 1) leaves the loaded model and the chat as they were: the
    error is shown beside the field that caused it, and the next message is answered."""
    new_chat(page)
    chat = native_chat(native_engine)
    first = ask(page, "Say hi.", max_tokens=6)
    assert answer_text(first) == native_answer(chat, "Say hi.", 6)
    model_file = next((server.site / "models").glob("*.gguf")).name
    writer = GGUFWriter(server.site / "models" / "unsupported-arch.gguf", "bert")
    writer.add_tensor("token_embd.weight", np.zeros((4, 32), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    cases = [
        ("models/missing.gguf", "Could not read the model", "404"),
        (f"{NO_RANGE[1:]}models/{model_file}", "Could not read the model", "Range"),
        ("index.html", "Not a GGUF model", "GGUF"),
        ("models/unsupported-arch.gguf", "Unsupported model", "bert"),
    ]
    url_field = page.get_by_label("Model URL")
    for url, title, detail in cases:
        _load_url(page, url)
        expect(url_field).to_have_accessible_description(re.compile(f"{title}.*{detail}"), timeout=120_000)
        wait_state(page, "ready", 120_000)
        expect(page.get_by_role("button", name="Send")).to_be_enabled()
        expect(page.get_by_role("alert")).to_contain_text(title)

    # A (sparse) 3 GiB local file: more than a wasm32 page can hold.
    huge = tmp_path / "huge.gguf"
    with open(huge, "wb") as f:
        f.write(b"GGUF" + (3).to_bytes(4, "little"))
        f.truncate(3 << 30)
    page.get_by_label("Local .gguf file").set_input_files(huge)
    expect(page.get_by_label("Local .gguf file")).to_have_accessible_description(re.compile("Out of memory"),
                                                                                 timeout=120_000)
    wait_state(page, "ready", 120_000)

    # the chat is still there, and goes on with the same model
    expect(page.locator('[data-role="user"]')).to_have_text(["Say hi."])
    second = ask(page, "And goodbye?", max_tokens=6)
    assert answer_text(second) == native_answer(chat, "And goodbye?", 6)
