"""The BPE merge loop shared by both tokenizers: best pair first, leftmost on ties.

`symbols` starts as single characters; `priority[left + sep + right]` is the key of merging an
adjacent pair (lower merges first), with no entry for a pair that does not merge. A heap of
candidate pairs over a linked list of symbols: HF tokenizers `models/bpe/word.rs`
`Word::merge_all`, llama.cpp `llm_tokenizer_bpe_session` / `llm_tokenizer_spm_session`.
"""

import heapq
from typing import Callable, Iterable

CACHE_LIMIT = 1 << 16      # words remembered; the cache is dropped whole when it fills


def encode_cached(words: Iterable[str], cache: dict[str, list[int]],
                  encode_word: Callable[[str], list[int]]) -> list[int]:
    """Concatenated ids of `words`, each encoded once and remembered in `cache`."""
    out: list[int] = []
    for word in words:
        ids = cache.get(word)
        if ids is None:
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            ids = cache[word] = encode_word(word)
        out += ids
    return out


def merge(symbols: list[str], priority: dict[str, float], sep: str) -> list[str]:
    n = len(symbols)
    if n < 2:
        return symbols
    get = priority.get
    nxt = [*range(1, n), -1]           # linked list over symbol slots; "" marks a merged-away slot
    prv = [*range(-1, n - 1)]
    heap = [(key, i, symbols[i], symbols[i + 1]) for i in range(n - 1)
            if (key := get(symbols[i] + sep + symbols[i + 1])) is not None]
    heapq.heapify(heap)
    while heap:
        _, i, left, right = heapq.heappop(heap)
        j = nxt[i]
        # stale entry: a symbol only ever grows, so equal text means unchanged
        if symbols[i] != left or j < 0 or symbols[j] != right:
            continue
        merged = symbols[i] = left + right
        symbols[j] = ""
        k = nxt[i] = nxt[j]
        if k >= 0:
            prv[k] = i
            if (key := get(merged + sep + symbols[k])) is not None:
                heapq.heappush(heap, (key, i, merged, symbols[k]))
        p = prv[i]
        if p >= 0 and (key := get(symbols[p] + sep + merged)) is not None:
            heapq.heappush(heap, (key, p, symbols[p], merged))
    return [s for s in symbols if s]
