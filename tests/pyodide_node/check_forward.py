"""Inside Pyodide: a real model's forward pass on the wasm SIMD kernels, as the page runs it.

    node tests/pyodide_node/run.mjs --mount DIR tests/pyodide_node/check_forward.py MODULE.so IDS.npz OUT.npz MODEL.gguf

The model is read into memory and loaded on the kernels (the page's default path); IDS.npz
holds `prompt` (token ids, evaluated as one batch) and `decode` (then one at a time). OUT.npz
gets `logits`: the prompt's (n, vocab), then each decoded token's.
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..")]

from check_kernels import load_as_the_page  # noqa: E402
from minfer_wasm.gguf import GGUFFile  # noqa: E402
from minfer_wasm.model import Model  # noqa: E402
from minfer_wasm.sources import BytesSource  # noqa: E402


def kernel_path_logits(model: Model, prompt, decode) -> np.ndarray:
    """(len(prompt) + len(decode), vocab) logits: the prompt as one batch, then one token at a time."""
    cache = model.new_cache(64)
    logits = [model.forward(prompt, cache, all_logits=True)]
    logits += [model.forward([int(token)], cache)[None] for token in decode]
    return np.concatenate(logits)


def main(module: str, ids_path: str, out_path: str, model_path: str) -> int:
    kernels = load_as_the_page(module)
    with open(model_path, "rb") as f:
        buf = bytearray(f.read())
    model = Model.from_gguf(GGUFFile.open(BytesSource(buf, os.path.basename(model_path))), kernels=kernels)
    ids = np.load(ids_path)
    np.savez(out_path, logits=kernel_path_logits(model, ids["prompt"], ids["decode"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
