"""Samplers against direct numpy reimplementations (full sorts, Python loops) on small logits."""

from collections import Counter
import math

import random

import numpy as np
import pytest

from minfer_wasm.errors import MinferError
from minfer_wasm.sampling import (
    SamplingError, SamplingParams, apply_penalties, filter_min_p, filter_top_k, filter_top_p,
    greedy, sample,
)

OFF = dict(top_k=0, top_p=1.0, min_p=0.0)      # every filter disabled


# ---- references: the textbook definitions, written independently of the module --------------

def ref_softmax(logits, temperature=1.0):
    z = np.asarray(logits, dtype=np.float64) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def ref_top_k(logits, k):
    return set(np.argsort(-logits)[:k].tolist())


def ref_top_p(logits, p):
    """Smallest prefix of the descending-probability order whose mass reaches p."""
    probs = ref_softmax(logits)
    order = np.argsort(-probs)
    total, kept = 0.0, []
    for i in order:
        kept.append(int(i))
        total += probs[i]
        if total >= p:
            break
    return set(kept)


def ref_min_p(logits, min_p):
    probs = ref_softmax(logits)
    return set(np.flatnonzero(probs >= min_p * probs.max()).tolist())


def ref_penalties(logits, history, params):
    out = [float(x) for x in logits]
    n = len(history) if params.repeat_last_n == -1 else params.repeat_last_n
    window = history[len(history) - n:] if n else []
    for tok, count in Counter(window).items():
        x = out[tok]
        x = x / params.repeat_penalty if x > 0 else x * params.repeat_penalty
        out[tok] = x - count * params.frequency_penalty - params.presence_penalty
    return np.array(out)


def ref_distribution(logits, params):
    """Probability of every id after top-k -> top-p -> min-p -> temperature, in that order."""
    vocab = np.arange(len(logits))
    kept = vocab
    if 0 < params.top_k < len(logits):
        kept = np.array(sorted(ref_top_k(logits, params.top_k)))
    if params.top_p < 1.0:
        sub = ref_top_p(logits[kept], params.top_p)
        kept = kept[sorted(sub)]
    if params.min_p > 0.0:
        sub = ref_min_p(logits[kept], params.min_p)
        kept = kept[sorted(sub)]
    probs = np.zeros(len(logits))
    probs[kept] = ref_softmax(logits[kept], params.temperature)
    return probs


def distinct_logits(n, seed, scale=2.0):
    rng = np.random.default_rng(seed)
    return (rng.permutation(n) * (scale / n) + rng.normal(0, 0.01, n)).astype(np.float32)


def chi_square(counts, probs):
    expected = probs * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def chi_square_bound(df):
    """Mean plus six standard deviations of chi2(df): generous, so a fixed seed never flakes."""
    return df + 6 * math.sqrt(2 * df)


# ---- filters one at a time --------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 17, 63])
@pytest.mark.parametrize("peak", [0.0, 50.0])      # flat, or one logit far above the rest
def test_top_k_keeps_the_k_largest(k, peak):
    logits = distinct_logits(64, seed=k)
    logits[5] += peak
    ids, kept = filter_top_k(logits, k)
    assert set(ids.tolist()) == ref_top_k(logits, k)
    np.testing.assert_array_equal(kept, logits[ids])


@pytest.mark.parametrize("k", [0, -5, 64, 1000])
def test_top_k_disabled_keeps_all(k):
    logits = distinct_logits(64, seed=1)
    ids, kept = filter_top_k(logits, k)
    assert ids.tolist() == list(range(64))
    np.testing.assert_array_equal(kept, logits)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 0.95, 0.999])
@pytest.mark.parametrize("n,scale", [(20, 8.0), (3000, 2.0)])   # peaked / nearly flat (head grows)
def test_top_p_keeps_smallest_set_reaching_p(p, n, scale):
    logits = distinct_logits(n, seed=n, scale=scale)
    ids, kept = filter_top_p(np.arange(n), logits, p)
    assert set(ids.tolist()) == ref_top_p(logits, p)
    np.testing.assert_array_equal(kept, logits[ids])


