"""Hugging Face checkpoints in the page through web/minfer.js, in headless Chromium: a folder
picked as local files (a folder picker, a multi-file input) or served under a base URL, quantized
to q8_0 as it loads, answers greedily as the native CLI does for the same folder and type;
Qwen3's enable_thinking reaches the chat template; Minfer.splitThinking splits answers as
minfer_wasm.chat.split_thinking does; a broken folder is a typed error and the model loaded
before stays usable. The chat page itself opens a checkpoint folder from its Settings, passes
its thinking switch, and shows a think block collapsed.

One page (one engine, one Pyodide start) serves the tests; each drives the module through
page.evaluate, as another site's script would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hf_fixtures import train_tokenizer, with_bos, write_llama_checkpoint
from minfer_wasm.chat import split_thinking
from playwright.sync_api import expect

from pagekit import READY_TIMEOUT_MS, answer_text, ask, new_chat, open_ready, wait_state
from stalling_server import stalling_server

MODULE = "web/minfer.js"
QWEN3 = Path(__file__).parents[1] / "fixtures" / "arch" / "qwen3"
QWEN3_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors")
CHATS = json.loads((QWEN3 / "reference.json").read_text())["chats"]     # transformers' prompt ids
QUESTION = "Hello world, how are you"
MAX_TOKENS = 16


def cli_answer(folder: Path, messages: list[dict], *flags: str, quantize: str = "q8_0") -> dict:
    """The native CLI's greedy answer for the folder quantized to `quantize`, on the page's kernels
    (their portable C path gives the wasm SIMD build's results bit for bit)."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    assert [m["role"] for m in messages] == ["system"] * len(system) + ["user"]
    cmd = [sys.executable, "-m", "minfer_wasm", "generate", "--model", str(folder), "--quantize", quantize,
           "--chat", "--prompt", messages[-1]["content"], "--temperature", "0", "--max-tokens", str(MAX_TOKENS),
           "--kernels", "compiled", "--json", *flags] + (["--system", system[0]] if system else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """A llama checkpoint in BF16, in two shards with their index, its template in
    chat_template.jinja; the folder also holds files the engine does not read."""
    root = tmp_path_factory.mktemp("picked")
    folder = write_llama_checkpoint(root / "tiny-llama", with_bos(train_tokenizer("llama3")), seed=4, dtype="BF16",
                                    shards=2, template_file=True)
    (folder / "README.md").write_text("# a model card the page does not read\n")
    (folder / "original").mkdir()
    (folder / "original" / "config.json").write_text("not the checkpoint's config")
    return folder


@pytest.fixture(scope="module")
def sharded_answer(sharded):
    return cli_answer(sharded, [{"role": "user", "content": QUESTION}])


@pytest.fixture(scope="module")
def page(chromium, server):
    """A same-origin page with `window.engine` (no model yet) and two file inputs: #picker
    (several files) and #folder (a folder picker)."""
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(READY_TIMEOUT_MS)
    page.goto(server.url + "site.json")
    page.evaluate("""async (url) => {
        window.Minfer = (await import(url)).default;
        window.engine = new Minfer.Engine();
        for (const [id, folder] of [["picker", false], ["folder", true]]) {
            const input = document.createElement("input");
            Object.assign(input, {type: "file", multiple: true, id, webkitdirectory: folder});
            document.body.append(input);
        }
    }""", server.url + MODULE)
    yield page
    context.close()


LOAD = """async ([model, options]) => {
    const progress = [];
    if (typeof model === "string" && model.startsWith("#")) model = document.querySelector(model).files;
    const info = await engine.load({model, ...options, onProgress: (p) => progress.push(p)});
    return {info, progress};
}"""

ANSWER = """async ([messages, options]) => {
    let text = "";
    for await (const chunk of engine.chat(messages, {temperature: 0, max_tokens: %d, ...options})) text += chunk.text;
    return engine.lastResult;
}""" % MAX_TOKENS

ERROR = """async (run) => {
    try { await eval(run); return null; } catch (e) { return {kind: e.kind, message: e.message, unloaded: e.unloaded}; }
}"""


def pick(page, selector: str, paths) -> None:
    page.set_input_files(selector, [str(p) for p in paths] if isinstance(paths, list) else str(paths))


def answer(page, messages: list[dict], **options) -> dict:
    return page.evaluate(ANSWER, [messages, options])


def load_qwen3(page, folder: Path = QWEN3, **options) -> dict:
    pick(page, "#picker", [folder / name for name in QWEN3_FILES])
    return page.evaluate(LOAD, ["#picker", options])["info"]


def test_a_picked_folder_loads_quantized_and_answers_like_the_cli(page, sharded, sharded_answer):
    pick(page, "#folder", sharded)
    loaded = page.evaluate(LOAD, ["#folder", {}])
    info, progress = loaded["info"], loaded["progress"]
    read = [p for p in sharded.iterdir() if p.is_file() and p.name != "README.md"]
    assert len(read) == 7        # config, tokenizer (2), template, index, 2 shards
    assert (info["arch"], info["quantize"], info["source"]) == ("llama", "q8_0", "tiny-llama")
    assert info["size"] == sum(p.stat().st_size for p in read)
    assert info["has_chat_template"] is True and info["kernels"] == "wasm-simd" and info["n_ctx"] == 256
    downloads = [p for p in progress if p["stage"] == "download"]
    assert downloads[-1]["loaded"] == downloads[-1]["total"] == info["size"]
    assert any(p["stage"] == "load" and "q8_0" in p["detail"] for p in progress)
    result = answer(page, [{"role": "user", "content": QUESTION}])
    assert len(set(sharded_answer["ids"])) > 4, "the reference answer should not be one token repeated"
    assert (result["text"], result["stop_reason"]) == (sharded_answer["text"], sharded_answer["stop_reason"])
    assert result["prompt_tokens_evaluated"] == len(sharded_answer["prompt_ids"])


@pytest.mark.parametrize("quantize", ["q4_0", "none"])
def test_the_quantize_option_reaches_the_engine(page, sharded, quantize):
    pick(page, "#folder", sharded)
    info = page.evaluate(LOAD, ["#folder", {"quantize": quantize}])["info"]
    assert info["quantize"] == quantize
    result = answer(page, [{"role": "user", "content": QUESTION}])
    reference = cli_answer(sharded, [{"role": "user", "content": QUESTION}], quantize=quantize)
    assert result["text"] == reference["text"]


def test_enable_thinking_reaches_the_template(page):
    """Qwen3's switch off, then unset (the template's default), each on a fresh load so the
    whole prompt is evaluated: its length is transformers' prompt's, the answer the CLI's."""
    for chat, flags in ((CHATS[1], ["--no-think"]), (CHATS[0], [])):
        info = load_qwen3(page)
        assert info["arch"] == "qwen3" and info["quantize"] == "q8_0"
        options = {} if chat["enable_thinking"] is None else {"enable_thinking": chat["enable_thinking"]}
        result = answer(page, chat["messages"], **options)
        reference = cli_answer(QWEN3, chat["messages"], *flags)
        assert reference["prompt_ids"] == chat["ids"]
        assert result["prompt_tokens_evaluated"] == len(chat["ids"])
        assert result["text"] == reference["text"]
    assert len(CHATS[1]["ids"]) == len(CHATS[0]["ids"]) + 4        # <think>\n\n</think>\n\n
    error = page.evaluate(ERROR, "(async () => { for await (const c of engine.chat("
                                 "[{role: 'user', content: 'hi'}], {enable_thinking: 'no'})); })()")
    assert error["kind"] == "RequestError" and "enable_thinking" in error["message"]


SPLITS = ["<think>\nEasy.\n</think>\n\nRed.", "<think>\nstill going", "Red.", "", "<think>",
          "  \n<think>\n\nA\n\n</think>", "<think>a</think>b</think>c", "x<think>a</think>",
          "\x1c\x85<think>a</think>\u3000b", "\ufeff<think>a</think>b", "<think>\r\na\r\n</think>\r\nb",
          "<think>a\n</think >b"]


def test_split_thinking_matches_python(page, server):
    got = page.evaluate("""async ([strings, url]) => {
        const alone = await import(url);
        return strings.map((s) => [Minfer.splitThinking(s), alone.splitThinking(s)]);
    }""", [SPLITS, server.url + "web/thinking.js"])
    for text, (split, alone) in zip(SPLITS, got):
        thinking, reply = split_thinking(text)
        # open: a think block whose </think> has not come yet
        is_open = thinking is not None and "</think>" not in text[text.index("<think>"):]
        assert split == alone == {"thinking": thinking, "reply": reply, "open": is_open}, text


@pytest.fixture
def broken(tmp_path):
    """broken(name, change) -> a copy of the Qwen3 checkpoint's files, changed by change(folder)."""
    def make(name, change):
        folder = tmp_path / name
        folder.mkdir()
        for file in QWEN3_FILES:
            shutil.copy(QWEN3 / file, folder / file)
        change(folder)
        return folder
    return make


def bad_header(folder: Path) -> None:
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[:8] = (1 << 40).to_bytes(8, "little")          # a header length past the end of the file
    (folder / "model.safetensors").write_bytes(data)


def unsupported(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["MambaForCausalLM"]}))


