"""A hostile chat template in the page (headless Chromium): the real SmolLM2 GGUF with its
template replaced. Each message runs one attack; each must end in a typed error on the page
(kind TemplateError, never a raw Python exception name), keep the wasm heap within a fixed
budget, end within the render time limit even when Stop is pressed during rendering, and
leave the page usable: the built-in model then answers as natively.

The heap is read in the worker itself: the test serves web/worker.js with a few lines
appended (HEAP_HOOK) that add the wasm heap's size to every `error` message the worker posts,
measured as the worker measures ready.model.heap_bytes. The page's Worker constructor is
wrapped to record the worker's `ready` and `error` messages.
"""

import json
import time

import pytest
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from playwright.sync_api import expect

from minfer_wasm.native import model_store
from pagekit import answer_text, ask, native_answer, native_chat, open_ready, wait_state

HOSTILE = """{%- if messages -%}{%- set attack = messages[-1].content -%}
{%- if attack == 'center' -%}{{ 'a'.center(2000000000) }}
{%- elif attack == 'format' -%}{{ '{:>2000000000}'.format('a') }}
{%- elif attack == 'fill' -%}{{ range(100000) | map('center', 100000) | join }}
{%- elif attack == 'slow' -%}{% for i in range(90000) %}{{ ('<a>' * 20000) | striptags | length }}{% endfor %}
{%- endif -%}{%- endif -%}"""
MODEL_FILE = "hostile-template.gguf"
HEAP_BUDGET = 96 << 20          # the render allowance is 48 MiB; twice that for Python's own
RENDER_BOUND_S = 10.0           # the render budget is 1 s natively; Pyodide is slower, the box busy

HEAP_HOOK = """
/* added by tests/browser/test_template_limits_chromium.py: errors carry the wasm heap's size */
{
  const postNative = self.postMessage.bind(self);
  self.postMessage = (msg, ...rest) => {
    if (msg && msg.type === "error" && py) {
      const bytearray = py.globals.get("bytearray");
      const probe = bytearray(1);
      try {
        msg = { ...msg, heap_bytes: heapBytes(probe) };
      } finally {
        probe.destroy();
        bytearray.destroy();
      }
    }
    postNative(msg, ...rest);
  };
}
"""
RECORD_WORKER_MESSAGES = """
window.__workerMessages = [];
const NativeWorker = window.Worker;
window.Worker = class extends NativeWorker {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => {
      if (event.data && ["ready", "error"].includes(event.data.type)) window.__workerMessages.push(event.data);
    });
  }
};
"""


def with_chat_template(source, destination, template: str) -> None:
    """Copy the GGUF `source` to `destination` with tokenizer.chat_template replaced: every other
    key and every tensor as gguf-py's GGUFReader reads them, written by its GGUFWriter."""
    reader = GGUFReader(source)
    writer = GGUFWriter(destination, reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue            # the writer writes these itself
        value = template if key == "tokenizer.chat_template" else field.contents()
        sub_type = field.types[1] if field.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, field.types[0], sub_type=sub_type)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def hostile_url(server):
    source = model_store.pull(model_store.DEFAULT_MODEL, log=lambda _: None)
    with_chat_template(source, server.site / "models" / MODEL_FILE, HOSTILE)
    return f"models/{MODEL_FILE}"


def load_url(page, url: str) -> None:
    """Load `url` from the page's Model URL field; the worker says ready once."""
    seen = len(page.evaluate("window.__workerMessages"))
    page.get_by_label("Model URL").fill(url)
    page.get_by_role("button", name="Load model", exact=True).click()
    wait_state(page, "ready")
    ready = [m for m in page.evaluate("window.__workerMessages")[seen:] if m["type"] == "ready"]
    assert len(ready) == 1


def attack(page, text: str, stop: bool = False) -> tuple[dict, float]:
    """Send `text`, press Stop at once when asked; the worker's error and the seconds until the
    page left "generating"."""
    seen = len(page.evaluate("window.__workerMessages"))
    page.get_by_label("Max tokens").fill("4")
    page.get_by_role("textbox", name="Message").fill(text)
    start = time.perf_counter()
    page.get_by_role("button", name="Send").click()
    if stop:
        page.get_by_role("button", name="Stop").click(timeout=5000)
    wait_state(page, "error", int(RENDER_BOUND_S * 1000))
    elapsed = time.perf_counter() - start
    errors = [m for m in page.evaluate("window.__workerMessages")[seen:] if m["type"] == "error"]
    assert len(errors) == 1
    return errors[0], elapsed


def serve_worker_with_heap_hook(context) -> None:
    def add_hook(route):
        response = route.fetch()
        route.fulfill(response=response, body=response.text() + HEAP_HOOK)
    context.route("**/worker.js", add_hook)


def test_hostile_template_is_stopped_inside_the_page(chromium, server, hostile_url, native_engine):
    context = chromium.new_context(service_workers="block")     # so that the route sees worker.js
    try:
        serve_worker_with_heap_hook(context)
        context.add_init_script(RECORD_WORKER_MESSAGES)
        page = open_ready(context, server.url)
        load_url(page, hostile_url)

        banner = page.get_by_role("alert")
        heap = []
        for text, reason in [("center", "center would make 2000000000 characters"),
                             ("format", "format width would make 2000000000 characters"),
                             ("fill", "48 MiB"), ("slow", "longer than 1.0 s"),
                             ("center", "center would make 2000000000 characters")]:
            error, elapsed = attack(page, text, stop=text == "slow")
            assert error["kind"] == "TemplateError" and not error["fatal"], error
            assert reason in error["message"] and "\n" not in error["message"]
            assert elapsed < RENDER_BOUND_S
            heap.append(error["heap_bytes"])
            expect(banner).to_contain_text("Chat template failed")
            expect(banner).to_contain_text(reason)
            expect(page.get_by_role("button", name="Send")).to_be_enabled()
            expect(page.get_by_role("button", name="Stop")).to_be_disabled()
        # the first attack allocates nothing: the heap as the model left it
        assert max(heap) - heap[0] <= HEAP_BUDGET, [h >> 20 for h in heap]

        load_url(page, json.loads((server.site / "site.json").read_text())["model"])    # the built-in one
        message = ask(page, "Say hi.", max_tokens=4)
        assert answer_text(message) == native_answer(native_chat(native_engine), "Say hi.", 4)
    finally:
        context.close()
