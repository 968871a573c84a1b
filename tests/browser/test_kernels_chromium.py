"""The site's wasm SIMD kernels in Chromium: the module build-site ships, loaded the way the
worker loads it (written into Pyodide's file system, ctypes.CDLL), on every kernel type's random
blocks and on real tensors of the default model. Each product must equal the native build's bit
for bit (float types: to float32 rounding) and stay within the kernels' bounds against numpy."""

import base64

import numpy as np
import pytest

from kernel_cases import random_case, real_cases
from kernel_reference import ACCUMULATION_TOL, FLOAT_KERNELS, KERNEL_TYPES, TYPE_IDS, product_errors, relative_error

# Runs in a page of the site: Pyodide and the wheels from the site's own folder, as the worker.
PRODUCTS_IN_PAGE = """async (cases) => {
  const { loadPyodide } = await import(new URL("pyodide/pyodide.mjs", location.href).href);
  const py = await loadPyodide({ indexURL: new URL("pyodide/", location.href).href });
  await py.loadPackage(["numpy", "minfer-wasm"]);
  const module = new Uint8Array(await (await fetch(new URL("kernels/quant_kernels.so", location.href))).arrayBuffer());
  py.FS.writeFile("/quant_kernels.so", module);
  py.globals.set("cases", py.toPy(cases));
  return py.runPython(`
import base64
import numpy as np
from minfer_wasm.kernels import load_kernels

kernels = load_kernels("/quant_kernels.so")
out = {"simd": kernels.simd, "got": []}
for c in cases:
    blocks = np.frombuffer(base64.b64decode(c["blocks"]), np.uint8).reshape(c["blocks_shape"])
    x = np.frombuffer(base64.b64decode(c["x"]), np.float32).reshape(c["x_shape"])
    got = kernels.matmul_arrays(c["type"], blocks, x)
    out["got"].append(base64.b64encode(got.tobytes()).decode())
out
`).toJs({ dict_converter: Object.fromEntries });
}"""


def _case(name, blocks, x) -> dict:
    return {"type": TYPE_IDS[name], "blocks": base64.b64encode(blocks.tobytes()).decode(),
            "blocks_shape": list(blocks.shape), "x": base64.b64encode(x.tobytes()).decode(),
            "x_shape": list(x.shape)}


@pytest.fixture(scope="module")
def cases(smollm2_path):
    random = [(f"random {name}", name, *random_case(name, n)) for name in KERNEL_TYPES for n in (1, 11)]
    return random + real_cases([smollm2_path], n=2)


def test_site_kernels_in_chromium(chromium, server, cases, kernels):
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(server.url + "site.json")
        result = page.evaluate(PRODUCTS_IN_PAGE, [_case(name, blocks, x) for _, name, blocks, x in cases])
    finally:
        context.close()
    assert result["simd"], "the site's kernels were built without SIMD128"
    for (label, name, blocks, x), got64 in zip(cases, result["got"]):
        got = np.frombuffer(base64.b64decode(got64), np.float32).reshape(len(x), len(blocks))
        native = kernels.matmul_arrays(TYPE_IDS[name], blocks, x)
        if name in FLOAT_KERNELS:
            assert relative_error(got, native.astype(np.float64)) < 1e-6, label
        else:
            assert np.array_equal(got, native), (label, np.abs(got - native).max())
        own, _, excess = product_errors(name, blocks, x, got)
        assert own < ACCUMULATION_TOL and excess <= 1, (label, own, excess)
