"""`minfer-wasm chat`: an interactive multi-turn chat in the terminal."""

from __future__ import annotations

import sys

from ..chat import Chat
from ..errors import MinferError
from ..tokenizer import check_text
from .model_store import load_engine

HELP = "Type a message. /new starts a new chat, /exit (or Ctrl-D) quits, Ctrl-C stops an answer."


def run_chat(args, params, log) -> int:
    engine = load_engine(args.model, args.kernels, log, args.quantize, args.download_limits)
    chat = Chat(engine, system_prompt=args.system, n_ctx=args.ctx_size,
                enable_thinking=False if args.no_think else None)
    log(HELP)
    # undecodable bytes arrive as U+DC80..U+DCFF, which check_text reports as invalid UTF-8
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="surrogateescape")
    while True:
        try:
            line = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        try:
            check_text(line, "the message")
        except MinferError as e:
            log(f"error: {e}")
            continue
        if not line:
            continue
        if line in ("/exit", "/quit"):
            return 0
        if line == "/new":
            chat.reset()
            log("(new chat)")
            continue
        try:
            stream = chat.send(line, params, max_tokens=args.max_tokens, seed=args.seed, stop=args.stop)
            try:
                for piece in stream:
                    print(piece, end="", flush=True)
            except KeyboardInterrupt:
                stream.close()
                print(" [stopped]", end="")
        except MinferError as e:
            log(f"error: {e}")
            continue
        print()
        t = chat.last_timings
        log(f"[{t.prompt_tokens} new prompt tokens, {t.prompt_tps:.1f} tok/s; "
            f"{t.decode_tps:.1f} tok/s decode; first token {t.ttft_s * 1000:.0f} ms]")
