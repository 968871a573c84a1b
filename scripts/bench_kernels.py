"""Time one decoded token's worth of matvecs per weight type, vs a float32 peer.

    python scripts/bench_kernels.py [--runs 5] [--types Q4_1,Q8_0] [--model smollm2|gemma3|both|none]
    python scripts/bench_kernels.py --model none --matvec-types Q4_0,IQ4_NL,IQ4_XS --kernels build
    python scripts/bench_kernels.py --kernels build [--prefill 64]   # + the compiled kernels (native)
    python scripts/bench_kernels.py --pyodide [...]    # all of it in Pyodide under Node, wasm kernels

A SmolLM2-135M token is 30 layers x (q, k, v, o, gate, up, down) matvecs at
n_embd 576, n_ff 1536, 9 heads / 3 kv heads of 64, plus the 49152 x 576 Q8_0
classifier; a Gemma-3-270M token is 18 layers at n_embd 640, n_ff 2048, 4 heads
/ 1 kv head of 256 plus the 262144 x 640 Q8_0 classifier. Weights are random
(scales forced finite); every layer gets its own tensors (up to a memory cap,
then they repeat) so the weights stream from memory as in a real token. Prints
the median of --runs runs. Runs in CPython and in Pyodide (no gguf-py needed).

--kernels PATH adds the compiled kernels (minfer_wasm/kernels) on the GGUF bytes of the same
shapes ("kernel Q4_1" rows); `build` compiles the native library first. The F32 row is numpy's
float32 `W @ x`. --pyodide builds the wasm module and reruns this script with it in Pyodide 0.29.3
under Node (tests/pyodide_node/run.mjs), the page's runtime without the browser.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minfer_wasm.native.bench import cpu_name                            # noqa: E402
from minfer_wasm.ggml_types import GGML_TYPE_INFO, row_nbytes   # noqa: E402
from minfer_wasm.gguf import TensorInfo                           # noqa: E402
from minfer_wasm.kernels import Kernels, load_kernels             # noqa: E402
from minfer_wasm.quants import QuantTensor, load_tensor           # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

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
# byte offsets of the float16 fields (d, m / dmin) in one block (ggml-common.h block_* structs)
HALF_FIELDS = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
               "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
               "IQ4_NL": [0], "IQ4_XS": [0]}


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


class KernelMatrix:
    """A matrix as the kernels take it: its GGUF bytes (random codes, finite scales) and address."""

    def __init__(self, type_name: str, shape, rng):
        self.ggml_type, (self.rows, self.cols) = TYPE_IDS[type_name], shape
        info = GGML_TYPE_INFO[self.ggml_type]
        nb = self.cols // info.block_size
        if type_name in ("F32", "F16"):
            w = rng.standard_normal(shape, dtype=np.float32)
            self.blocks = (w if type_name == "F32" else w.astype(np.float16)).view(np.uint8).reshape(shape[0], nb, -1)
        else:
            self.blocks = rng.integers(0, 256, (self.rows, nb, info.type_size), dtype=np.uint8)
            for off in HALF_FIELDS[type_name]:                    # (R, NB, 34) uint8 for Q8_0
                scale = (rng.random((self.rows, nb, 1), dtype=np.float32) * 0.01).astype(np.float16)
                self.blocks[:, :, off:off + 2] = scale.view(np.uint8)
        self.addr, self.nbytes = self.blocks.ctypes.data, self.blocks.nbytes


class KernelInputs:
    """x of each row length and one output buffer, with their addresses read once."""

    def __init__(self, xs: dict, n_out: int, n_tokens: int = 1):
        self.x = {c: np.ascontiguousarray(np.broadcast_to(x, (n_tokens, c))) for c, x in xs.items()}
        self.x_addr = {c: x.ctypes.data for c, x in self.x.items()}
        self.out = np.empty(n_out * n_tokens, np.float32)
        self.out_addr = self.out.ctypes.data


def kernel_token_time(kernels: Kernels, layers, n_layers: int, classifier: KernelMatrix,
                      inputs: KernelInputs, n_tokens: int = 1) -> tuple[float, float]:
    """As token_time, through the kernels: n_tokens per call (prefill), the classifier for one."""
    matmul, x_addr, out_addr = kernels.matmul, inputs.x_addr, inputs.out_addr
    t0 = time.perf_counter()
    for i in range(n_layers):
        for w in layers[i % len(layers)].values():
            matmul(w.ggml_type, w.addr, w.rows, w.cols, x_addr[w.cols], n_tokens, out_addr)
    t1 = time.perf_counter()
    matmul(classifier.ggml_type, classifier.addr, classifier.rows, classifier.cols,
           x_addr[classifier.cols], 1, out_addr)
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1


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


def bench_model(model: str, mixes: dict[str, dict[str, str]], runs: int, fused: bool,
                kernels: Kernels | None = None, prefill: int = 0) -> None:
    """Configurations take turns within each run, so a busy machine slows them alike."""
    n_layers, shapes, head_shape = MODELS[model]
    rng = np.random.default_rng(0)
    head = random_tensor("Q8_0", head_shape, rng)
    configs, timers = {}, {}
    for label, mix in mixes.items():
        layer_bytes = sum(r * row_nbytes(TYPE_IDS[mix[p]], c) for p, (r, c) in shapes.items())
        distinct = max(1, min(n_layers, MEMORY_CAP // layer_bytes))
        layers = [{p: random_tensor(mix[p], shapes[p], rng) for p in shapes} for _ in range(distinct)]
        configs[label] = (layers, head)
        if fused:
            configs[label + " fused"] = ([fuse(layer) for layer in layers], head)
        if kernels is not None and all(kernels.supports(TYPE_IDS[t]) for t in mix.values()):
            configs["kernel " + label] = ([{p: KernelMatrix(mix[p], shapes[p], rng) for p in shapes}
                                           for _ in range(distinct)], KernelMatrix("Q8_0", head_shape, rng))
    xs = {c: rng.standard_normal(c, dtype=np.float32) for c in {head.cols, *(c for _, c in shapes.values())}}
    n_out = max(head_shape[0], *(r for r, _ in shapes.values()))
    inputs = KernelInputs(xs, n_out)
    for label, (layers, cls) in configs.items():
        if label.startswith("kernel "):
            timers[label] = lambda layers=layers, cls=cls: kernel_token_time(kernels, layers, n_layers, cls, inputs)
        else:
            timers[label] = lambda layers=layers, cls=cls: token_time(layers, n_layers, cls, xs)
    times = {label: [] for label in configs}
    for run in range(runs + 1):                       # run 0 warms up
        for label, timer in timers.items():
            t = timer()
            if run:
                times[label].append(t)
    print(f"\n{model}: {n_layers} layers x {len(shapes)} matvecs + {head_shape[0]}x{head_shape[1]} "
          f"Q8_0 classifier (median of {runs}, ms per token; F32 = numpy W @ x)")
    print(f"  {'layer weights':16s} {'token':>8s} {'tok/s':>7s} {'layers':>8s} {'classifier':>10s} {'MB resident':>12s}")
    for label, (layers, cls) in configs.items():
        total, cls_s = (float(np.median(v)) * 1e3 for v in zip(*times[label]))
        resident = (sum(t.nbytes for t in layers[0].values()) * n_layers + cls.nbytes) / 1e6
        print(f"  {label:16s} {total:8.1f} {1e3 / total:7.2f} {total - cls_s:8.1f} {cls_s:10.1f} {resident:12.1f}")
    if prefill and kernels is not None:
        bench_prefill(configs, kernels, n_layers, xs, n_out, runs, prefill)


def bench_prefill(configs: dict, kernels: Kernels, n_layers: int, xs: dict, n_out: int, runs: int,
                  n_tokens: int) -> None:
    """A prompt of n_tokens through every layer (the classifier for its last token), per token:
    the kernels' prefill path against numpy's QuantTensor.matmul."""
    inputs = KernelInputs(xs, n_out, n_tokens)
    xs_n = {c: np.ascontiguousarray(np.broadcast_to(x, (n_tokens, c))) for c, x in xs.items()}

    def numpy_prompt(layers, cls):
        t0 = time.perf_counter()
        for i in range(n_layers):
            for w in layers[i % len(layers)].values():
                w.matmul(xs_n[w.cols])
        cls.matvec(xs[cls.cols])
        return time.perf_counter() - t0

    times = {label: [] for label in configs}
    for run in range(runs + 1):
        for label, (layers, cls) in configs.items():
            if label.startswith("kernel "):
                t = kernel_token_time(kernels, layers, n_layers, cls, inputs, n_tokens)[0]
            else:
                t = numpy_prompt(layers, cls)
            if run:
                times[label].append(t)
    print(f"\n  prefill of {n_tokens} tokens (median of {runs}, ms per token)")
    for label, t in times.items():
        ms = float(np.median(t)) * 1e3 / n_tokens
        print(f"  {label:16s} {ms:8.2f} {1e3 / ms:7.1f} tok/s")


def bench_types(types: list[str], shape: tuple[int, int], runs: int, kernels: Kernels | None = None) -> None:
    """One matvec of each type at one shape: ms and ns per weight (and through the kernels, with
    their relative error against numpy's product of the same weights). The types take turns
    within each repetition, so a busy machine slows them alike."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape[1], dtype=np.float32)
    inputs = KernelInputs({shape[1]: x}, shape[0])
    timers, errors, nbytes = {}, {}, {}
    for name in types:
        t = random_tensor(name, shape, rng)
        timers[name] = lambda t=t: t.matvec(x)
        nbytes[name] = t.nbytes
        if kernels is not None and kernels.supports(TYPE_IDS[name]):
            w = KernelMatrix(name, shape, rng)
            timers["kernel " + name] = lambda w=w: kernels.matmul(w.ggml_type, w.addr, w.rows, w.cols,
                                                                  inputs.x_addr[w.cols], 1, inputs.out_addr)
            timers["kernel " + name]()
            numpy_out = load_tensor(TensorInfo("bench", w.ggml_type, shape, 0, w.nbytes),
                                    w.blocks.tobytes()).matvec(x)                             # (rows,)
            errors[name] = np.linalg.norm(inputs.out[:shape[0]] - numpy_out) / np.linalg.norm(numpy_out)
    times = {label: [] for label in timers}
    for rep in range(5 * runs + 1):                   # rep 0 warms up
        for label, f in timers.items():
            t0 = time.perf_counter()
            f()
            if rep:
                times[label].append(time.perf_counter() - t0)
    ms = {label: float(np.median(t)) * 1e3 for label, t in times.items()}
    print(f"\none {shape[0]}x{shape[1]} matvec (median of {5 * runs}, types interleaved)")
    for name in types:
        line = (f"  {name:6s} {ms[name]:8.3f} ms {ms[name] * 1e6 / (shape[0] * shape[1]):6.2f} ns/weight "
                f"{nbytes[name] / (shape[0] * shape[1]):5.3f} bytes/weight")
        if name in errors:
            k = ms["kernel " + name]
            line += f"   kernel {k:8.3f} ms {k * 1e6 / (shape[0] * shape[1]):6.3f} ns/weight, {errors[name]:.1e} off numpy"
        print(line)


def run_in_pyodide(argv: list[str]) -> int:
    """Build the wasm kernels and run this script with them in Pyodide under Node."""
    from minfer_wasm.native.kernel_build import build_wasm

    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"host: {cpu_name()}, {os.cpu_count()} cores, Node {node}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        module = build_wasm(os.path.join(tmp, "quant_kernels.so"))
        runner = os.path.join(ROOT, "tests", "pyodide_node", "run.mjs")
        return subprocess.call(["node", runner, "--mount", tmp, os.path.abspath(__file__),
                                "--kernels", str(module), *argv])


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--types", default="F32,F16,Q4_0,Q4_1,Q5_0,Q5_1,Q8_0",
                   help="layer weight types for the SmolLM2 token")
    p.add_argument("--model", choices=["smollm2", "gemma3", "both", "none"], default="both")
    p.add_argument("--all-types", action="store_true", help="also time one 2048x1024 matvec of every type")
    p.add_argument("--matvec-types", metavar="T1,T2", help="also time one 2048x1024 matvec of these types")
    p.add_argument("--fused", action="store_true", help="also time with q|k|v and gate|up concatenated")
    p.add_argument("--kernels", metavar="PATH|build", help="also time the compiled kernels of this library")
    p.add_argument("--prefill", type=int, default=0, metavar="N", help="with --kernels: also an N-token prompt")
    p.add_argument("--pyodide", action="store_true", help="run in Pyodide under Node with the wasm kernels")
    args = p.parse_args(argv)
    if args.pyodide:
        sys.exit(run_in_pyodide([a for a in argv if a != "--pyodide"]))
    kernels = None
    if args.kernels == "build":
        from minfer_wasm.native.kernel_build import build_native
        with tempfile.TemporaryDirectory() as tmp:     # loaded, the library outlives its file
            kernels = load_kernels(build_native(os.path.join(tmp, "quant_kernels.so")))
    elif args.kernels:
        kernels = load_kernels(args.kernels)
    print(machine())
    if kernels is not None:
        print(f"kernels: {kernels}")
    projections = MODELS["smollm2"][1]
    if args.model in ("smollm2", "both"):
        mixes = {t: {p: t for p in projections} for t in args.types.split(",")}
        bench_model("smollm2", mixes, args.runs, args.fused, kernels, args.prefill)
    if args.model in ("gemma3", "both"):
        bench_model("gemma3", {"F32": {p: "F32" for p in projections}, "Q4_K_M mix": GEMMA3_MIX}, args.runs,
                    args.fused, kernels, args.prefill)
    if args.all_types or args.matvec_types:
        types = (["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K",
                  "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"] if args.all_types else args.matvec_types.split(","))
        bench_types(types, (2048, 1024), args.runs, kernels)


if __name__ == "__main__":
    main()