def test_top_p_on_a_subset_uses_the_subset_ids():
    logits = np.array([0.0, 3.0, 1.0, 2.0], dtype=np.float32)
    ids = np.array([10, 11, 12, 13])
    kept_ids, _ = filter_top_p(ids, logits, 0.7)
    assert set(kept_ids.tolist()) == {ids[i] for i in ref_top_p(logits, 0.7)}


@pytest.mark.parametrize("min_p", [0.01, 0.05, 0.3, 0.9, 1.0])
def test_min_p_keeps_ids_with_enough_probability(min_p):
    logits = distinct_logits(40, seed=7, scale=6.0)
    ids, _ = filter_min_p(np.arange(40), logits, min_p)
    assert set(ids.tolist()) == ref_min_p(logits, min_p)


# ---- greedy and penalties ---------------------------------------------------------------------

def test_greedy_ties_go_to_lowest_id():
    logits = np.array([0.5, 2.0, -1.0, 2.0, 2.0], dtype=np.float32)
    assert greedy(logits) == 1
    for temperature in (0.0, -1.0):
        params = SamplingParams(temperature=temperature)
        assert sample(logits, [], params, np.random.default_rng(0)) == 1


def test_greedy_sees_penalized_logits():
    logits = np.array([1.0, 3.0, 2.9], dtype=np.float32)
    params = SamplingParams(temperature=0.0, repeat_penalty=1.5)
    assert sample(logits, [1], params, np.random.default_rng(0)) == int(
        np.argmax(ref_penalties(logits, [1], params)))


