"""SentencePiece BPE (`tokenizer.ggml.model = llama`: Llama 2, TinyLlama, Gemma): merges by score.

Spaces become U+2581 "▁" (one is prepended first when add_space_prefix). Starting from single
characters, the adjacent pair whose concatenation is a normal vocabulary piece of the highest
score is merged, ties going to the leftmost pair (sentencepiece bpe_model.cc `Model::Encode`,
llama.cpp `llm_tokenizer_spm_session`). A symbol left that is no piece is written as its UTF-8
bytes in <0xNN> tokens (byte fallback), or as the unknown token when the vocabulary has none.

Nothing pre-splits the text; but a merge can only cross the point before a "▁" by forming a piece
with "▁" inside (Gemma 3 has one: ">▁</"), so the text is cut before every "▁" no such piece
spans, and each cut-out word is merged on its own and cached: the same result, much faster.
"""

import re

import numpy as np

from .merge import encode_cached, merge
from .vocab import BYTE, NORMAL, Vocab, ids_of_types

SPACE = "\u2581"
_WORD = re.compile(f"{SPACE}[^{SPACE}]*|[^{SPACE}]+")


class SentencePieceBPE:
    def __init__(self, vocab: Vocab):
        tokens = vocab.tokens
        normal = ids_of_types(vocab, NORMAL)
        pieces = [tokens[i] for i in normal]
        self._piece_ids = dict(zip(pieces, normal))             # merge results and their ids
        scores = vocab.scores[normal] if vocab.scores is not None else np.zeros(len(normal))
        if np.all(np.diff(scores) < 0):   # the usual case: id order is score order, one dict less
            self._priority = self._piece_ids
        else:
            self._priority = dict(zip(pieces, (-scores).tolist()))  # piece -> key, lower first
        byte_ids = {tokens[i]: i for i in ids_of_types(vocab, BYTE)}
        self._byte_ids = [byte_ids.get(f"<0x{b:02X}>") for b in range(256)]
        self._byte_fallback = None not in self._byte_ids
        self._unk_id = vocab.unk_id
        # pieces with "▁" past their first character, and where in them it sits
        self._crossing = [(t, [k for k in range(1, len(t)) if t[k] == SPACE])
                          for t in pieces if t.find(SPACE, 1) > 0]
        self._cache: dict[str, list[int]] = {}

    def encode(self, text: str, add_prefix: bool) -> list[int]:
        """Token ids of plain text; add_prefix prepends the dummy space."""
        text = ((" " if add_prefix else "") + text).replace(" ", SPACE)
        return encode_cached(self._words(text), self._cache, self._encode_word)

    def _words(self, text: str) -> list[str]:
        words = _WORD.findall(text)                  # each "▁" starts a word
        if not self._crossing or len(words) < 2:
            return words
        spanned = set()
        for piece, offsets in self._crossing:
            at = text.find(piece)
            while at >= 0:
                spanned.update(at + k for k in offsets)
                at = text.find(piece, at + 1)
        if not spanned:
            return words
        joined, start = [words[0]], len(words[0])
        for word in words[1:]:
            if start in spanned:                     # a piece spans this cut: keep it whole
                joined[-1] += word
            else:
                joined.append(word)
            start += len(word)
        return joined

    def _encode_word(self, word: str) -> list[int]:
        out = []
        for symbol in merge(list(word), self._priority, ""):
            tid = self._piece_ids.get(symbol)
            if tid is not None:
                out.append(tid)
            elif self._byte_fallback:
                out += [self._byte_ids[b] for b in symbol.encode("utf-8", "surrogatepass")]
            elif self._unk_id is not None:
                out.append(self._unk_id)
        return out
