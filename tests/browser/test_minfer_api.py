"""web/minfer.js, the embeddable JS API, in headless Chromium against the same model run natively:
the example page, whole-conversation chat with prefix reuse, completion, stop, cancelled and
stalled loads (against a loopback server that hangs), failed loads that keep the loaded model
and leave no cache entries, typed errors, and the model cache's listing and deletion.

One page (one engine, one Pyodide start) serves the API tests; each drives the module through
page.evaluate, as another site's script would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import gguf
import numpy as np
import pytest
from gguf import GGUFWriter
from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata
from playwright.sync_api import expect

from minfer_wasm.context import TokenContext
from minfer_wasm.generate import generate
from minfer_wasm.native import model_store
from minfer_wasm.sampling import SamplingParams
from pagekit import ANSWER_TIMEOUT_MS, NO_RANGE, READY_TIMEOUT_MS, native_answer, native_chat, native_until
from stalling_server import stalling_server

MODULE = "web/minfer.js"
GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def hostile():
    """A stalling model server: /hang.gguf never answers, /trickle.gguf sends 1 KiB and stalls."""
    with stalling_server() as url:
        yield url


@pytest.fixture(scope="module")
def page(chromium, server):
    """A same-origin page with `window.engine`: the site's built-in model loaded by Minfer.load."""
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(READY_TIMEOUT_MS)
    page.goto(server.url + "site.json")
    info = page.evaluate("""async (url) => {
        window.Minfer = (await import(url)).default;
        window.engine = await Minfer.load({});
        return engine.info;
    }""", server.url + MODULE)
    page.info = info
    yield page
    context.close()


CHAT = """async ([messages, options]) => {
    const pieces = [];
    let last = null;
    for await (const chunk of engine.chat(messages, options)) {
        if (chunk.done) last = chunk; else pieces.push(chunk.text);
    }
    return {pieces, last, result: engine.lastResult};
}"""

ERROR = """async (run) => {
    try { await eval(run); return null; } catch (e) { return {kind: e.kind, name: e.name, message: e.message, unloaded: e.unloaded}; }
}"""


def chat(page, messages, **options):
    return page.evaluate(CHAT, [messages, options])


def error_of(page, expression: str):
    return page.evaluate(ERROR, expression)


def test_the_example_page_answers_like_the_native_engine(new_context, server, native_engine):
    page = new_context().new_page()
    page.goto(server.url + "web/example.html")
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "ready", timeout=READY_TIMEOUT_MS)
    question = "What is the capital of France?"
    page.get_by_label("Question").fill(question)
    page.get_by_label("Max tokens").fill("12")
    page.get_by_role("button", name="Ask").click()
    answer = page.get_by_test_id("answer")
    expect(answer).to_have_attribute("data-stop-reason", re.compile("eog|length"), timeout=ANSWER_TIMEOUT_MS)
    # the CLI on the page's kernels (their portable C path gives the wasm SIMD build's results bit for bit)
    cli = subprocess.run([sys.executable, "-m", "minfer_wasm", "generate", "--prompt", question, "--chat",
                          "--temperature", "0", "--max-tokens", "12", "--kernels", "compiled", "--json"],
                         capture_output=True, text=True, check=True, timeout=300)
    assert answer.text_content() == json.loads(cli.stdout)["text"]
    assert answer.text_content() == native_answer(native_chat(native_engine), question, 12)
    assert answer.get_attribute("data-stop-reason") == json.loads(cli.stdout)["stop_reason"]


def test_info_describes_the_model(page, native_engine):
    info = page.info
    config = native_engine.model.config
    assert (info["arch"], info["n_vocab"], info["n_ctx"]) == (config.arch, config.n_vocab, 2048)
    assert info["label"] == "SmolLM2 135M Instruct" and info["has_chat_template"] is True
    # no general.sampling.* keys in this GGUF: the catalogue's preset, the engine's defaults for the rest
    assert info["sampling_source"] == "preset"
    assert info["sampling_defaults"] == {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
                                         "repeat_penalty": 1.0}
    assert info["kernels"] == "wasm-simd" and info["heap_bytes"] > info["size"]


