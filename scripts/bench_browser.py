#!/usr/bin/env python3
"""Browser benchmark: minfer-wasm's page worker vs wllama (llama.cpp in wasm, single thread) on the
same GGUF, in the same headless Chromium run.

For each engine and run, a fresh browser context opens a bench page that loads the model from the
local server, answers one greedy chat message, and reports:
  load        request -> model ready (minfer: Pyodide start + download + load; wllama: wasm + load)
  first token request -> first streamed text in the page
  decode      tokens/s after the first token, as each engine reports it
  JS memory   the page's and its workers' JS heaps (performance.measureUserAgentSpecificMemory,
              which needs cross-origin isolation: this bench's server, unlike the site, sends
              COOP/COEP headers). Chromium leaves Pyodide's wasm memory out of it, so also:
  RSS         resident memory of the bench page's renderer process once the answer is done
              (Linux /proc; page, workers and wasm memory alike)
Each number is the median over --runs. The machine and browser are named in the output.

    python3 scripts/bench_browser.py [--runs 3] [--max-tokens 32] [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import json
import os
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
         "--disable-component-update", "--disable-sync", "--enable-blink-features=ForceEagerMeasureMemory"]
WLLAMA = REPO / "node_modules" / "@wllama" / "wllama"
PROMPT = "Write a long story about a lighthouse keeper and a storm."
TIMEOUT_MS = 900_000

# One engine per page load: ?engine=minfer|wllama&model=URL&max_tokens=N&prompt=TEXT.
BENCH_PAGE = """<!doctype html>
<meta charset="utf-8"><title>minfer-wasm browser bench</title>
<script type="module">
const q = new URLSearchParams(location.search);
const model = new URL(q.get("model"), location.href).href;
const prompt = q.get("prompt"), maxTokens = Number(q.get("max_tokens"));
const now = () => performance.now();

async function minfer() {
  const worker = new Worker("site/web/worker.js", { type: "module" });
  let onReply, first = null;
  worker.onmessage = ({ data }) => {
    if (data.type === "token" && first === null) first = now();
    if (["ready", "done", "error"].includes(data.type)) onReply(data);
  };
  const reply = () => new Promise((resolve, reject) => {
    onReply = (m) => (m.type === "error" ? reject(new Error(`${m.kind}: ${m.message}`)) : resolve(m));
  });
  const t0 = now();
  worker.postMessage({ type: "load", id: 1, source: { url: model }, n_ctx: 2048 });
  const ready = await reply();
  const tReady = now();
  worker.postMessage({ type: "generate", id: 2, text: prompt, params: { temperature: 0 }, max_tokens: maxTokens });
  const done = await reply();
  return { load_s: (tReady - t0) / 1000, ttft_s: (first - tReady) / 1000,
           decode_tps: done.timings.decode_tps, tokens: done.timings.decode_tokens + 1,
           wasm_heap_mb: ready.model.heap_bytes / 1048576 };
}

async function wllama() {
  const { Wllama } = await import("./wllama/esm/index.js");
  const w = new Wllama({ default: new URL("wllama/esm/wasm/wllama.wasm", location.href).href });
  const t0 = now();
  await w.loadModelFromUrl(model, { n_ctx: 2048, n_threads: 1, n_gpu_layers: 0, useCache: false });
  const tReady = now();
  let first = null, tLast = null, last = null, tokens = 0;
  const stream = await w.createChatCompletion({
    messages: [{ role: "user", content: prompt }], max_tokens: maxTokens, temperature: 0, stream: true });
  for await (const chunk of stream) {
    if (chunk.choices?.[0]?.delta?.content) {
      tLast = now();
      if (first === null) first = tLast;
      tokens += 1;
    }
    last = chunk;
  }
  // llama.cpp's own rate when it reports one, else streamed chunks after the first per second
  const reported = last && last.timings && last.timings.predicted_per_second;
  return { load_s: (tReady - t0) / 1000, ttft_s: (first - tReady) / 1000,
           decode_tps: reported || (tokens - 1) / ((tLast - first) / 1000), tokens };
}

(q.get("engine") === "wllama" ? wllama() : minfer()).then(async (result) => {
  const memory = await performance.measureUserAgentSpecificMemory();
  window.__result = { ...result, memory_mb: memory.bytes / 1048576 };
}, (error) => { window.__result = { error: String(error && error.stack || error) }; });
</script>
"""


class IsolatedHandler(SiteHandler):
    """Cross-origin isolated responses, so the page may measure its workers' memory."""

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


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


def run_engine(browser, base_url: str, engine: str, model_url: str, max_tokens: int) -> dict:
    from urllib.parse import urlencode

    context = browser.new_context()
    try:
        page = context.new_page()
        query = urlencode({"engine": engine, "model": model_url, "max_tokens": max_tokens, "prompt": PROMPT})
        page.goto(f"{base_url}bench.html?{query}")
        page.wait_for_function("window.__result !== undefined", timeout=TIMEOUT_MS)
        result = page.evaluate("window.__result")
        result["rss_mb"] = renderer_rss_mb()
    finally:
        context.close()
    if "error" in result:
        raise SystemExit(f"{engine} failed: {result['error']}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--model", default=model_store.DEFAULT_MODEL, help="known name or .gguf path")
    parser.add_argument("--site", help="an already built site (default: build one into a temp folder)")
    parser.add_argument("--json", action="store_true", help="print the medians as one JSON object")
    args = parser.parse_args()

    if not (WLLAMA / "esm" / "index.js").is_file():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=REPO, check=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="minfer-bench-") as tmp:
        root = Path(tmp)
        site = Path(args.site) if args.site else build_site(root / "site-build", model=args.model, log=lambda _: None)
        (root / "site").symlink_to(site.resolve())
        (root / "wllama").symlink_to(WLLAMA)
        (root / "bench.html").write_text(BENCH_PAGE)
        model_url = "site/" + json.loads((site / "site.json").read_text())["model"]

        httpd = make_server(root, "127.0.0.1", 0, quiet=True, handler=IsolatedHandler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base_url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        results: dict[str, list[dict]] = {"minfer-wasm": [], "wllama": []}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            version = browser.version
            for run in range(args.runs):
                for name, engine in (("minfer-wasm", "minfer"), ("wllama", "wllama")):
                    result = run_engine(browser, base_url, engine, model_url, args.max_tokens)
                    results[name].append(result)
                    print(f"run {run + 1} {name}: {json.dumps(result)}", file=sys.stderr, flush=True)
            browser.close()
        httpd.shutdown()

    medians = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
               for name, runs in results.items()}
    machine = f"{machine_description()}; Chromium {version} (headless)"
    if args.json:
        print(json.dumps({"machine": machine, "model": model_url.rsplit("/", 1)[-1], "runs": args.runs,
                          "max_tokens": args.max_tokens, "median": medians}))
        return 0
    print(f"machine: {machine}")
    print(f"model:   {model_url.rsplit('/', 1)[-1]}; greedy, up to {args.max_tokens} tokens; median of {args.runs} runs")
    print(f"{'engine':12s} {'load s':>8s} {'first token s':>14s} {'decode tok/s':>13s} {'tokens':>7s} "
          f"{'JS memory MB':>13s} {'RSS MB':>7s}")
    for name, m in medians.items():
        print(f"{name:12s} {m['load_s']:8.2f} {m['ttft_s']:14.2f} {m['decode_tps']:13.2f} {m['tokens']:7.0f} "
              f"{m['memory_mb']:13.0f} {m['rss_mb']:7.0f}")
    print(f"minfer-wasm's wasm heap once the model is loaded: {medians['minfer-wasm']['wasm_heap_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
