"""Token samplers: pure functions of (logits, history, params, rng).

`sample` applies the steps in this fixed order, the order of llama.cpp's default sampler
chain restricted to the samplers we have (common/sampling.cpp, `common_sampler_init`):

  1. penalties, over the last `repeat_last_n` ids of `history` (-1: all of it, 0: none):
     repetition, as llama.cpp's `llama_sampler_penalties_apply`: a positive logit is divided
     by `repeat_penalty`, a non-positive one multiplied; then frequency and presence, as
     OpenAI documents them: logit -= count * frequency_penalty + (count > 0) * presence_penalty
  2. temperature <= 0: greedy, the argmax of the penalized logits (ties -> lowest id); done
  3. top-k: keep the k largest logits (top_k <= 0 or >= vocab: off)
  4. top-p: keep the smallest set of most probable ids whose mass >= top_p (top_p >= 1: off)
  5. min-p: keep ids whose probability >= min_p * the largest probability (min_p <= 0: off)
  6. temperature: divide the kept logits by it
  7. softmax over the kept ids, then draw one with `rng` (a `random.Random`, seeded_rng; any
     object whose .random() gives a float in [0, 1) will do)

Steps 4 and 5 see probabilities at temperature 1 over the ids still kept, as in llama.cpp.
Every step works on the kept candidates only; on a 262k vocabulary only top-k's
`argpartition` and top-p's softmax touch the whole vocabulary, and no step sorts all of it.
"""

from dataclasses import dataclass
import math
import random

import numpy as np

from .errors import MinferError


