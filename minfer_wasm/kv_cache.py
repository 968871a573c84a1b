"""KV cache: per-layer preallocated keys and values, float16 as in llama.cpp (or float32).

Each layer holds one (2, n_kv_heads, slots, head_dim) array: keys, then values.
Global (full-attention) layers keep every position p at slot p (n_ctx slots), so
the keys of positions 0..T-1 are one contiguous slice per head. Sliding-window
layers keep a ring of `window + max_step` slots (slot = p % capacity) and
remember which position each slot holds: the `max_step` extra slots let one
forward step (at most max_step positions) write all its keys before attending
(the oldest query of the step still finds its whole window), and let `truncate`
go back up to max_step + 1 positions without recomputing.

A forward step is `begin(n)` (positions, masks, once for all layers) ->
`store(il, kv, step)` per layer -> `commit(step)`. store() rounds the new keys
and values to the cache's dtype (float32 -> float16 to nearest, as ggml's
GGML_FP32_TO_FP16) and hands the layer's cached ones back as float32, so the
attention always multiplies float32 arrays: a float16 cache's are placed into one
work buffer that all layers share (f16.place), divided by `unit` = 2**112; the
attention multiplies its small operands by `unit` instead (exact, a power of two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ContextOverflowError
from .f16 import F16_UNIT, place
from .layers import Rope

MAX_STEP = 128  # default for the most positions one forward step evaluates (longer batches are split)


@dataclass
class Step:
    """What one forward step needs to know about the cache, computed once for all layers."""
    pos: np.ndarray                  # (n,) positions of the new tokens
    global_mask: np.ndarray | None   # (n, n_past + n) additive causal mask; None for one token
    ring_slots: np.ndarray           # (n,) ring slots the new keys go to
    ring_len: int                    # ring slots in use after the step (a prefix of the ring)
    ring_mask: np.ndarray | None     # (n, ring_len) additive: causal, inside the window, filled


def _additive(valid: np.ndarray) -> np.ndarray:
    return np.where(valid, np.float32(0.0), np.float32(-np.inf))


class KVCache:
    """Keys and values of positions 0 .. n_past-1 for every layer (see module docstring)."""

    def __init__(self, n_ctx: int, n_head_kv: int, head_dim: int, ropes: list[Rope],
                 swa_layers: tuple[bool, ...], window: int, max_step: int = MAX_STEP, dtype=np.float16):
        if n_ctx < 1 or max_step < 1:
            raise ValueError(f"n_ctx and max_step must be at least 1, got {n_ctx} and {max_step}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float16, np.float32):
            raise ValueError(f"the KV cache holds float16 or float32, not {self.dtype}")
        self.n_ctx = n_ctx
        self.n_past = 0
        self.max_step = max_step
        self.window = window
        self.ropes = ropes                        # per layer: how its keys were rotated
        self.swa_layers = swa_layers
        self.ring_cap = min(n_ctx, window + max_step) if any(swa_layers) else 0
        self.ring_pos = np.full(self.ring_cap, -1, dtype=np.int64)  # (ring_cap,) position per slot
        caps = [self.ring_cap if swa else n_ctx for swa in swa_layers]
        # np.empty: a slot is read only after it is written, and the pages of a long context stay
        # untouched (no resident memory, in the page's wasm heap too) until the chat reaches them.
        self.kv = [np.empty((2, n_head_kv, cap, head_dim), self.dtype) for cap in caps]  # per layer
        self.k = [kv[0] for kv in self.kv]        # per layer (n_kv, n_ctx or ring_cap, head_dim)
        self.v = [kv[1] for kv in self.kv]
        self._work = None                         # (2, n_kv, max slots, head_dim) f32: placed keys, values
        self.unit = np.float32(1.0)               # store() hands back keys and values divided by this
        if self.dtype == np.float16:
            self._work = np.empty((2, n_head_kv, max(caps, default=0), head_dim), np.float32)
            self.unit = F16_UNIT

    @property
    def nbytes(self) -> int:
        """Bytes of cached keys and values (the shared float32 work buffer not counted)."""
        return sum(kv.nbytes for kv in self.kv)

    def check_room(self, n: int) -> None:
        """ContextOverflowError unless n more positions fit."""
        if self.n_past + n > self.n_ctx:
            raise ContextOverflowError(
                f"{n} more tokens do not fit in the KV cache: {self.n_past} of {self.n_ctx} positions "
                "are used (use a larger context or a context shift)")

    # ---- one forward step -------------------------------------------------------------------

    def begin(self, n: int) -> Step:
        """Positions and masks for n (<= max_step) new tokens at n_past .. n_past+n-1."""
        self.check_room(n)
        pos = np.arange(self.n_past, self.n_past + n)                              # (n,)
        global_mask = None
        if n > 1:
            global_mask = _additive(np.arange(self.n_past + n)[None, :] <= pos[:, None])  # (n, T)
        slots = pos % self.ring_cap if self.ring_cap else pos
        ring_len, ring_mask = 0, None
        if self.ring_cap:
            held = self.ring_pos.copy()
            held[slots] = pos                     # what the ring holds once this step is written
            ring_len = min(self.ring_cap, self.n_past + n)
            held = held[None, :ring_len]                                            # (1, ring_len)
            ring_mask = _additive((held >= 0) & (held <= pos[:, None])
                                  & (held > pos[:, None] - self.window))           # (n, ring_len)
            self.ring_pos[slots] = -1             # being overwritten: invalid until commit()
        return Step(pos, global_mask, slots, ring_len, ring_mask)

    def store(self, il: int, kv: np.ndarray, step: Step):
        """Write layer il's new keys and values kv: (n, 2, n_kv, d) f32; return its cached keys and
        values divided by `unit` as float32 (n_kv, T, d) each (views; of the shared work buffer
        for a float16 cache, valid until the next store) and the additive mask (n, T) or None."""
        held = self.kv[il]                                                          # (2, n_kv, slots, d)
        n = len(step.pos)
        if self.swa_layers[il]:
            s0 = int(step.ring_slots[0])
            dst = slice(s0, s0 + n) if s0 + n <= self.ring_cap else step.ring_slots  # wraps: fancy index
            used, mask = step.ring_len, step.ring_mask
        else:
            dst = slice(self.n_past, self.n_past + n)
            used, mask = self.n_past + n, step.global_mask
        held[:, :, dst] = kv.transpose(1, 2, 0, 3)
        held = held[:, :, :used]                                                    # (2, n_kv, T, d)
        if self._work is not None:
            held = place(held, self._work[:, :, :used])
        return held[0], held[1], mask

    def commit(self, step: Step) -> None:
        """Every layer stored its keys: the new positions become part of the cache."""
        if self.ring_cap:
            self.ring_pos[step.ring_slots] = step.pos
        self.n_past += len(step.pos)

    # ---- editing ----------------------------------------------------------------------------

    def truncate(self, n: int) -> int:
        """Keep positions 0..n-1; returns how many are kept. A ring that no longer holds the
        window that position n would attend to (truncated more than max_step + 1 back after
        wrapping) keeps nothing: the caller recomputes from 0."""
        n = max(0, min(n, self.n_past))
        if self.ring_cap and n:
            needed = np.arange(max(0, n - self.window + 1), n)
            if not np.isin(needed, self.ring_pos).all():
                n = 0
        if self.ring_cap:
            self.ring_pos[self.ring_pos >= n] = -1
        self.n_past = n
        return n

    def shift(self, n_keep: int, n_discard: int) -> None:
        """Drop positions [n_keep, n_keep + n_discard); later positions move down by n_discard and
        their keys are rotated by -n_discard (llama.cpp llama_kv_cache::build_graph_shift)."""
        if n_keep < 0 or n_discard < 1 or n_keep + n_discard > self.n_past:
            raise ValueError(f"cannot shift n_keep={n_keep}, n_discard={n_discard} "
                             f"with {self.n_past} cached positions")
        src, dst = slice(n_keep + n_discard, self.n_past), slice(n_keep, self.n_past - n_discard)
        held = self.ring_pos
        moved = np.flatnonzero(held >= n_keep + n_discard)       # ring slots whose position moves
        new_pos = held[moved] - n_discard
        new_slots = new_pos % self.ring_cap if self.ring_cap else new_pos
        for il, (kc, vc, rope) in enumerate(zip(self.k, self.v, self.ropes)):
            tables = rope.tables(np.array([-n_discard]))                 # broadcast over heads
            if self.swa_layers[il]:
                keys, vv = kc[:, moved].astype(np.float32), vc[:, moved]  # (n_kv, m, d) copies
                rope.rotate(keys, tables, np.empty_like(keys))
                kc[:, new_slots], vc[:, new_slots] = keys, vv
            else:
                keys = kc[:, src].astype(np.float32)                     # (n_kv, m, d)
                rope.rotate(keys, tables, np.empty_like(keys))
                kc[:, dst] = keys
                vc[:, dst] = vc[:, src]
        if self.ring_cap:
            held[held >= n_keep] = -1
            held[new_slots] = new_pos
        self.n_past -= n_discard