def test_a_multi_turn_conversation_reuses_the_cache(page, native_engine):
    reference = native_chat(native_engine)
    messages = [{"role": "user", "content": "Name a fruit."}]
    first = chat(page, messages, max_tokens=8, **GREEDY)
    assert "".join(first["pieces"]) == native_answer(reference, "Name a fruit.", 8)
    assert first["last"]["done"] is True and first["last"] == {**first["result"], "text": "", "done": True}
    assert first["result"]["text"] == "".join(first["pieces"])

    messages += [{"role": "assistant", "content": first["result"]["text"]},
                 {"role": "user", "content": "Name a vegetable."}]
    second = chat(page, messages, max_tokens=8, seed=None, stop=None, **GREEDY)     # null: not given
    assert second["result"]["text"] == native_answer(reference, "Name a vegetable.", 8)
    evaluated = second["result"]["prompt_tokens_evaluated"]
    assert evaluated == reference.last_timings.prompt_tokens
    assert 0 < evaluated < len(native_engine.encode_chat(messages)) // 2
    assert set(second["result"]["timings"]) >= {"ttft_s", "decode_tps", "prompt_tokens"}
    assert second["result"]["heap_bytes"] >= page.info["heap_bytes"]


def test_complete_continues_text_like_the_cli_generate(page, native_engine):
    prompt = "The three primary colors are"
    got = page.evaluate("""async (prompt) => {
        let text = "";
        for await (const chunk of engine.complete(prompt, {temperature: 0, max_tokens: 10})) text += chunk.text;
        return [text, engine.lastResult.stop_reason];
    }""", prompt)
    ids = native_engine.tokenizer.encode(prompt)
    generation = generate(TokenContext(native_engine.model, 2048), native_engine.tokenizer, ids,
                          SamplingParams(temperature=0.0), max_tokens=10)
    assert got == ["".join(step.text for step in generation), generation.stop_reason]


def test_stop_keeps_the_partial_answer_and_the_conversation_goes_on(page, native_engine):
    question = "Write a long story about a dragon who learns to bake bread."
    stopped = page.evaluate("""async (question) => {
        const pieces = [];
        let last = null;
        for await (const chunk of engine.chat([{role: "user", content: question}], {temperature: 0, max_tokens: 200})) {
            if (chunk.done) last = chunk; else pieces.push(chunk.text);
            if (pieces.length === 3) engine.stop();
        }
        return {pieces, last};
    }""", question)
    partial = "".join(stopped["pieces"])
    assert stopped["last"]["stop_reason"] == "interrupted" and stopped["last"]["text"] == ""
    assert 3 <= len(stopped["pieces"]) < 20

    reference = native_chat(native_engine)
    assert native_until(reference, question, partial) == partial
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": partial},
                {"role": "user", "content": "Thank you! Now say hello."}]
    follow = chat(page, messages, max_tokens=8, **GREEDY)
    assert follow["result"]["text"] == native_answer(reference, "Thank you! Now say hello.", 8)


def test_leaving_the_loop_early_stops_the_answer(page, native_engine):
    left = page.evaluate("""async () => {
        const before = engine.lastResult;
        let text = "";
        for await (const chunk of engine.chat([{role: "user", content: "Tell me a long story."}],
                                              {temperature: 0, max_tokens: 200})) {
            text += chunk.text;
            if (text.length > 10) break;
        }
        while (engine.lastResult === before) await new Promise((r) => setTimeout(r, 50));
        return [text, engine.lastResult.text, engine.lastResult.stop_reason];
    }""")
    seen, kept, reason = left
    assert reason == "interrupted" and kept.startswith(seen) and len(kept) < 200
    answer = chat(page, [{"role": "user", "content": "Say hi."}], max_tokens=4, **GREEDY)["result"]["text"]
    assert answer == native_answer(native_chat(native_engine), "Say hi.", 4)


@pytest.mark.parametrize("expression, kind, detail", [
    ("(async () => { for await (const c of engine.chat([{role: 'user', content: 'hi'}], {top_k: 1.5})); })()",
     "RequestError", "top_k"),
    ("(async () => { for await (const c of engine.chat([{role: 'user', content: 'hi'}], {temprature: 1})); })()",
     "RequestError", "temprature"),
    ("(async () => { for await (const c of engine.chat([{role: 'assistant', content: 'hi'}])); })()",
     "RequestError", "last message"),
    ("(async () => { for await (const c of engine.chat([{role: 'user', content: 'hi'}], {top_p: 2})); })()",
     "SamplingError", "top_p"),
    ("(async () => { for await (const c of engine.complete('word '.repeat(3000))); })()",
     "ContextOverflowError", "context holds 2048"),
])
def test_errors_are_typed_and_the_engine_goes_on(page, native_engine, expression, kind, detail):
    error = error_of(page, expression)
    assert error["kind"] == error["name"] == kind and detail in error["message"]
    answer = chat(page, [{"role": "user", "content": "Say hi."}], max_tokens=4, **GREEDY)["result"]["text"]
    assert answer == native_answer(native_chat(native_engine), "Say hi.", 4)


