"""Generation: prompt ids in, a stream of sampled tokens out, with timings.

`generate()` returns an iterator of `Step`s. It evaluates only the part of the
prompt the context does not already hold, then samples one token at a time until
an end-of-generation token, a stop string, or `max_tokens`. Text is released
through a StreamDecoder (never half a UTF-8 character) and held back while it
could still be the start of a stop string, so a stop string never leaks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from .context import TokenContext
from .errors import MinferError
from .sampling import SamplingParams, sample
from .tokenizer import StreamDecoder


@dataclass
class Timings:
    """Wall-clock timings of one generation."""

    prompt_tokens: int = 0      # prompt positions actually evaluated (reused ones excluded)
    prompt_s: float = 0.0
    decode_tokens: int = 0      # single-token forward passes after the first token
    decode_s: float = 0.0
    ttft_s: float = 0.0         # start -> first sampled token

    @property
    def prompt_tps(self) -> float:
        return self.prompt_tokens / self.prompt_s if self.prompt_s > 0 else 0.0

    @property
    def decode_tps(self) -> float:
        return self.decode_tokens / self.decode_s if self.decode_s > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens, "prompt_s": self.prompt_s,
            "prompt_tps": self.prompt_tps, "decode_tokens": self.decode_tokens,
            "decode_s": self.decode_s, "decode_tps": self.decode_tps, "ttft_s": self.ttft_s,
        }


@dataclass
class Step:
    """One generated token and the text it completed."""

    token_id: int | None    # None: the final release of held-back text, no new token
    text: str               # newly released text (may be "")
    logits: np.ndarray      # (vocab,) float32 logits the token was sampled from


def _split_held_back(text: str, stop_strings: Sequence[str]) -> tuple[str, str]:
    """(text safe to release, tail that could still grow into a stop string)."""
    hold = 0
    for stop in stop_strings:
        for k in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:k]):
                hold = max(hold, k)
                break
    return text[: len(text) - hold], text[len(text) - hold:]


class Generation:
    """Iterator of Steps; `timings` and `stop_reason` ("eog" | "stop" | "length") are set as it runs."""

    def __init__(self, context: TokenContext, tokenizer, prompt_ids: Sequence[int],
                 params: SamplingParams, *, seed: int | None = None, max_tokens: int = 256,
                 stop_strings: Sequence[str] = (), ignore_eos: bool = False,
                 context_shift: bool = False, n_keep: int = 0):
        if not prompt_ids:
            raise MinferError("the prompt is empty: there is no token to start from")
        if max_tokens < 0:
            raise MinferError(f"max_tokens must be >= 0, got {max_tokens}")
        self.timings = Timings()
        self.stop_reason: str | None = None
        self._steps = self._run(context, tokenizer, list(prompt_ids), params, np.random.default_rng(seed),
                                max_tokens, [s for s in stop_strings if s], ignore_eos, context_shift, n_keep)

    def __iter__(self) -> Iterator[Step]:
        return self

    def __next__(self) -> Step:
        return next(self._steps)

    def close(self) -> None:
        self._steps.close()

    def _run(self, context, tokenizer, prompt_ids, params, rng, max_tokens, stop_strings,
             ignore_eos, context_shift, n_keep):
        t0 = time.perf_counter()
        # 1. Prompt: evaluate only what the cache does not hold yet, in one batch.
        kept = context.reuse_prefix(prompt_ids)
        todo = prompt_ids[kept:]
        if context_shift:
            while context.cache.n_past + len(todo) > context.n_ctx and context.cache.n_past > n_keep:
                context.shift(n_keep)
        logits = context.evaluate(todo)
        self.timings.prompt_tokens = len(todo)
        self.timings.prompt_s = time.perf_counter() - t0
        if max_tokens == 0:
            self.stop_reason = "length"
            return

        decoder = StreamDecoder(tokenizer)
        pending = ""            # decoded text not yet released (possible stop-string start)
        t_decode = time.perf_counter()
        for n_generated in range(1, max_tokens + 1):
            # 2. Sample the next token from the last logits.
            token = sample(logits, context.tokens, params, rng)
            if n_generated == 1:
                self.timings.ttft_s = time.perf_counter() - t0
                t_decode = time.perf_counter()
            if token in tokenizer.eog_ids and not ignore_eos:
                self.stop_reason = "eog"
                break
            # 3. Release text, holding back a possible stop-string prefix.
            pending += decoder.push(token)
            hit = min((pending.find(s) for s in stop_strings if s in pending), default=-1)
            if hit >= 0:
                self.stop_reason = "stop"
                yield Step(token, pending[:hit], logits)
                return
            released, pending = _split_held_back(pending, stop_strings)
            yield Step(token, released, logits)
            if n_generated == max_tokens:
                self.stop_reason = "length"
                break
            # 4. Feed the token back; shift the context first if it is full and that is allowed.
            if context_shift and context.cache.n_past + 1 > context.n_ctx:
                context.shift(n_keep)
            logits = context.evaluate([token])
            self.timings.decode_tokens += 1
            self.timings.decode_s = time.perf_counter() - t_decode
        # Text held back as a possible stop string is released; bytes of an unfinished
        # character stay in the decoder and are dropped (never a trailing U+FFFD).
        if pending:
            yield Step(None, pending, logits)


def generate(context: TokenContext, tokenizer, prompt_ids: Sequence[int], params: SamplingParams,
             **options) -> Generation:
    """Start generating after `prompt_ids`; see Generation for the options."""
    return Generation(context, tokenizer, prompt_ids, params, **options)
