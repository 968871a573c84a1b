"""Byte-level BPE (`tokenizer.ggml.model = gpt2`): GPT-2's byte alphabet, merges by rank.

Each pre-token piece is turned into UTF-8 bytes, each byte into its printable stand-in character
(GPT-2 `bytes_to_unicode`), and the merge of lowest rank (position in tokenizer.ggml.merges) among
adjacent symbols is applied until none applies (see merge.py). Results are cached per piece.
"""

from .merge import encode_cached, merge
from .pretokenize import PreTokenizer
from .vocab import Vocab



def bytes_to_unicode() -> list[str]:
    """The printable character GPT-2 uses for each byte value (index = byte)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


BYTE_CHARS = bytes_to_unicode()
CHAR_BYTES = {c: b for b, c in enumerate(BYTE_CHARS)}
_LATIN1_TO_BYTE_CHARS = {b: c for b, c in enumerate(BYTE_CHARS)}   # str.translate table


class ByteLevelBPE:
    def __init__(self, vocab: Vocab):
        self.pre = PreTokenizer(vocab.pre)
        self._ignore_merges = self.pre.rule.ignore_merges if vocab.ignore_merges is None \
            else vocab.ignore_merges
        self._ids = {t: i for i, t in enumerate(vocab.tokens)}
        # "left right" -> rank; the first of duplicate merges wins, as in llama.cpp
        self._ranks = {m: r for r, m in reversed(list(enumerate(vocab.merges)))}
        self._cache: dict[str, list[int]] = {}

    def encode(self, text: str) -> list[int]:
        """Token ids of plain text (no special-token parsing here)."""
        return encode_cached(self.pre.split(text), self._cache, self._encode_piece)

    def _encode_piece(self, piece: str) -> list[int]:
        raw = piece.encode("utf-8", "surrogatepass")
        word = raw.decode("latin-1").translate(_LATIN1_TO_BYTE_CHARS)     # one char per byte
        if self._ignore_merges and word in self._ids:
            return [self._ids[word]]
        out = []
        for symbol in merge(list(word), self._ranks, " "):
            tid = self._ids.get(symbol)
            if tid is not None:
                out.append(tid)
            else:   # llama.cpp: a symbol that is no token falls back to its single bytes
                out += [self._ids[c] for c in symbol if c in self._ids]
        return out