CACHE_URLS = """async () => {
    const cache = await caches.open("minfer-models-v1");
    return [...new Set((await cache.keys()).map((r) => { const u = new URL(r.url); u.searchParams.delete("minfer-cache"); return u.href; }))];
}"""


@pytest.mark.parametrize("url, kind, detail", [
    ("models/missing.gguf", "SourceError", "404"),
    ("index.html", "GGUFError", "GGUF"),
    (f"{NO_RANGE[1:]}index.html", "SourceError", "HTML page, not a model"),    # a wrong URL, not "no Range"
])
def test_a_failed_load_keeps_the_model_and_leaves_no_cache_entries(page, server, native_engine, url, kind, detail):
    before = page.evaluate("engine.info")
    error = error_of(page, f"engine.load({{model: {url!r}}})")
    assert error["kind"] == kind and detail in error["message"] and not error["unloaded"]
    assert page.evaluate("engine.info") == before
    assert page.evaluate(CACHE_URLS) == [before["source"]]
    answer = chat(page, [{"role": "user", "content": "Say hi."}], max_tokens=4, **GREEDY)["result"]["text"]
    assert answer == native_answer(native_chat(native_engine), "Say hi.", 4)


ENGINE_KINDS = {"SourceError", "GGUFError", "UnsupportedError", "OutOfMemoryError", "ContextOverflowError",
                "TemplateError", "SamplingError", "RequestError", "InternalError", "AbortError"}


