"""Time one decoded token's worth of matvecs per weight type, vs a float32 peer.

    python scripts/bench_kernels.py [--runs 5] [--types Q4_1,Q8_0] [--model smollm2|gemma3|both]

A SmolLM2-135M token is 30 layers x (q, k, v, o, gate, up, down) matvecs at
n_embd 576, n_ff 1536, 9 heads / 3 kv heads of 64, plus the 49152 x 576 Q8_0
classifier; a Gemma-3-270M token is 18 layers at n_embd 640, n_ff 2048, 4 heads
/ 1 kv head of 256 plus the 262144 x 640 Q8_0 classifier. Weights are random
(scales forced finite); every layer gets its own tensors (up to a memory cap,
then they repeat) so the weights stream from memory as in a real token. Prints
the median of --runs runs. Runs in CPython and in Pyodide (no gguf-py needed).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minfer_wasm.native.bench import cpu_name                            # noqa: E402
from minfer_wasm.ggml_types import GGML_TYPE_INFO, row_nbytes   # noqa: E402
from minfer_wasm.gguf import TensorInfo                           # noqa: E402
from minfer_wasm.quants import QuantTensor, load_tensor           # noqa: E402

MODELS = {  # name: (layers, {projection: (rows, cols)}, classifier shape)
    "smollm2": (30, {"q": (576, 576), "k": (192, 576), "v": (192, 576), "o": (576, 576),
                     "gate": (1536, 576), "up": (1536, 576), "down": (576, 1536)}, (49152, 576)),
    "gemma3": (18, {"q": (1024, 640), "k": (256, 640), "v": (256, 640), "o": (640, 1024),
                    "gate": (2048, 640), "up": (2048, 640), "down": (640, 2048)}, (262144, 640)),
}
# Gemma-3-270M Q4_K_M as published: the types of its tensors (K-quants need 256 | cols)
GEMMA3_MIX = {"q": "Q5_0", "k": "Q5_0", "v": "Q8_0", "o": "Q4_K", "gate": "Q5_0", "up": "Q5_0", "down": "Q6_K"}
TYPE_IDS = {info.name: tid for tid, info in GGML_TYPE_INFO.items()}
MEMORY_CAP = 160 << 20   # bytes of distinct layer weights per configuration


def machine() -> str:
    host = "CPython"
    if sys.platform == "emscripten":
        import pyodide
        host = f"Pyodide {pyodide.__version__} (no BLAS, no SIMD)"
    return f"{host}, Python {platform.python_version()}, numpy {np.__version__}, {cpu_name()}"


def random_tensor(type_name: str, shape, rng) -> QuantTensor:
    """Random codes; block scales overwritten with finite values (random f16 bytes may be NaN)."""
    tid = TYPE_IDS[type_name]
    if type_name == "F32":
        raw = rng.standard_normal(shape, dtype=np.float32).tobytes()
    elif type_name in ("F16", "BF16"):
        w = rng.standard_normal(shape, dtype=np.float32)
        raw = (w.astype(np.float16) if type_name == "F16" else (w.view(np.uint32) >> 16).astype(np.uint16)).tobytes()
    else:
        raw = rng.integers(0, 256, shape[0] * row_nbytes(tid, shape[1]), dtype=np.uint8).tobytes()
    t = load_tensor(TensorInfo("bench", tid, tuple(shape), 0, len(raw)), raw)
    if hasattr(t, "halves"):                          # block d (and m): float16
        t.halves[...] = rng.random(t.halves.shape, dtype=np.float32) * 0.01
        t.finite = True
    return t


def fuse(layer: dict) -> dict:
    """q|k|v and gate|up as one tensor each where their types match (QuantTensor.concat_rows)."""
    out = dict(layer)
    for parts in (("q", "k", "v"), ("gate", "up")):
        if len({layer[p].ggml_type for p in parts}) == 1:
            out["|".join(parts)] = QuantTensor.concat_rows([out.pop(p) for p in parts], "|".join(parts))
    return out


def token_time(layers, n_layers: int, classifier, xs) -> tuple[float, float]:
    """Seconds of one whole token (all layers' matvecs + classifier) and of the classifier alone."""
    t0 = time.perf_counter()
    for i in range(n_layers):
        for w in layers[i % len(layers)].values():
            w.matvec(xs[w.cols])
    t1 = time.perf_counter()
    classifier.matvec(xs[classifier.cols])
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1


def bench_model(model: str, mixes: dict[str, dict[str, str]], runs: int, fused: bool) -> None:
    """Configurations take turns within each run, so a busy machine slows them alike."""
    n_layers, shapes, head_shape = MODELS[model]
    rng = np.random.default_rng(0)
    head = random_tensor("Q8_0", head_shape, rng)
    configs = {}
    for label, mix in mixes.items():
        layer_bytes = sum(r * row_nbytes(TYPE_IDS[mix[p]], c) for p, (r, c) in shapes.items())
        distinct = max(1, min(n_layers, MEMORY_CAP // layer_bytes))
        layers = [{p: random_tensor(mix[p], shapes[p], rng) for p in shapes} for _ in range(distinct)]
        configs[label] = layers
        if fused:
            configs[label + " fused"] = [fuse(layer) for layer in layers]
    xs = {c: rng.standard_normal(c, dtype=np.float32) for c in {head.cols, *(c for _, c in shapes.values())}}
    times = {label: [] for label in configs}
    for run in range(runs + 1):                       # run 0 warms up
        for label, layers in configs.items():
            t = token_time(layers, n_layers, head, xs)
            if run:
                times[label].append(t)
    print(f"\n{model}: {n_layers} layers x {len(shapes)} matvecs + {head_shape[0]}x{head_shape[1]} "
          f"Q8_0 classifier (median of {runs}, ms per token)")
    print(f"  {'layer weights':16s} {'token':>8s} {'tok/s':>7s} {'layers':>8s} {'classifier':>10s} {'MB resident':>12s}")
    for label, layers in configs.items():
        total, cls = (float(np.median(v)) * 1e3 for v in zip(*times[label]))
        resident = (sum(t.nbytes for t in layers[0].values()) * n_layers + head.nbytes) / 1e6
        print(f"  {label:16s} {total:8.1f} {1e3 / total:7.2f} {total - cls:8.1f} {cls:10.1f} {resident:12.1f}")


def bench_types(types: list[str], shape: tuple[int, int], runs: int) -> None:
    """One matvec of each type at one shape: ms and ns per weight."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape[1], dtype=np.float32)
    print(f"\none {shape[0]}x{shape[1]} matvec (median of {5 * runs})")
    for name in types:
        t = random_tensor(name, shape, rng)
        t.matvec(x)
        times = []
        for _ in range(5 * runs):
            t0 = time.perf_counter()
            t.matvec(x)
            times.append(time.perf_counter() - t0)
        ms = float(np.median(times)) * 1e3
        print(f"  {name:5s} {ms:8.3f} ms {ms * 1e6 / (shape[0] * shape[1]):6.2f} ns/weight "
              f"{t.nbytes / (shape[0] * shape[1]):5.3f} bytes/weight")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--types", default="F32,F16,Q4_0,Q4_1,Q5_0,Q5_1,Q8_0",
                   help="layer weight types for the SmolLM2 token")
    p.add_argument("--model", choices=["smollm2", "gemma3", "both", "none"], default="both")
    p.add_argument("--all-types", action="store_true", help="also time one 2048x1024 matvec of every type")
    p.add_argument("--fused", action="store_true", help="also time with q|k|v and gate|up concatenated")
    args = p.parse_args(argv)
    print(machine())
    projections = MODELS["smollm2"][1]
    if args.model in ("smollm2", "both"):
        mixes = {t: {p: t for p in projections} for t in args.types.split(",")}
        bench_model("smollm2", mixes, args.runs, args.fused)
    if args.model in ("gemma3", "both"):
        bench_model("gemma3", {"F32": {p: "F32" for p in projections}, "Q4_K_M mix": GEMMA3_MIX}, args.runs,
                    args.fused)
    if args.all_types:
        bench_types(["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                     "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"], (2048, 1024), args.runs)


if __name__ == "__main__":
    main()
