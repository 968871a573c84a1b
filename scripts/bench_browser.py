#!/usr/bin/env python3
"""Browser benchmark: the page's engine (its JS API, web/minfer.js) on its two paths (compiled
wasm SIMD kernels, numpy) against wllama (llama.cpp in wasm, single thread) on the same GGUF, in
headless Chromium.

Each engine, in each run, gets a fresh Chromium (its own profile: empty caches) and a bench page
that does:
  load         Minfer.load until it resolves: Python start + download + load (wllama: wasm +
               download + load). Cold: nothing is cached yet.
  first token  a ~20-token chat message, greedy: request -> first streamed text
  prefill      a ~300-token message: prompt tokens/s by the engine's own timer
  decode       greedy, up to --max-tokens: tokens/s from the first streamed text to the last
               (wllama: llama.cpp's own predicted_per_second)
  RSS          resident memory of the bench page's renderer process after the answers (Linux
               /proc: page, workers and wasm memory alike)
  warm load    the engine started again in the same browser: model from Cache Storage (wllama:
               its own cache), runtime from the HTTP cache
minfer-wasm also reports its wasm heap after load and, on the kernel path, a per-token profile:
the time in the kernels against everything else (the answer's profile, asked with the chat
option `profile`).
Each number is the median over --runs; the machine and browser are named in the output.

Chromium runs as a plain process (a fresh profile per engine and run), with no DevTools client
attached: DevTools' network agent, which Playwright enables, keeps a copy of every response body
up to 10 MB (the page's 4 MiB Range chunks, not wllama's one large fetch), about 130 MB for this
model, which no user's browser holds. The page reports to the bench server by POST: /mark (the
script reads the renderer's RSS, then answers) and /result.

    python3 scripts/bench_browser.py [--runs 3] [--max-tokens 128] [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minfer_wasm.native import model_store  # noqa: E402
from minfer_wasm.native.bench import machine_description  # noqa: E402
from minfer_wasm.native.serve import SiteHandler, make_server  # noqa: E402
from minfer_wasm.native.site import build_site  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
WLLAMA = REPO / "node_modules" / "@wllama" / "wllama"
SHORT = "What is the capital of France? Answer in one short sentence, please, thank you."
LONG = ("Summarize the following notes in two sentences. " +
        "The lighthouse keeper climbed the spiral stairs every evening to light the great lamp, "
        "checked the oil, wiped the salt from the glass, and wrote the weather in his logbook. " * 9)
STORY = "Write a long story about a lighthouse keeper and a storm."
TIMEOUT_S = 1800
ENGINES = (("minfer-wasm kernels", "minfer", "wasm"), ("minfer-wasm numpy", "minfer", "numpy"),
           ("wllama 1 thread", "wllama", ""))

# One engine per page load: ?engine=minfer|wllama&kernels=wasm|numpy&model=URL&max_tokens=N&...
BENCH_PAGE = """<!doctype html>
<meta charset="utf-8"><title>minfer-wasm browser bench</title>
<script type="module">
const q = new URLSearchParams(location.search);
const model = new URL(q.get("model"), location.href).href;
const maxTokens = Number(q.get("max_tokens"));
const [short, long, story] = ["short", "long", "story"].map((k) => q.get(k));
const now = () => performance.now();

/* The page's engine through its JS API (site/web/minfer.js); the decode rate counts from the
   first streamed text to the last. */
async function minfer() {
  const { default: Minfer } = await import("./site/web/minfer.js");
  const options = { model, nCtx: 2048, kernels: q.get("kernels") };
  const ask = async (engine, text, max_tokens, profile = false) => {
    const t0 = now();
    let first = null, last = null, result = null;
    for await (const chunk of engine.chat([{ role: "user", content: text }], { temperature: 0, max_tokens, profile })) {
      if (chunk.done) result = chunk;
      else if (chunk.text) { last = now(); first ??= last; }
    }
    const streamed = result.timings.decode_tokens / ((last - first) / 1000);
    return { ...result, ttft_s: (first - t0) / 1000, streamed_tps: streamed };
  };
  let t0 = now();
  let engine = await Minfer.load(options);
  const load_s = (now() - t0) / 1000;
  const ready = engine.info;
  const chat = await ask(engine, short, 8);
  const prefill = await ask(engine, long, 1);
  const decode = await ask(engine, story, maxTokens, q.get("kernels") === "wasm");
  await mark();
  engine.terminate();
  t0 = now();
  engine = await Minfer.load(options);
  const warm_load_s = (now() - t0) / 1000;
  const warm = engine.info;
  engine.terminate();
  return { load_s, warm_load_s, warm_startup: warm.startup, ttft_s: chat.ttft_s, prefill_tps: prefill.timings.prompt_tps,
           prefill_tokens: prefill.timings.prompt_tokens, decode_tps: decode.streamed_tps,
           tokens: decode.timings.decode_tokens + 1, wasm_heap_mb: ready.heap_bytes / 1048576,
           kernels: ready.kernels, startup: ready.startup, profile: decode.profile || null };
}

