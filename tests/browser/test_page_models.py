"""Settings → Model in Chromium: the models kept in Cache Storage can be deleted (their bytes
leave it), and a base model (Gemma 3 270M, no chat template) switches the page to plain
completion with a visible note, answering as the native engine continues the same text.
"""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from minfer_wasm.context import TokenContext
from minfer_wasm.engine import Engine
from minfer_wasm.generate import generate
from minfer_wasm.native import model_store
from minfer_wasm.sampling import SamplingParams
from pagekit import PAGE_N_CTX, answer_text, ask, new_chat, open_ready, wait_state

CACHED_ENTRIES = """async () => {
    const cache = await caches.open('minfer-models-v1');
    return (await cache.keys()).length;
}"""


@pytest.fixture(scope="module")
def page(chromium, server):
    context = chromium.new_context()
    page = open_ready(context, server.url)
    yield page
    context.close()


def test_sampling_starts_from_the_models_recommended_settings_and_resets_to_them(page):
    """SmolLM2's authors recommend temperature 0.2 and top-p 0.9 (issue 10, defect 10)."""
    expect(page.get_by_label("Temperature")).to_have_value("0.2")
    expect(page.get_by_label("Top-p")).to_have_value("0.9")
    page.get_by_label("Temperature").fill("1.5")
    page.get_by_label("Top-p").fill("0.5")
    page.get_by_role("button", name="Reset to model defaults").click()
    expect(page.get_by_label("Temperature")).to_have_value("0.2")
    expect(page.get_by_label("Top-p")).to_have_value("0.9")


def test_a_kept_model_is_listed_and_deleting_it_empties_cache_storage(page, server):
    model_file = Path(json.loads((server.site / "site.json").read_text())["model"]).name    # the built-in one
    kept = page.get_by_role("list", name="Downloaded models")
    expect(kept).to_contain_text(model_file)
    assert page.evaluate(CACHED_ENTRIES) > 0
    kept.get_by_role("button", name=f"Delete {model_file}").click()
    expect(kept).to_contain_text("None yet")
    assert page.evaluate(CACHED_ENTRIES) == 0
    # the model in memory goes on answering
    assert answer_text(ask(page, "Say hi.", max_tokens=3)).strip()


def test_a_base_model_switches_the_page_to_plain_completion(page):
    path = model_store.pull("gemma3-270m", log=lambda _: None)
    page.get_by_label("Local .gguf file").set_input_files(path)
    wait_state(page, "ready")
    expect(page.locator("header")).to_contain_text("Gemma 3 270M")
    expect(page.get_by_text("This is a base model without a chat template")).to_be_visible()
    new_chat(page)
    prompt = "The capital of France is"
    answer = ask(page, prompt, max_tokens=8)

    engine = Engine.load(model_store.open_model(str(path), log=lambda _: None))
    steps = generate(TokenContext(engine.model, PAGE_N_CTX), engine.tokenizer, engine.tokenizer.encode(prompt),
                     SamplingParams(temperature=0.0), max_tokens=8)
    assert answer_text(answer) == "".join(step.text for step in steps)


def test_cancel_stops_a_load_and_keeps_the_loaded_model(chromium, server):
    """Cancel during a download: with no model yet the page says so; with one, it stays."""
    context = chromium.new_context()
    try:
        context.route("**/*.gguf", lambda route: None)           # the server never answers
        page = context.new_page()
        page.goto(server.url)
        cancel = page.get_by_role("button", name="Cancel")
        expect(page.get_by_role("region", name="Loading progress")).to_contain_text("Loading SmolLM2")
        cancel.click()
        wait_state(page, "error", 60_000)
        expect(page.get_by_role("alert")).to_contain_text("cancelled")
        expect(page.get_by_role("region", name="Loading progress")).to_be_hidden()
        expect(page.get_by_role("button", name="Send")).to_be_disabled()

        context.unroute("**/*.gguf")
        page.get_by_role("button", name="Use SmolLM2 135M Instruct").click()
        wait_state(page, "ready")
        context.route("**/slow/*.gguf", lambda route: None)
        page.get_by_label("Model URL").fill("slow/model.gguf")
        page.get_by_role("button", name="Load model").click()
        wait_state(page, "loading", 30_000)
        cancel.click()
        wait_state(page, "ready", 60_000)
        expect(page.get_by_test_id("status")).to_contain_text("Load cancelled")
        expect(page.locator("header")).to_contain_text("SmolLM2 135M Instruct")
        assert answer_text(ask(page, "Say hi.", max_tokens=3)).strip()
    finally:
        context.close()


def test_a_model_of_the_last_visit_that_is_gone_falls_back_to_the_built_in_one(page, server):
    page.evaluate("""(url) => {
        const settings = JSON.parse(localStorage.getItem('minfer-settings-v1') || '{}');
        settings.model = { url, label: 'gone.gguf' };
        localStorage.setItem('minfer-settings-v1', JSON.stringify(settings));
    }""", server.url + "models/gone.gguf")
    page.reload()
    wait_state(page, "ready")
    expect(page.locator("header")).to_contain_text("SmolLM2 135M Instruct")
    expect(page.get_by_label("Model URL")).to_have_accessible_description(re.compile("404"))
