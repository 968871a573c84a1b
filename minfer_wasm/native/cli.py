"""The `minfer-wasm` command line: generate, tokenize, chat, bench, models, build-site, serve.

Every failure a user can cause ends in one line `error: ...` on stderr and a
non-zero exit code, never a traceback (set MINFER_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

# Before numpy loads: the engine's matrices are small, and OpenBLAS's worker threads cost far more
# than they save on them (much more on a busy machine). Set OPENBLAS_NUM_THREADS to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from ..errors import InputError, MinferError
from .http_source import DownloadLimits
from .model_store import DEFAULT_MODEL, KNOWN_MODELS, load_engine, open_model

EXIT_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message}\n")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _text(value: str) -> str:
    """argparse type of a text option: refused (one line) when argv held invalid UTF-8."""
    from ..tokenizer import check_text

    try:
        return check_text(value, "the text")
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _add_model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default=DEFAULT_MODEL,
                   help=f"known name ({', '.join(KNOWN_MODELS)}), .gguf path, http(s) URL, or a "
                        f"Hugging Face checkpoint folder (default {DEFAULT_MODEL})")
    limits = DownloadLimits()
    p.add_argument("--download-deadline", type=_positive_float, default=limits.deadline,
                   metavar="SECONDS", help="a URL model's download fails after this long in all "
                                           f"(default {limits.deadline:g})")
    p.add_argument("--download-min-rate", type=_positive_float, default=limits.min_rate / 1024,
                   metavar="KIB_PER_S", help="a URL model's download fails when slower than this "
                   f"over {limits.rate_window:g} s (default {limits.min_rate / 1024:g})")


def _add_quantize_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quantize", choices=("q8_0", "q4_0", "q4_1", "q4_k", "f16", "none"),
                   default="none", help="a Hugging Face checkpoint's weights as they load "
                                        "(default none: the checkpoint's float type, BF16 as F32)")


def _add_kernels_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernels", choices=("numpy", "compiled"), default="numpy",
                   help="matrix products in numpy (default) or in the page's C kernels, compiled "
                        "for this machine with its C compiler (cached)")


def _add_no_think_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-think", action="store_true",
                   help="answer without a reasoning block: enable_thinking=false to the chat template (Qwen3)")


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-tokens", "-n", type=int, default=128, help="tokens to generate at most (default 128)")
    p.add_argument("--temperature", "-t", type=float, default=0.8, help="0 = greedy (default 0.8)")
    p.add_argument("--top-k", type=int, default=40, help="0 = off (default 40)")
    p.add_argument("--top-p", type=float, default=0.95, help="1 = off (default 0.95)")
    p.add_argument("--min-p", type=float, default=0.05, help="0 = off (default 0.05)")
    p.add_argument("--repeat-penalty", type=float, default=1.0, help="1 = off (default 1.0)")
    p.add_argument("--repeat-last-n", type=int, default=64, help="window of the repeat penalty (default 64)")
    p.add_argument("--frequency-penalty", type=float, default=0.0)
    p.add_argument("--presence-penalty", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None,
                   help="random seed: any integer, taken modulo 2**32 as llama.cpp does; -1 = random "
                        "(default: random)")
    p.add_argument("--ctx-size", type=_positive_int, default=None,
                   help="context length (default min(model context, 4096))")
    p.add_argument("--stop", action="append", default=[], type=_text,
                   help="stop string (repeatable)")


def _sampling_params(args):
    from ..sampling import SamplingParams

    return SamplingParams(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                          min_p=args.min_p, repeat_penalty=args.repeat_penalty,
                          repeat_last_n=args.repeat_last_n, frequency_penalty=args.frequency_penalty,
                          presence_penalty=args.presence_penalty)


def cmd_generate(args) -> int:
    import numpy as np

    from ..context import TokenContext
    from ..generate import generate

    if args.system and not args.chat:
        raise InputError("--system goes with --chat (it is the chat template's system message)")
    if args.no_think and not args.chat:
        raise InputError("--no-think goes with --chat (it is a chat template switch)")
    params = _sampling_params(args)
    engine = load_engine(args.model, args.kernels, _log, args.quantize, args.download_limits)
    if args.chat:
        messages = ([{"role": "system", "content": args.system}] if args.system else [])
        prompt_ids = engine.encode_chat(messages + [{"role": "user", "content": args.prompt}],
                                        **({"enable_thinking": False} if args.no_think else {}))
    else:
        prompt_ids = engine.tokenizer.encode(args.prompt)
    context = TokenContext(engine.model, args.ctx_size)
    generation = generate(context, engine.tokenizer, prompt_ids, params, seed=args.seed,
                          max_tokens=args.max_tokens, stop_strings=args.stop,
                          ignore_eos=args.ignore_eos, context_shift=args.context_shift)
    ids, pieces, logits = [], [], []
    for step in generation:
        pieces.append(step.text)
        if step.token_id is not None:
            ids.append(step.token_id)
            logits.append(step.logits)
        if not args.json:
            print(step.text, end="", flush=True)
    if args.logits_out:
        vocab = engine.model.config.n_vocab
        np.save(args.logits_out, np.stack(logits).astype(np.float32) if logits
                else np.zeros((0, vocab), np.float32))
    timings = generation.timings
    if args.json:
        print(json.dumps({"ids": ids, "text": "".join(pieces), "prompt_ids": list(prompt_ids),
                          "stop_reason": generation.stop_reason, "timings": timings.as_dict()},
                         ensure_ascii=False))
    else:
        print(flush=True)
        _log(f"[{len(prompt_ids)} prompt tokens, {timings.prompt_tps:.1f} tok/s; {len(ids)} generated, "
             f"{timings.decode_tps:.1f} tok/s; first token {timings.ttft_s * 1000:.0f} ms; "
             f"stop: {generation.stop_reason}]")
    return 0


def _json_line(raw: bytes, where: str) -> str | None:
    """The string one stdin line holds as JSON (None for a blank line); InputError for invalid
    UTF-8, JSON that is not a string, and strings with lone surrogates (README "Limits")."""
    from ..tokenizer import check_text

    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{where} has invalid UTF-8 (byte 0x{raw[e.start]:02X} at byte "
                         f"{e.start}); text must be valid UTF-8") from None
    if not line.strip():
        return None
    try:
        text = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not JSON ({e.msg})") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None
    except ValueError as e:   # e.g. an integer of more than 4300 digits
        raise InputError(f"{where}: not usable JSON ({str(e)[:80]})") from None
    if not isinstance(text, str):
        raise InputError(f"{where}: expected a JSON string, got {type(text).__name__}")
    return check_text(text, where)


def cmd_tokenize(args) -> int:
    from ..engine import open_weights
    from ..tokenizer import Tokenizer

    weights = open_weights(open_model(args.model, _log, args.download_limits))
    tokenizer = Tokenizer.from_metadata(weights.metadata)
    for line_no, raw in enumerate(sys.stdin.buffer, 1):
        text = _json_line(raw, f"stdin line {line_no}")
        if text is not None:
            print(json.dumps(tokenizer.encode(text, parse_special=not args.no_special)), flush=True)
    return 0


def cmd_chat(args) -> int:
    from .chat_cli import run_chat

    return run_chat(args, _sampling_params(args), _log)


def cmd_bench(args) -> int:
    from .bench import run_bench

    return run_bench(args, _log)


def cmd_convert(args) -> int:
    from .convert import convert

    convert(args.source, args.out, args.qtype, _log)
    return 0


def cmd_models(args) -> int:
    from .model_store import model_path, pull

    if args.action == "list":
        for name, spec in KNOWN_MODELS.items():
            path = model_path(spec)
            print(f"{name:14s} {spec.file_name:36s} {'cached' if path.is_file() else 'not pulled'}")
        return 0
    for name in args.names or [DEFAULT_MODEL]:
        print(pull(name, _log))
    return 0


def cmd_build_site(args) -> int:
    from .site import build_site

    print(build_site(args.out, model=args.model, pyodide_mirror=args.pyodide_mirror,
                     pyodide_dir=args.pyodide_dir, log=_log))
    return 0


def cmd_serve(args) -> int:
    from .serve import serve

    serve(port=args.port, host=args.host, site_dir=args.site, model=args.model,
          pyodide_mirror=args.pyodide_mirror, pyodide_dir=args.pyodide_dir, log=_log)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minfer-wasm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("generate", help="generate text from a prompt")
    _add_model_arg(p)
    p.add_argument("--prompt", "-p", required=True, type=_text)
    p.add_argument("--chat", action="store_true", help="wrap the prompt as one user message (chat template)")
    p.add_argument("--system", default=None, type=_text, help="system prompt, with --chat")
    _add_no_think_arg(p)
    _add_kernels_arg(p)
    _add_quantize_arg(p)
    _add_sampling_args(p)
    p.add_argument("--ignore-eos", action="store_true", help="do not stop at end-of-generation tokens")
    p.add_argument("--context-shift", action="store_true", help="shift the context instead of failing when full")
    p.add_argument("--json", action="store_true", help="print one JSON object (ids, text, timings) at the end")
    p.add_argument("--logits-out", metavar="FILE.npy", help="save the logits of each generated token")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("tokenize", help="JSON string per stdin line -> JSON array of ids per line")
    _add_model_arg(p)
    p.add_argument("--no-special", action="store_true", help="treat special-token text as plain text")
    p.set_defaults(func=cmd_tokenize)

    p = sub.add_parser("chat", help="interactive multi-turn chat")
    _add_model_arg(p)
    p.add_argument("--system", default=None, type=_text, help="system prompt")
    _add_no_think_arg(p)
    _add_kernels_arg(p)
    _add_quantize_arg(p)
    _add_sampling_args(p)
    p.set_defaults(func=cmd_chat, max_tokens=512)

    p = sub.add_parser("bench", help="prefill and decode speed, memory, machine")
    _add_model_arg(p)
    p.add_argument("--prompt-tokens", type=_positive_int, default=64)
    p.add_argument("--decode-tokens", type=_positive_int, default=32)
    p.add_argument("--runs", type=_positive_int, default=3)
    p.add_argument("--ctx-size", type=_positive_int, default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-peer", action="store_true", help="skip the llama.cpp comparison")
    _add_kernels_arg(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("convert", help="write a Hugging Face checkpoint as a GGUF file")
    p.add_argument("--from", dest="source", required=True, metavar="DIR", help="checkpoint folder")
    p.add_argument("--to", dest="out", required=True, metavar="OUT.gguf")
    p.add_argument("--type", dest="qtype", required=True,
                   choices=("q8_0", "q4_0", "q4_1", "q4_k", "f16", "f32"))
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("models", help="list or pull known models")
    p.add_argument("action", choices=["pull", "list"])
    p.add_argument("names", nargs="*", help=f"known model names (default {DEFAULT_MODEL})")
    p.set_defaults(func=cmd_models)

    for name, func, help_text in (("build-site", cmd_build_site, "write the static chat site"),
                                  ("serve", cmd_serve, "build the site if needed and serve it")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--model", default=DEFAULT_MODEL,
                       help="model copied into the site: NAME, PATH, URL, or none")
        p.add_argument("--pyodide-mirror", default=None,
                       help="folder with Pyodide's numpy/markupsafe wheels (env MINFER_PYODIDE_MIRROR)")
        p.add_argument("--pyodide-dir", default=None,
                       help="the npm package pyodide to take the runtime from (env MINFER_PYODIDE_DIR; "
                            "default: node_modules/pyodide of the checkout, or installed into the cache)")
        if name == "build-site":
            p.add_argument("--out", required=True, help="output folder")
        else:
            p.add_argument("--port", type=int, default=8000)
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--site", default=None, help="serve this built folder instead of building one")
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "download_deadline"):
            args.download_limits = DownloadLimits(deadline=args.download_deadline,
                                                  min_rate=args.download_min_rate * 1024)
        return args.func(args)
    except MinferError as e:
        _log(f"error: {e}")
    except OSError as e:
        _log(f"error: {e.filename + ': ' if e.filename else ''}{e.strerror or e}")
    except KeyboardInterrupt:
        _log("interrupted")
        return 130
    except Exception as e:  # a bug: still one line for the user, the traceback on request
        if os.environ.get("MINFER_DEBUG"):
            raise
        _log(f"error: internal error ({type(e).__name__}: {e}); rerun with MINFER_DEBUG=1 for details")
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