@pytest.mark.parametrize("name, change, kind, detail", [
    ("no-config", lambda folder: (folder / "config.json").unlink(), "CheckpointError", "config.json is missing"),
    ("bad-header", bad_header, "CheckpointError", "header length"),
    ("no-weights", lambda folder: (folder / "model.safetensors").unlink(), "CheckpointError", "model.safetensors"),
    ("mamba", unsupported, "UnsupportedError", "MambaForCausalLM"),
])
def test_a_broken_folder_is_a_typed_error_and_the_model_stays(page, broken, name, change, kind, detail):
    before = load_qwen3(page)
    said = answer(page, CHATS[0]["messages"])["text"]
    folder = broken(name, change)
    pick(page, "#picker", sorted(folder.iterdir()))
    error = page.evaluate(ERROR, "engine.load({model: document.querySelector('#picker').files})")
    assert error["kind"] == kind and detail in error["message"] and not error["unloaded"], error
    assert page.evaluate("engine.info") == before
    assert answer(page, CHATS[0]["messages"])["text"] == said


def test_bad_checkpoint_options_are_request_errors(page):
    pick(page, "#picker", [QWEN3 / name for name in QWEN3_FILES])
    for expression, detail in (
            ("engine.load({model: document.querySelector('#picker').files, quantize: 'q3_k'})", "quantize"),
            ("engine.load({model: []})", "list of Files"),
            ("engine.load({model: [new File(['{}'], 'config.json'), new File(['{}'], 'config.json')]})",
             "two files are named config.json")):
        error = page.evaluate(ERROR, expression)
        assert error["kind"] == "RequestError" and detail in error["message"], error