def test_a_value_python_cannot_hold_is_a_typed_error(page, server, native_engine):
    """llama.block_count = 2**31 once made the page show a raw OverflowError: whatever the
    engine says of it now, the kind is one of its own error classes, and the model stays."""
    writer = GGUFWriter(server.site / "models" / "huge-block-count.gguf", "llama")
    for key, value in (("block_count", 2**31), ("context_length", 2048), ("embedding_length", 64),
                       ("feed_forward_length", 128), ("attention.head_count", 4)):
        writer.add_uint32(f"llama.{key}", value)
    writer.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    writer.add_token_list(["a", "b", "c", "d"])
    writer.add_tensor("token_embd.weight", np.zeros((4, 64), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    before = page.evaluate("engine.info")
    error = error_of(page, "engine.load({model: 'models/huge-block-count.gguf'})")
    assert error["kind"] in ENGINE_KINDS - {"AbortError"}, error
    assert page.evaluate("engine.info") == before
    answer = chat(page, [{"role": "user", "content": "Say hi."}], max_tokens=4, **GREEDY)["result"]["text"]
    assert answer == native_answer(native_chat(native_engine), "Say hi.", 4)


def test_stalled_loads_fail_or_are_cancelled_and_the_default_model_works(page, hostile, native_engine):
    before = page.evaluate("engine.info")
    # a server that never answers: the stall deadline ends the load
    stalled = page.evaluate("""async (url) => {
        const t0 = performance.now();
        try { await engine.load({model: url, stallTimeout: 2}); } catch (e) { return [e.kind, e.message, performance.now() - t0]; }
    }""", hostile + "/hang.gguf")
    assert stalled[0] == "SourceError" and "stalled" in stalled[1] and 2000 <= stalled[2] < 15_000
    # one that sends a little then stalls mid-chunk: also an error, and its cache entries go
    trickle = error_of(page, f"engine.load({{model: {hostile + '/trickle.gguf'!r}, stallTimeout: 2}})")
    assert trickle["kind"] == "SourceError" and "stalled" in trickle["message"]
    assert not [u for u in page.evaluate(CACHE_URLS) if u.startswith(hostile)]
    # cancelled by its AbortSignal, and by a newer load (the built-in model), which then works
    cancelled = page.evaluate("""async (url) => {
        const controller = new AbortController();
        const loading = engine.load({model: url, signal: controller.signal}).catch((e) => e.kind);
        setTimeout(() => controller.abort(), 500);
        const first = await loading;
        const replaced = engine.load({model: url}).catch((e) => e.kind);
        await new Promise((r) => setTimeout(r, 500));
        const info = await engine.load({});
        return [first, await replaced, info.name];
    }""", hostile + "/hang.gguf")
    assert cancelled == ["AbortError", "AbortError", before["name"]]
    answer = chat(page, [{"role": "user", "content": "Say hi."}], max_tokens=4, **GREEDY)["result"]["text"]
    assert answer == native_answer(native_chat(native_engine), "Say hi.", 4)


def model_copy(dest, metadata: dict) -> None:
    """The built-in model with some metadata set (gguf-py's gguf-new-metadata, as a library)."""
    reader = gguf.GGUFReader(model_store.pull(model_store.DEFAULT_MODEL, log=lambda _: None), "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = GGUFWriter(dest, arch=arch, endianess=reader.endianess)
    copy_with_new_metadata(reader, writer, metadata, [])


def back_to_the_built_in_model(page, copy: str) -> None:
    """Forget the copy `copy` (a URL relative to the site) and load the built-in model again."""
    page.evaluate("""async (copy) => {
        await Minfer.deleteCachedModel(new URL(copy, location.href).href);
        await engine.load({});
    }""", copy)


def test_sampling_defaults_come_from_the_gguf_first(page, server):
    model_copy(server.site / "models" / "with-sampling.gguf", {
        "general.sampling.temp": MetadataDetails(gguf.GGUFValueType.FLOAT32, 0.5),
        "general.sampling.top_k": MetadataDetails(gguf.GGUFValueType.INT32, 20)})
    info = page.evaluate("engine.load({model: 'models/with-sampling.gguf'})")
    assert info["sampling_source"] == "gguf"
    # the GGUF's values, the catalogue's preset (general.basename names SmolLM2) for top_p, the engine's for the rest
    assert info["sampling_defaults"] == {"temperature": 0.5, "top_k": 20, "top_p": 0.9, "min_p": 0.05,
                                         "repeat_penalty": 1.0}
    back_to_the_built_in_model(page, "models/with-sampling.gguf")


@pytest.mark.parametrize("template", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
    "{{ 'ab' * 1000000000 }}",
    "{{ 'a'.center(2000000000) }}",
    "{{ '{:>2000000000}'.format('a') }}",
])
def test_a_hostile_template_is_a_typed_error_within_the_heap_budget(page, server, native_engine, template):
    model_copy(server.site / "models" / "hostile.gguf", {
        gguf.Keys.Tokenizer.CHAT_TEMPLATE: MetadataDetails(gguf.GGUFValueType.STRING, template)})
    loaded = page.evaluate("engine.load({model: 'models/hostile.gguf'})")
    failed = page.evaluate("""async () => {
        const t0 = performance.now();
        try { for await (const c of engine.chat([{role: "user", content: "hi"}])); }
        catch (e) { return [e.kind, e.heap_bytes, performance.now() - t0]; }
    }""")
    kind, heap, ms = failed
    assert kind == "TemplateError" and ms < 10_000
    assert heap - loaded["heap_bytes"] < 64 << 20
    back_to_the_built_in_model(page, "models/hostile.gguf")


def test_unload_then_load_and_terminate(page, native_engine):
    after = page.evaluate("""async () => {
        await engine.unload();
        const info = engine.info;
        let kind = null;
        try { for await (const c of engine.chat([{role: "user", content: "hi"}])); } catch (e) { kind = e.kind; }
        await engine.load({});
        return [info, kind];
    }""")
    assert after == [None, "RequestError"]
    answer = chat(page, [{"role": "user", "content": "Say hi."}], max_tokens=4, **GREEDY)["result"]["text"]
    assert answer == native_answer(native_chat(native_engine), "Say hi.", 4)
    ended = page.evaluate("""async () => {
        const other = new Minfer.Engine();
        other.terminate();
        try { for await (const c of other.chat([{role: "user", content: "hi"}])); } catch (e) { return [e.kind, e.fatal]; }
    }""")
    assert ended == ["AbortError", True]


def test_deleting_a_cached_model_removes_its_bytes(page):
    listed = page.evaluate("Minfer.listCachedModels()")
    model = page.evaluate("engine.info")
    assert [(m["bytes"], m["size"], m["complete"]) for m in listed] == [(model["size"], model["size"], True)]
    freed = page.evaluate("""async (url) => {
        const stored = async () => {
            const cache = await caches.open("minfer-models-v1");
            let bytes = 0;
            for (const key of await cache.keys()) bytes += (await (await cache.match(key)).blob()).size;
            return bytes;
        };
        const before = await stored();
        const freed = await Minfer.deleteCachedModel(url);
        return [before, freed, await stored(), await Minfer.listCachedModels()];
    }""", listed[0]["url"])
    before, reported, after, remaining = freed
    assert before > model["size"] and reported == model["size"]
    assert after == 0 and remaining == []
