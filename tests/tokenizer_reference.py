"""Reference tokenizers for the tokenizer tests: HF `tokenizers` built from GGUF-style metadata.

Each reference is built from what a GGUF stores (tokens, merges or scores, token types) and
configured the way the model's original tokenizer behaves; HF's Rust code then does the work, so
the tests compare minfer_wasm's tokenizer against an independent implementation.
"""

import json
from pathlib import Path

import numpy as np
from tokenizers import AddedToken, decoders, models, normalizers, pre_tokenizers
from tokenizers import Regex
from tokenizers import Tokenizer as HFTokenizer

from minfer_wasm.tokenizer.vocab import BYTE, CONTROL, NORMAL, UNKNOWN, USER_DEFINED

SPACE = "\u2581"
CORPUS = [e["text"] for e in json.loads(
    (Path(__file__).parent / "fixtures" / "tokenizer_corpus.json").read_text())["texts"]]


def _add_special(ref: HFTokenizer, tokens, types, spelled=None) -> None:
    """Control/unknown tokens as special added tokens (raw text), user-defined as plain added
    tokens (matched even when special tokens are not), as HF and llama.cpp both treat them."""
    spelled = spelled or tokens
    ref.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i in np.flatnonzero(np.isin(types, (CONTROL, UNKNOWN)))])
    ref.add_tokens([AddedToken(spelled[i], special=False, normalized=spelled[i].startswith(SPACE))
                    for i in np.flatnonzero(types == USER_DEFINED)])


def smollm2_reference(md: dict) -> HFTokenizer:
    """SmolLM2's tokenizer.json: pre-tokenizer Sequence[Digits(individual_digits=True),
    ByteLevel(use_regex=True)], so every digit is a piece of its own (transformers' GGUF loader
    gives it plain ByteLevel; llama.cpp's "smollm" rule agrees with the original)."""
    tokens, types = md["tokenizer.ggml.tokens"], md["tokenizer.ggml.token_type"]
    merges = [tuple(m.split(" ", 1)) for m in md["tokenizer.ggml.merges"]]
    ref = HFTokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    ref.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    ref.decoder = decoders.ByteLevel()
    _add_special(ref, tokens, types)
    return ref


def byte_level_reference(md: dict, patterns, ignore_merges=False, normalize=None) -> HFTokenizer:
    """Byte-level BPE with the split patterns of a tokenizer.json (Llama 3, Qwen2, GPT-4o ...)."""
    tokens, types = md["tokenizer.ggml.tokens"], md["tokenizer.ggml.token_type"]
    merges = [tuple(m.split(" ", 1)) for m in md["tokenizer.ggml.merges"]]
    ref = HFTokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges,
                                 ignore_merges=ignore_merges))
    if normalize:
        ref.normalizer = getattr(normalizers, normalize)()
    ref.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in patterns]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    ref.decoder = decoders.ByteLevel()
    _add_special(ref, tokens, types)
    return ref


def sentencepiece_reference(md: dict, texts: list[str], add_prefix: bool = False) -> HFTokenizer:
    """SentencePiece BPE as HF BPE: merges are the normal pieces split in two, best score first;
    user-defined runs of spaces are matched as "▁▁.." after normalization, like sentencepiece's
    user-defined symbols (leftmost-longest, before merging), so 40 spaces are 31 + 9, not the
    powers of two that merging "▁▁" pairs would give. Byte fallback when there are byte
    tokens, else the unknown token per unknown character. Only merges whose result occurs in `texts`
    are listed: a merge fires only where its result is a substring of the input, so those texts
    encode the same as with every merge (Gemma 3 has ~500k, slow to build).
    add_prefix: prepend "▁" (add_space_prefix); HF does so for each text between special tokens."""
    tokens, types = md["tokenizer.ggml.tokens"], md["tokenizer.ggml.token_type"]
    scores = md["tokenizer.ggml.scores"]
    # user-defined whitespace runs are stored as real spaces; sentencepiece matches them as "▁▁.."
    spelled = [SPACE * len(t) if k == USER_DEFINED and t and not t.strip(" ") else t
               for t, k in zip(tokens, types)]
    normal = np.flatnonzero(types == NORMAL)
    pieces = {tokens[i] for i in normal}
    longest = max(map(len, pieces))
    escaped = [SPACE * add_prefix + t.replace(" ", SPACE) for t in texts]
    substrings = {t[a:b] for t in escaped for a in range(len(t))
                  for b in range(a + 2, min(a + longest, len(t)) + 1)}
    merges = [(tokens[i][:k], tokens[i][k:])
              for i in sorted(normal, key=lambda i: -scores[i]) if tokens[i] in substrings
              for k in range(1, len(tokens[i]))
              if tokens[i][:k] in pieces and tokens[i][k:] in pieces]
    unk = md.get("tokenizer.ggml.unknown_token_id")
    ref = HFTokenizer(models.BPE(vocab={t: i for i, t in enumerate(spelled)}, merges=merges,
                                 unk_token=tokens[unk] if unk is not None else None,
                                 byte_fallback=bool(np.any(types == BYTE))))
    replace = normalizers.Replace(" ", SPACE)
    ref.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), replace]) if add_prefix else replace
    _add_special(ref, tokens, types, spelled)
    return ref