def test_a_base_url_folder_loads_like_the_picked_one(page, server, sharded, sharded_answer, broken):
    served = server.site / "models" / "tiny-llama"
    shutil.copytree(sharded, served)
    base = server.url + "models/tiny-llama/"
    loaded = page.evaluate(LOAD, [base, {"quantize": "q8_0"}])
    info = loaded["info"]
    assert (info["arch"], info["quantize"], info["source"], info["from_cache"]) == ("llama", "q8_0", base, False)
    assert info["size"] == sum(p.stat().st_size for p in sharded.iterdir() if p.is_file() and p.name != "README.md")
    result = answer(page, [{"role": "user", "content": QUESTION}])
    assert (result["text"], result["stop_reason"]) == (sharded_answer["text"], sharded_answer["stop_reason"])
    # each file it read is kept in Cache Storage, and a second load reads them from there
    cached = page.evaluate("Minfer.listCachedModels()")
    assert sorted(m["url"] for m in cached if m["url"].startswith(base)) == sorted(
        base + p.name for p in sharded.iterdir() if p.is_file() and p.name != "README.md")
    assert page.evaluate(LOAD, [base, {}])["info"]["from_cache"] is True
    for model in cached:
        page.evaluate("(url) => Minfer.deleteCachedModel(url)", model["url"])
    # a base URL with nothing under it (every file 404): the checkpoint has no config.json
    error = page.evaluate(ERROR, f"engine.load({{model: {server.url + 'models/nothing-here/'!r}}})")
    assert error["kind"] == "CheckpointError" and "config.json is missing" in error["message"], error
    assert page.evaluate("engine.info")["source"] == base
    # a bad Safetensors header under a base URL: a typed error, and what it stored is removed
    shutil.copytree(broken("bad-header", bad_header), server.site / "models" / "bad-header")
    bad = server.url + "models/bad-header/"
    error = page.evaluate(ERROR, f"engine.load({{model: {bad!r}}})")
    assert error["kind"] == "CheckpointError" and "header length" in error["message"], error
    assert page.evaluate("engine.info")["source"] == base
    assert [m["url"] for m in page.evaluate("Minfer.listCachedModels()") if m["url"].startswith(bad)] == []