async function wllama() {
  const { Wllama } = await import("./wllama/esm/index.js");
  const start = async () => {
    const w = new Wllama({ default: new URL("wllama/esm/wasm/wllama.wasm", location.href).href });
    await w.loadModelFromUrl(model, { n_ctx: 2048, n_threads: 1, n_gpu_layers: 0, useCache: true });
    return w;
  };
  const ask = async (w, text, max_tokens) => {
    const t0 = now();
    let first = null, last = null;
    const stream = await w.createChatCompletion({
      messages: [{ role: "user", content: text }], max_tokens, temperature: 0, stream: true, cache_prompt: false });
    for await (const chunk of stream) {
      if (chunk.choices?.[0]?.delta?.content) first ??= now();
      if (chunk.timings) last = chunk.timings;
    }
    return { ttft_s: (first - t0) / 1000, timings: last };
  };
  let t0 = now();
  let w = await start();
  const load_s = (now() - t0) / 1000;
  const chat = await ask(w, short, 8);
  const prefill = await ask(w, long, 1);
  const decode = await ask(w, story, maxTokens);
  await mark();
  await w.exit();
  t0 = now();
  w = await start();
  const warm_load_s = (now() - t0) / 1000;
  await w.exit();
  return { load_s, warm_load_s, ttft_s: chat.ttft_s, prefill_tps: prefill.timings.prompt_per_second,
           prefill_tokens: prefill.timings.prompt_n, decode_tps: decode.timings.predicted_per_second,
           tokens: decode.timings.predicted_n };
}

/* Tells the script to read the renderer's RSS now (after the answers, before the warm load). */
const mark = () => fetch("mark", { method: "POST" });

const report = (result) => fetch("result", { method: "POST", body: JSON.stringify(result) });
(q.get("engine") === "wllama" ? wllama() : minfer()).then(report,
  (error) => report({ error: String(error && error.stack || error) }));