@pytest.mark.parametrize("params", [
    SamplingParams(repeat_penalty=1.3, repeat_last_n=64),
    SamplingParams(repeat_penalty=0.7, repeat_last_n=4),
    SamplingParams(frequency_penalty=0.4, presence_penalty=0.25, repeat_last_n=-1),
    SamplingParams(repeat_penalty=1.1, frequency_penalty=-0.3, presence_penalty=0.6, repeat_last_n=5),
])
def test_penalties_match_reference(params):
    logits = np.array([2.0, -1.5, 0.0, 3.25, -0.5, 1.0, 0.75, -2.0], dtype=np.float32)
    history = [3, 1, 3, 0, 5, 3, 1, 7, 7, 2, 3]
    original = logits.copy()
    out = apply_penalties(logits, history, params)
    np.testing.assert_allclose(out, ref_penalties(logits, history, params), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(logits, original)            # input untouched


def test_penalties_inactive_cases_return_logits_unchanged():
    logits = distinct_logits(8, seed=3)
    for params, history in [(SamplingParams(), [1, 2, 3]),
                            (SamplingParams(repeat_penalty=1.5, repeat_last_n=0), [1, 2, 3]),
                            (SamplingParams(repeat_penalty=1.5), [])]:
        np.testing.assert_array_equal(apply_penalties(logits, history, params), logits)


def test_penalties_accept_numpy_history():
    logits = distinct_logits(8, seed=4)
    params = SamplingParams(repeat_penalty=1.2, presence_penalty=0.5, repeat_last_n=3)
    history = [1, 2, 2, 6, 0]
    np.testing.assert_array_equal(apply_penalties(logits, np.array(history), params),
                                  apply_penalties(logits, history, params))


# ---- the whole chain --------------------------------------------------------------------------

def draw_counts(logits, params, n_draws, seed):
    rng = np.random.default_rng(seed)
    counts = np.zeros(len(logits))
    for _ in range(n_draws):
        counts[sample(logits, [], params, rng)] += 1
    return counts


def test_temperature_frequencies_match_softmax():
    logits = np.array([1.0, 0.2, -0.5, 2.0, 0.0, 1.4], dtype=np.float32)
    params = SamplingParams(temperature=0.7, **OFF)
    counts = draw_counts(logits, params, 10000, seed=1234)
    probs = ref_softmax(logits, 0.7)
    assert chi_square(counts, probs) < chi_square_bound(len(logits) - 1)


def test_chain_order_support_and_frequencies():
    # Hand-made so that the order matters: temperature 2 before top-p would keep more ids,
    # min-p before top-p would renormalize differently.
    logits = np.array([3.0, 2.6, 2.2, 1.0, 0.9, 0.2, -1.0, 2.4, -3.0, 0.5], dtype=np.float32)
    params = SamplingParams(temperature=2.0, top_k=7, top_p=0.8, min_p=0.3)
    probs = ref_distribution(logits, params)
    wrong_order = ref_distribution(logits / 2.0, SamplingParams(temperature=1.0, top_k=7,
                                                                top_p=0.8, min_p=0.3))
    assert set(np.flatnonzero(probs)) != set(np.flatnonzero(wrong_order))   # the case discriminates
    counts = draw_counts(logits, params, 5000, seed=99)
    support = np.flatnonzero(probs)
    assert set(np.flatnonzero(counts)) == set(support)
    assert chi_square(counts[support], probs[support]) < chi_square_bound(len(support) - 1)


def test_seeded_reproducibility():
    logits = distinct_logits(100, seed=5, scale=1.0)
    params = SamplingParams(temperature=1.0, top_k=50, top_p=0.99, min_p=0.0)
    runs = []
    for seed in (7, 7, 8):
        rng = np.random.default_rng(seed)
        runs.append([sample(logits, [], params, rng) for _ in range(50)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_large_vocab_top_k_and_draw():
    vocab = 262144
    logits = np.random.default_rng(0).normal(0, 3, vocab).astype(np.float32)
    params = SamplingParams(temperature=1.0, top_k=40, top_p=1.0, min_p=0.0)
    allowed = ref_top_k(logits, 40)
    rng = np.random.default_rng(3)
    assert all(sample(logits, [], params, rng) in allowed for _ in range(20))


def test_sample_does_not_modify_logits():
    logits = distinct_logits(16, seed=2)
    original = logits.copy()
    sample(logits, [1, 1, 2], SamplingParams(repeat_penalty=1.5, presence_penalty=1.0),
           np.random.default_rng(0))
    np.testing.assert_array_equal(logits, original)


# ---- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,field", [
    (dict(top_p=1.5), "top_p"), (dict(top_p=-0.1), "top_p"), (dict(min_p=2.0), "min_p"),
    (dict(repeat_penalty=0.0), "repeat_penalty"), (dict(repeat_penalty=-1.0), "repeat_penalty"),
    (dict(temperature=float("nan")), "temperature"), (dict(top_k=2.5), "top_k"),
    (dict(repeat_last_n=-2), "repeat_last_n"), (dict(frequency_penalty=float("inf")), "frequency_penalty"),
])
def test_invalid_params_raise(kwargs, field):
    with pytest.raises(SamplingError, match=field) as info:
        SamplingParams(**kwargs)
    assert isinstance(info.value, MinferError)


@pytest.mark.parametrize("logits", [np.array([0.0, np.nan]), np.array([np.inf, 0.0]),
                                    np.full(3, -np.inf), np.zeros((2, 2)), np.zeros(0)])
def test_bad_logits_raise(logits):
    with pytest.raises(SamplingError, match="logits"):
        sample(logits, [], SamplingParams(), np.random.default_rng(0))


def test_history_outside_vocab_raises():
    with pytest.raises(SamplingError, match="history token id 9"):
        sample(np.zeros(4), [1, 9], SamplingParams(repeat_penalty=1.1), np.random.default_rng(0))


def test_any_integer_seed_maps_into_the_generator_range_as_llama_cpp():
    """Seeds are taken modulo 2**32 (llama.cpp's uint32 seed); -1 and 2**32-1 mean random."""
    from minfer_wasm.sampling import seeded_rng

    def stream(seed):
        rng = seeded_rng(seed)
        return [rng.random() for _ in range(4)]

    reference = random.Random(5)                      # Python's Mersenne Twister, seeded as given
    assert stream(5) == [reference.random() for _ in range(4)]
    assert stream(5 + 2**32) == stream(5) and stream(-2) == stream(2**32 - 2)
    assert stream(10**40) == stream(10**40 % 2**32)
    assert stream(-1) != stream(-1) and stream(None) != stream(None)   # fresh entropy each time
    with pytest.raises(SamplingError, match="seed must be an integer"):
        seeded_rng(1.5)