@pytest.fixture
def hanging():
    """A base URL whose server takes every request and never answers."""
    with stalling_server() as url:
        yield url + "/checkpoint/"


def test_a_stalled_or_cancelled_base_url_load_keeps_the_model(page, hanging):
    before = load_qwen3(page)
    stalled = page.evaluate("""async (url) => {
        const t0 = performance.now();
        try { await engine.load({model: url, stallTimeout: 2}); } catch (e) { return [e.kind, e.message, performance.now() - t0]; }
    }""", hanging)
    assert stalled[0] == "SourceError" and "stalled" in stalled[1] and 2000 <= stalled[2] < 15_000
    cancelled = page.evaluate("""async (url) => {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 500);
        try { await engine.load({model: url, signal: controller.signal}); } catch (e) { return e.kind; }
    }""", hanging)
    assert cancelled == "AbortError"
    assert page.evaluate("engine.info") == before
    assert answer(page, CHATS[0]["messages"])["text"] == cli_answer(QWEN3, CHATS[0]["messages"])["text"]


def test_the_chat_page_opens_a_checkpoint_folder_and_shows_thinking_collapsed(chromium, server):
    context = chromium.new_context()
    try:
        page = open_ready(context, server.url)
        page.get_by_label("Let reasoning models think").uncheck()
        expect(page.get_by_label("Checkpoint weights as loaded")).to_have_value("q8_0")
        page.set_input_files("#model-folder", str(QWEN3))
        wait_state(page, "ready")
        new_chat(page)
        reply = ask(page, QUESTION, max_tokens=MAX_TOKENS)
        expected = cli_answer(QWEN3, [{"role": "user", "content": QUESTION}], "--no-think")
        assert answer_text(reply) == expected["text"]

        # a reasoning answer as the page keeps it: the think block collapsed, the reply as Markdown
        text = "<think>\nThe user greets me.\n</think>\n\nHello **there**"
        page.evaluate("""async (text) => {
            const store = await import('./web/ui/store.js');
            const chat = { ...store.newChat(), title: "Thinking", messages: [
                { role: "user", content: "Hi" }, { role: "assistant", content: text }] };
            await store.saveChat(chat);
            const settings = store.loadSettings();
            settings.lastChat = chat.id;
            store.saveSettings(settings);
        }""", text)
        page.reload()
        answer = page.locator('[data-role="assistant"]')
        expect(answer.locator("strong")).to_have_text("there")
        thinking = answer.locator("details.thinking")
        expect(thinking.locator("summary")).to_have_text("Thought")
        assert thinking.get_attribute("open") is None
        expect(thinking.locator(".thought")).to_have_text("The user greets me.")
        assert answer.get_attribute("data-text") == text
    finally:
        context.close()
