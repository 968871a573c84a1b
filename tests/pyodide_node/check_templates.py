"""The hostile chat templates (tests/hostile_templates.py) rendered in Pyodide, the page's
runtime: for each case its error class, message, seconds, tracemalloc peak, and the wasm heap's
growth (the heap never shrinks: its size after a case bounds what the case took).

    node run.mjs --mount SITE check_templates.py SITE OUT.json
SITE holds jinja2 and markupsafe as the page installs them.
"""

import json
import sys
import time
import tracemalloc

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, __file__.rsplit("/", 2)[0])        # tests/, for hostile_templates

import pyodide_js                                      # noqa: E402  (Pyodide's own module)
from hostile_templates import GENERATED, MESSAGES, NAMED  # noqa: E402
from minfer_wasm.chat_template import ChatTemplate     # noqa: E402
from minfer_wasm.errors import MinferError             # noqa: E402


def heap_bytes() -> int:
    return pyodide_js._module.HEAPU8.length


results = []
for name, source in {**NAMED, **GENERATED}.items():
    heap_before = heap_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        ChatTemplate(source, "hostile").render(MESSAGES)
        kind, message = None, ""
    except MinferError as e:
        kind, message = type(e).__name__, str(e)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    results.append({"name": name, "kind": kind, "message": message, "seconds": seconds,
                    "peak": peak, "heap_growth": heap_bytes() - heap_before,
                    "heap": heap_bytes()})
with open(sys.argv[2], "w") as f:
    json.dump(results, f)
