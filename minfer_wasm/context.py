"""A KV cache together with the token ids it holds.

Knowing the ids lets a new prompt reuse the longest common prefix of what was
already computed (the next chat turn repeats the whole conversation so far), and
lets a context shift drop the same tokens from both.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import ContextOverflowError


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two id sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class TokenContext:
    """A model's KV cache and the ids at its positions 0 .. n_past-1."""

    def __init__(self, model, n_ctx: int | None = None):
        self.model = model
        self.cache = model.new_cache(n_ctx)
        self.tokens: list[int] = []

    @property
    def n_ctx(self) -> int:
        return self.cache.n_ctx

    def reset(self) -> None:
        self.cache.truncate(0)
        self.tokens.clear()

    def reuse_prefix(self, ids: Sequence[int]) -> int:
        """Keep the cached positions shared with `ids` (never all of them: the last id must be
        evaluated again to get its logits); returns how many positions are kept."""
        keep = min(common_prefix_len(self.tokens, ids), len(ids) - 1)
        kept = self.cache.truncate(max(keep, 0))
        del self.tokens[kept:]
        return kept

    def evaluate(self, ids: Sequence[int], all_logits: bool = False) -> np.ndarray:
        """Run `ids` at the next positions; logits (vocab,) of the last, or (n, vocab).
        ContextOverflowError (from the cache) when they do not fit."""
        try:
            logits = self.model.forward(np.asarray(ids, dtype=np.int64), self.cache, all_logits=all_logits)
        except BaseException:  # interrupted or failed midway: forget the partial positions
            if self.cache.n_past != len(self.tokens):
                del self.tokens[self.cache.truncate(len(self.tokens)):]
            raise
        self.tokens.extend(int(t) for t in ids)
        return logits

    def shift(self, n_keep: int) -> int:
        """Make room: keep the first `n_keep` tokens, drop the oldest half of the rest."""
        n_keep = min(n_keep, self.cache.n_past // 2)
        n_discard = (self.cache.n_past - n_keep) // 2
        if n_discard <= 0:
            raise ContextOverflowError(f"context of {self.cache.n_ctx} tokens is too small to shift")
        self.cache.shift(n_keep, n_discard)
        del self.tokens[n_keep:n_keep + n_discard]
        return n_discard
