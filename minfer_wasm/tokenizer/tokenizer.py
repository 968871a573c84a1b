"""Tokenizer: text <-> token ids for a GGUF vocabulary (byte-level BPE or SentencePiece BPE).

encode: special-token text is cut out first (special.py), BOS/EOS are added as the file says,
and each plain-text piece goes through the model's tokenizer (bpe.py / spm.py), as llama.cpp
`llama_vocab::impl::tokenize` does. decode: each token's bytes, joined, read as UTF-8.
"""

from ..errors import InputError
from .bpe import CHAR_BYTES, ByteLevelBPE
from .special import SpecialMatcher
from .spm import SPACE, SentencePieceBPE
from .vocab import (BYTE, BYTE_LEVEL_BPE, CONTROL, NORMAL, UNKNOWN, USER_DEFINED, Vocab,
                    ids_of_types, read_vocab)

_TEXT_TYPES = (NORMAL, USER_DEFINED, BYTE)      # every other type is a control-like token


def check_text(text: str, where: str = "the text") -> str:
    """`text` when it can be encoded as UTF-8; InputError naming the first lone surrogate otherwise
    (README "Limits": invalid text is refused, never replaced). Python decodes invalid UTF-8 in
    argv (and in stdin with errors="surrogateescape") to U+DC80..U+DCFF: reported as the byte."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        code = ord(text[e.start])
        problem = (f"invalid UTF-8 (byte 0x{code - 0xDC00:02X} at character {e.start})"
                   if 0xDC80 <= code <= 0xDCFF else
                   f"a lone surrogate (U+{code:04X} at character {e.start})")
        raise InputError(f"{where} has {problem}; text must be valid UTF-8") from None
    return text


class Tokenizer:
    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.vocab_size = len(vocab.tokens)
        self.bos_id, self.eos_id = vocab.bos_id, vocab.eos_id
        self.eog_ids = vocab.eog_ids
        self.add_bos, self.add_eos = vocab.add_bos, vocab.add_eos
        self._byte_level = vocab.model == BYTE_LEVEL_BPE
        self._model = ByteLevelBPE(vocab) if self._byte_level else SentencePieceBPE(vocab)
        types = vocab.types.tolist()
        self._types = types
        # llama.cpp `tokenizer_st_partition`: user-defined tokens are always matched whole,
        # control and unknown ones only when parsing special tokens.
        user = {vocab.tokens[i]: i for i in ids_of_types(vocab, USER_DEFINED)}
        special = user | {vocab.tokens[i]: i for i in ids_of_types(vocab, CONTROL, UNKNOWN)}
        self._matchers = {True: SpecialMatcher(special), False: SpecialMatcher(user)}
        self._bytes: list[bytes | None] = [None] * self.vocab_size

    @classmethod
    def from_metadata(cls, metadata: dict) -> "Tokenizer":
        return cls(read_vocab(metadata))

    def encode(self, text: str, add_special: bool = True, parse_special: bool = True) -> list[int]:
        """Token ids of text. add_special: BOS/EOS as tokenizer.ggml.add_bos_token/add_eos_token
        say; parse_special: special-token text in `text` becomes that token. InputError when the
        text holds a lone surrogate (check_text)."""
        check_text(text)
        ids = [self.bos_id] if add_special and self.add_bos else []
        at_start = True
        for part in self._matchers[parse_special].split(text):
            if isinstance(part, int):
                ids.append(part)
            elif self._byte_level:
                ids += self._model.encode(part)
            else:
                # The dummy space goes before the text's start only (SentencePiece prepends it to
                # the whole input; llama.cpp also after each special token, HF does not).
                prefix = self.vocab.add_space_prefix and (at_start or self.vocab.prefix_every_part) \
                    and not (self.vocab.prefix_unless_space and part.startswith(" "))
                ids += self._model.encode(part, prefix)
            at_start = False
        if add_special and self.add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids, skip_special: bool = False) -> str:
        """Text of ids; control tokens appear as their text unless skip_special.

        With add_space_prefix, the space encode() put before the text is removed again: the one
        starting the first token after any leading BOS (as SentencePiece's decoder does).
        """
        ids = [self._checked(int(i)) for i in ids]
        pieces = [self.token_bytes(i) if skip_special or not self.is_control(i)
                  else self.vocab.tokens[i].encode("utf-8") for i in ids]
        if self.vocab.add_space_prefix:
            first = next((k for k, i in enumerate(ids) if i != self.bos_id), None)
            if first is not None and self._types[ids[first]] == NORMAL \
                    and pieces[first].startswith(b" "):
                pieces[first] = pieces[first][1:]
        return b"".join(pieces).decode("utf-8", "replace")

    def token_bytes(self, token_id: int) -> bytes:
        """Raw bytes the token stands for (b'' for control tokens)."""
        piece = self._bytes[self._checked(token_id)]
        if piece is None:
            piece = self._bytes[token_id] = self._piece_bytes(token_id)
        return piece

    def is_control(self, token_id: int) -> bool:
        """Not text: control, unknown, unused tokens (all but normal, user-defined, byte)."""
        return self._types[self._checked(token_id)] not in _TEXT_TYPES

    def _checked(self, token_id: int) -> int:
        if not 0 <= token_id < self.vocab_size:
            raise InputError(f"token id {token_id} is outside the vocabulary "
                              f"(0..{self.vocab_size - 1})")
        return token_id

    def _piece_bytes(self, token_id: int) -> bytes:
        text, kind = self.vocab.tokens[token_id], self._types[token_id]
        if kind == BYTE:                           # "<0x0A>"
            return bytes([int(text[3:5], 16)])
        if kind == USER_DEFINED:                   # stored as the very text it stands for
            return text.encode("utf-8")
        if kind != NORMAL:
            return b""
        if not self._byte_level:
            return text.replace(SPACE, " ").encode("utf-8")
        if all(c in CHAR_BYTES for c in text):
            return bytes(CHAR_BYTES[c] for c in text)
        return text.encode("utf-8")                # a mislabelled token outside the byte alphabet
