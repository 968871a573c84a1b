"""A multi-turn conversation over one KV cache.

Each turn renders the whole conversation with the chat template; the context
keeps the longest common token prefix with what it already computed, so only
the new tokens are evaluated. When the conversation outgrows the context, the
oldest turns after the system prompt are dropped from the prompt; while an
answer runs past the end, the context is shifted (the system prompt is kept).

Reasoning models (Qwen3) answer with a `<think>...</think>` block first. The answer joins the
conversation whole (Qwen3's template drops earlier turns' think blocks itself); `enable_thinking`
goes to the template (False: it pre-fills an empty think block, so the model answers at once),
and `split_thinking` separates a (partial) answer's reasoning from its reply for display.
"""

from __future__ import annotations

import re
from typing import Iterator, Sequence

from .context import TokenContext
from .errors import ContextOverflowError
from .generate import Timings, generate
from .sampling import SamplingParams

# Positions kept free for the answer when old turns must be dropped to fit a prompt.
MIN_ANSWER_ROOM = 64

_THINK = re.compile(r"\s*<think>(.*?)(</think>\s*|\Z)", re.S)


def split_thinking(text: str) -> tuple[str | None, str]:
    """(reasoning, reply) of an answer that starts with a think block; (None, text) otherwise.
    While the block is still open (streaming), everything after <think> is reasoning."""
    m = _THINK.match(text)
    if not m:
        return None, text
    return m.group(1).strip("\n"), text[m.end():]


class Chat:
    """Messages plus the token context they were computed into."""

    def __init__(self, engine, system_prompt: str | None = None, n_ctx: int | None = None,
                 context_shift: bool = True, enable_thinking: bool | None = None):
        self.engine = engine
        self.system_prompt = system_prompt or None
        # template variables of every render; enable_thinking only when set (a template may test
        # `enable_thinking is defined`)
        self.template_vars = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
        self.context = TokenContext(engine.model, n_ctx)
        self.context_shift = context_shift
        self.messages: list[dict] = []
        self.last_timings = Timings()
        self.last_stop_reason: str | None = None
        self.reset()

    def reset(self) -> None:
        """Start a new conversation; the cache is emptied."""
        self.context.reset()
        self.messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []

    def _fit_prompt(self, max_tokens: int) -> tuple[list[int], int]:
        """(prompt ids, tokens to keep on a context shift), dropping old turns until the prompt fits."""
        room = min(max_tokens, MIN_ANSWER_ROOM)
        n_system = 1 if self.system_prompt else 0
        while True:
            ids = self.engine.encode_chat(self.messages, **self.template_vars)
            if len(ids) + room <= self.context.n_ctx:
                break
            if len(self.messages) - n_system <= 1:
                raise ContextOverflowError(
                    f"the message needs {len(ids)} tokens; the context holds {self.context.n_ctx}"
                )
            del self.messages[n_system:n_system + 2]     # the oldest user/assistant pair: roles keep alternating
        n_keep = 0
        if self.system_prompt:
            n_keep = len(self.engine.encode_chat(self.messages[:1], add_generation_prompt=False,
                                                 **self.template_vars))
        return ids, n_keep

    def send(self, user_text: str, params: SamplingParams = SamplingParams(), *,
             max_tokens: int = 256, seed: int | None = None, stop: Sequence[str] = ()) -> Iterator[str]:
        """Stream the answer to `user_text` as text pieces; the answer joins `messages` when done."""
        self.messages.append({"role": "user", "content": user_text})
        try:
            prompt_ids, n_keep = self._fit_prompt(max_tokens)
            generation = generate(self.context, self.engine.tokenizer, prompt_ids, params, seed=seed,
                                  max_tokens=max_tokens, stop_strings=stop,
                                  context_shift=self.context_shift, n_keep=n_keep)
        except Exception:
            self.messages.pop()     # the conversation stays as it was
            raise
        return self._stream(generation)

    def _stream(self, generation) -> Iterator[str]:
        pieces: list[str] = []
        self.last_stop_reason = "interrupted"
        failed = False
        try:
            for step in generation:
                if step.text:
                    pieces.append(step.text)
                    yield step.text
            self.last_stop_reason = generation.stop_reason
        except Exception:
            failed = True
            self.messages.pop()     # a failed turn leaves the conversation as it was
            raise
        finally:
            self.last_timings = generation.timings
            if not failed:          # finished, or stopped early: the (partial) answer stays
                self.messages.append({"role": "assistant", "content": "".join(pieces)})
