"""`minfer-wasm bench`: prefill and decode speed, memory, and the machine, with llama.cpp as peer.

Each number is the median of several runs. Memory: the resident set that
loading the model adds (after one token, so every weight has been used) is
compared with the GGUF file size. The KV cache is reported on its own: it is
allocated for the whole context but becomes resident only as positions fill.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time

import numpy as np

BENCH_TEXT = ("The quick brown fox jumps over the lazy dog while the scientist explains how "
              "language models predict the next word from the words that came before it. ")


def cpu_name() -> str:
    """The processor's model name (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine_description() -> str:
    return (f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}")


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux), else peak RSS."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))
    except (OSError, StopIteration):
        return peak_rss()


def peak_rss() -> int:
    import resource  # not in every Python build (Pyodide)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_prompt_ids(tokenizer, n_tokens: int) -> list[int]:
    ids = tokenizer.encode(BENCH_TEXT * (n_tokens // 8 + 2))
    return ids[:n_tokens]


def _median_runs(runs: int, run_once) -> tuple[float, float]:
    """Median (prefill tok/s, decode tok/s) over `runs` calls of run_once() -> (prefill, decode)."""
    results = [run_once() for _ in range(runs)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results))


def bench_minfer(source, prompt_tokens: int, decode_tokens: int, runs: int, ctx_size: int | None,
                 kernels=None) -> dict:
    from ..context import TokenContext
    from ..engine import Engine

    rss_before = current_rss()
    t0 = time.perf_counter()
    engine = Engine.load(source, kernels)
    load_s = time.perf_counter() - t0
    context = TokenContext(engine.model, ctx_size)
    prompt = bench_prompt_ids(engine.tokenizer, prompt_tokens)
    context.evaluate(prompt[:1])  # touch every weight once
    kv_bytes = context.cache.nbytes
    added_rss = current_rss() - rss_before

    def run_once():
        context.reset()
        t = time.perf_counter()
        logits = context.evaluate(prompt)
        prefill_s = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(decode_tokens):
            logits = context.evaluate([int(np.argmax(logits))])
        return len(prompt) / prefill_s, decode_tokens / (time.perf_counter() - t)

    prefill_tps, decode_tps = _median_runs(runs, run_once)
    file_bytes = source.size
    return {"engine": f"minfer-wasm ({'compiled kernels' if kernels else 'numpy'})", "load_s": load_s,
            "prefill_tps": prefill_tps, "decode_tps": decode_tps, "file_bytes": file_bytes, "added_rss_bytes": added_rss, "kv_cache_bytes": kv_bytes,
            "rss_over_file": added_rss / file_bytes, "peak_rss_bytes": peak_rss(),
            "prompt": prompt}


def bench_llama_cpp(path: str, prompt: list[int], decode_tokens: int, runs: int, n_ctx: int) -> dict | None:
    """The same measurement with llama-cpp-python on the same file, or None when it is not installed."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    t0 = time.perf_counter()
    llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=os.cpu_count(), n_batch=512, verbose=False)
    load_s = time.perf_counter() - t0

    def run_once():
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        prefill_s = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(decode_tokens):
            llm.eval([int(np.argmax(llm.scores[llm.n_tokens - 1]))])
        return len(prompt) / prefill_s, decode_tokens / (time.perf_counter() - t)

    prefill_tps, decode_tps = _median_runs(runs, run_once)
    return {"engine": "llama.cpp", "load_s": load_s, "prefill_tps": prefill_tps, "decode_tps": decode_tps}


def run_bench(args, log) -> int:
    from ..errors import SourceError
    from ..hf import is_checkpoint
    from ..sources import FileSource
    from .model_store import compiled_kernels, open_model

    source = open_model(args.model, log, args.download_limits)
    if is_checkpoint(source):
        raise SourceError(f"{args.model}: a Hugging Face checkpoint folder; bench runs GGUF files "
                          "(make one with `minfer-wasm convert`)")
    ours = bench_minfer(source, args.prompt_tokens, args.decode_tokens, args.runs, args.ctx_size,
                        compiled_kernels(args.kernels))
    prompt = ours.pop("prompt")
    peer = None
    if not args.no_peer and isinstance(source, FileSource):     # llama.cpp reads local files only
        peer = bench_llama_cpp(source.name, prompt, args.decode_tokens, args.runs,
                               n_ctx=max(512, len(prompt) + args.decode_tokens + 8))
    report = {"machine": machine_description(), "model": args.model, "runs": args.runs,
              "prompt_tokens": len(prompt), "decode_tokens": args.decode_tokens, "rows": [ours]}
    if peer:
        report["rows"].append(peer)
        report["ratio_prefill"] = ours["prefill_tps"] / peer["prefill_tps"]
        report["ratio_decode"] = ours["decode_tps"] / peer["decode_tps"]
    if args.json:
        print(json.dumps(report))
        return 0
    mib = 1 << 20
    print(f"machine: {report['machine']}")
    print(f"model: {args.model}; {len(prompt)} prompt tokens, {args.decode_tokens} decode tokens, "
          f"median of {args.runs} runs")
    for row in report["rows"]:
        print(f"  {row['engine']:12s} load {row['load_s']:6.2f} s  prefill {row['prefill_tps']:8.1f} tok/s  "
              f"decode {row['decode_tps']:7.2f} tok/s")
    if peer:
        print(f"  ratio minfer/llama.cpp: prefill {report['ratio_prefill']:.3f}, "
              f"decode {report['ratio_decode']:.3f}")
    elif not args.no_peer:
        print("  llama.cpp: not installed (pip install 'minfer-wasm[bench]'), no peer row")
    print(f"memory: file {ours['file_bytes'] / mib:.1f} MiB; loading added {ours['added_rss_bytes'] / mib:.1f} MiB "
          f"resident ({ours['rss_over_file']:.2f}x the file); KV cache {ours['kv_cache_bytes'] / mib:.1f} MiB "
          f"allocated for the context; peak RSS {ours['peak_rss_bytes'] / mib:.1f} MiB")
    return 0