</script>
"""


def renderer_rss_mb() -> float:
    """Resident memory of the largest Chromium renderer process started by this script (the bench
    page's: its workers and wasm memory live in it), from /proc (Linux)."""
    parent, rss = {}, {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            status = (proc / "status").read_text()
            renderer = b"--type=renderer" in (proc / "cmdline").read_bytes()
        except OSError:
            continue
        pid = int(proc.name)
        parent[pid] = int(stat.rsplit(")", 1)[1].split()[1])       # field 4: ppid
        if renderer:
            rss[pid] = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parent.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return max((kb for pid, kb in rss.items() if ours(pid)), default=0) / 1024


class Reports:
    """What the bench page reported for the engine that runs now."""

    def __init__(self):
        self.rss_mb = 0.0
        self.result: dict | None = None
        self.done = threading.Event()


REPORTS = Reports()


class BenchHandler(SiteHandler):
    """The bench folder, plus the page's reports: POST mark (read the renderer's RSS now) and
    POST result (the engine's measurements, JSON)."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        name = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
        if name == "mark":
            REPORTS.rss_mb = renderer_rss_mb()
        elif name == "result":
            REPORTS.result = json.loads(body)
            REPORTS.done.set()
        self.send_response(204)
        self.end_headers()


def run_engine(base_url: str, engine: str, kernels: str, model_url: str, max_tokens: int) -> dict:
    """One engine in a fresh Chromium (own profile: empty caches), until the page reports."""
    from urllib.parse import urlencode

    global REPORTS
    REPORTS = Reports()
    query = urlencode({"engine": engine, "kernels": kernels, "model": model_url, "max_tokens": max_tokens,
                       "short": SHORT, "long": LONG, "story": STORY})
    with tempfile.TemporaryDirectory(prefix="minfer-bench-profile-", ignore_cleanup_errors=True) as profile:
        chromium = subprocess.Popen([CHROMIUM, "--headless", *FLAGS, f"--user-data-dir={profile}",
                                     f"{base_url}bench.html?{query}"], start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not REPORTS.done.wait(TIMEOUT_S):
                raise SystemExit(f"{engine} {kernels}: no result after {TIMEOUT_S} s")
        finally:
            os.killpg(chromium.pid, signal.SIGTERM)     # the browser and all its processes
            chromium.wait()
    result = REPORTS.result
    if "error" in result:
        raise SystemExit(f"{engine} {kernels} failed: {result['error']}")
    return {**result, "rss_mb": REPORTS.rss_mb}


def median_of(runs: list[dict]) -> dict:
    """Per key, the median over runs of numbers (nested dicts key by key); other values as in run 1."""
    first = runs[0]
    out = {}
    for key, value in first.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in runs)
        elif isinstance(value, dict):
            out[key] = median_of([r[key] for r in runs])
        else:
            out[key] = value
    return out


def print_table(medians: dict, machine: str, model: str, args) -> None:
    print(f"machine: {machine}")
    print(f"model:   {model}; greedy; median of {args.runs} runs; decode up to {args.max_tokens} tokens")
    print(f"{'engine':20s} {'load s':>7s} {'warm s':>7s} {'1st token s':>11s} {'prefill tok/s':>13s} "
          f"{'decode tok/s':>12s} {'RSS MB':>7s}")
    for name, m in medians.items():
        print(f"{name:20s} {m['load_s']:7.2f} {m['warm_load_s']:7.2f} {m['ttft_s']:11.2f} {m['prefill_tps']:13.1f} "
              f"{m['decode_tps']:12.2f} {m['rss_mb']:7.0f}")
    peer = medians["wllama 1 thread"]
    for name in ("minfer-wasm kernels", "minfer-wasm numpy"):
        m = medians[name]
        print(f"{name} / wllama: decode {m['decode_tps'] / peer['decode_tps']:.2f}x, prefill "
              f"{m['prefill_tps'] / peer['prefill_tps']:.2f}x, load {m['load_s'] / peer['load_s']:.2f}x, "
              f"warm load {m['warm_load_s'] / peer['warm_load_s']:.2f}x, RSS {m['rss_mb'] / peer['rss_mb']:.2f}x; "
              f"wasm heap {m['wasm_heap_mb']:.0f} MB; kernels: {m['kernels']}")
        for kind in ("startup", "warm_startup"):
            steps = ", ".join(f"{step} {s:.2f}" for step, s in m[kind].items())
            print(f"  {name} {'warm' if kind == 'warm_startup' else 'cold'} start (s since the worker "
                  f"started, at the end of each step): {steps}")
    profile = medians["minfer-wasm kernels"].get("profile")
    if profile:
        print(f"  kernel path, per decoded token: {1000 * profile['token_s']:.1f} ms, of which kernels "
              f"{1000 * profile['kernel_s']:.1f} ms ({100 * profile['kernel_s'] / profile['token_s']:.0f}%), "
              f"numpy matrix products {1000 * profile['numpy_matmul_s']:.1f} ms, everything else "
              f"{1000 * (profile['token_s'] - profile['kernel_s'] - profile['numpy_matmul_s']):.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--model", default=model_store.DEFAULT_MODEL, help="known name or .gguf path")
    parser.add_argument("--site", help="an already built site (default: build one into a temp folder)")
    parser.add_argument("--json", action="store_true", help="print the medians as one JSON object")
    args = parser.parse_args()

    if not (WLLAMA / "esm" / "index.js").is_file():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=REPO, check=True)
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]

    with tempfile.TemporaryDirectory(prefix="minfer-bench-") as tmp:
        root = Path(tmp)
        site = Path(args.site) if args.site else build_site(root / "site-build", model=args.model, log=lambda _: None)
        (root / "site").symlink_to(site.resolve())
        (root / "wllama").symlink_to(WLLAMA)
        (root / "bench.html").write_text(BENCH_PAGE)
        model_url = "site/" + json.loads((site / "site.json").read_text())["model"]

        httpd = make_server(root, "127.0.0.1", 0, quiet=True, handler=BenchHandler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base_url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        results: dict[str, list[dict]] = {name: [] for name, _, _ in ENGINES}
        for run in range(args.runs):
            for name, engine, kernels in ENGINES:      # interleaved: each run sees the same machine state
                result = run_engine(base_url, engine, kernels, model_url, args.max_tokens)
                results[name].append(result)
                print(f"run {run + 1} {name}: {json.dumps(result)}", file=sys.stderr, flush=True)
        httpd.shutdown()

    medians = {name: median_of(runs) for name, runs in results.items()}
    machine = f"{machine_description()}; Chromium {version} (headless)"
    model = model_url.rsplit("/", 1)[-1]
    if args.json:
        print(json.dumps({"machine": machine, "model": model, "runs": args.runs,
                          "max_tokens": args.max_tokens, "median": medians}))
    else:
        print_table(medians, machine, model, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