class SamplingError(MinferError, ValueError):
    """Sampling parameters, logits or history that cannot be sampled from."""


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0

    def __post_init__(self):
        for field in ("temperature", "top_p", "min_p", "repeat_penalty",
                      "frequency_penalty", "presence_penalty"):
            value = getattr(self, field)
            if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
                raise SamplingError(f"SamplingParams.{field} must be a finite number, got {value!r}")
        for field in ("top_k", "repeat_last_n"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise SamplingError(f"SamplingParams.{field} must be an integer, got {value!r}")
        if not 0.0 <= self.top_p <= 1.0:
            raise SamplingError(f"SamplingParams.top_p must be in [0, 1], got {self.top_p}")
        if not 0.0 <= self.min_p <= 1.0:
            raise SamplingError(f"SamplingParams.min_p must be in [0, 1], got {self.min_p}")
        if self.repeat_penalty <= 0.0:
            raise SamplingError(
                f"SamplingParams.repeat_penalty must be > 0 (1.0 = off), got {self.repeat_penalty}")
        if self.repeat_last_n < -1:
            raise SamplingError(
                f"SamplingParams.repeat_last_n must be >= -1 (-1 = whole history), "
                f"got {self.repeat_last_n}")


SEED_RANDOM = 0xFFFFFFFF     # llama.cpp LLAMA_DEFAULT_SEED: "pick a random seed"


def seeded_rng(seed: int | None) -> random.Random:
    """The generator for a seed: any integer, taken modulo 2**32 as llama.cpp's uint32 seed
    (`--seed -1` wraps to LLAMA_DEFAULT_SEED, which means random, as does None). A Mersenne
    Twister, as llama.cpp's std::mt19937, from Python's `random` (which jinja2 imports anyway):
    numpy.random would cost the page's start five more wasm libraries, 0.1-0.17 s to import."""
    if seed is None:
        return random.Random()
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise SamplingError(f"the seed must be an integer, got {seed!r:.40}")
    seed = int(seed) % 2**32
    return random.Random(None if seed == SEED_RANDOM else seed)


def sample(logits, history, params: SamplingParams, rng: random.Random) -> int:
    """One token id from `logits` (vocab,) given the ids so far; never modifies `logits`."""
    logits = _checked_logits(logits)                       # (vocab,) f32
    # huge finite logits may overflow to -inf under a penalty or a tiny temperature: harmless
    with np.errstate(over="ignore", under="ignore"):
        logits = apply_penalties(logits, history, params)
        if params.temperature <= 0.0:
            return greedy(logits)
        ids, kept = filter_top_k(logits, params.top_k)     # (m,), (m,) candidates
        ids, kept = filter_top_p(ids, kept, params.top_p)
        ids, kept = filter_min_p(ids, kept, params.min_p)
        return draw(ids, kept, params.temperature, rng)


def apply_penalties(logits, history, params: SamplingParams) -> np.ndarray:
    """Repetition, frequency and presence penalties; returns a new array when any applies."""
    n_last = len(history) if params.repeat_last_n == -1 else params.repeat_last_n
    inactive = (params.repeat_penalty == 1.0 and params.frequency_penalty == 0.0
                and params.presence_penalty == 0.0)
    if inactive or n_last == 0 or len(history) == 0:
        return logits
    window = np.asarray(history[-n_last:], dtype=np.int64)   # (<= n_last,)
    bad = window[(window < 0) | (window >= logits.size)]
    if bad.size:
        raise SamplingError(
            f"history token id {int(bad[0])} is outside the vocabulary of {logits.size} ids")
    ids, counts = np.unique(window, return_counts=True)      # (u,), (u,)
    picked = logits[ids]                                     # (u,) f32
    rp = np.float32(params.repeat_penalty)
    picked = np.where(picked > 0, picked / rp, picked * rp)
    picked = picked - (counts * params.frequency_penalty + params.presence_penalty)
    out = logits.copy()
    out[ids] = picked
    return out


def greedy(logits) -> int:
    """Argmax; np.argmax returns the first maximum, i.e. the lowest id among ties."""
    return int(np.argmax(logits))


def filter_top_k(logits, k: int):
    """(ids, logits) of the k largest of the whole vocabulary, unordered; k <= 0 or >= n: all."""
    n = logits.size
    if k <= 0 or k >= n:
        return np.arange(n), logits
    ids = np.argpartition(logits, n - k)[n - k:]            # (k,) O(n), no sort
    return ids, logits[ids]


def filter_top_p(ids, logits, p: float):
    """Keep the smallest set of most probable ids whose probability mass is >= p."""
    n = logits.size
    if p >= 1.0 or n == 1:
        return ids, logits
    weights = np.exp(logits.astype(np.float64) - logits.max())   # (n,) unnormalized probs
    target = p * weights.sum()
    # Grow a sorted head until it holds the mass: usually a few dozen ids, never a full sort
    # unless the distribution is nearly flat.
    k = min(n, 64)
    while True:
        head = _largest_sorted(logits, k)                    # (k,) positions, best first
        mass = np.cumsum(weights[head])                      # (k,)
        cut = int(np.searchsorted(mass, target, side="left"))    # first prefix with mass >= target
        if cut < k or k == n:
            keep = head[:min(cut + 1, k)]
            return ids[keep], logits[keep]
        k = min(n, k * 8)


def filter_min_p(ids, logits, min_p: float):
    """Keep ids with p >= min_p * p_max, i.e. logit >= max_logit + log(min_p)."""
    if min_p <= 0.0:
        return ids, logits
    keep = (logits.astype(np.float64) - logits.max()) >= math.log(min_p)   # (n,) bool
    return ids[keep], logits[keep]


def draw(ids, logits, temperature: float, rng: random.Random) -> int:
    """Softmax of logits / temperature over `ids`, then one draw by inverse CDF."""
    scaled = (logits.astype(np.float64) - logits.max()) / temperature   # (n,) <= 0
    cdf = np.cumsum(np.exp(scaled))                          # (n,) ascending, cdf[-1] >= 1
    i = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    return int(ids[min(i, ids.size - 1)])


def _largest_sorted(logits, k: int) -> np.ndarray:
    """Positions of the k largest logits, largest first."""
    n = logits.size
    part = np.arange(n) if k == n else np.argpartition(logits, n - k)[n - k:]
    return part[np.argsort(-logits[part], kind="stable")]


def _checked_logits(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 1 or logits.size == 0:
        raise SamplingError(f"logits must be a non-empty (vocab,) array, got shape {logits.shape}")
    top = logits.max()                                       # NaN propagates through max
    if not np.isfinite(top):
        raise SamplingError(f"logits are not finite (largest is {top}); the model produced NaN or inf")
    return logits
