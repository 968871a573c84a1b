"""The token table of a GGUF file: texts, types, scores, merges, special ids and flags.

Defaults and end-of-generation detection follow llama.cpp src/llama-vocab.cpp
`llama_vocab::impl::load`.
"""

import re
from dataclasses import dataclass

import numpy as np

from ..errors import GGUFError, UnsupportedError, quoted
from .pretokenize import rule_for

# Token types (gguf-py `TokenType`, llama.cpp `llama_token_type`).
UNDEFINED, NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 0, 1, 2, 3, 4, 5, 6
BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")  # the text of a BYTE token (llama-vocab.cpp token_to_byte)

BYTE_LEVEL_BPE, SENTENCEPIECE = "gpt2", "llama"     # values of tokenizer.ggml.model

_K = "tokenizer.ggml."

# llama.cpp marks a token end-of-generation by its text, besides the eos/eot/eom ids (its
# end-of-turn guess by text, when the file names no eot id, is one of these too).
EOG_TEXTS = frozenset((
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~["))
# Fill-in-the-middle pad / repo / file-separator tokens also end generation in llama.cpp.
_FIM_TEXTS = {
    "fim_pad": ("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"),
    "fim_rep": ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    "fim_sep": ("<|file_sep|>",),
}


@dataclass(frozen=True)
class Vocab:
    model: str                      # "gpt2" (byte-level BPE) | "llama" (SentencePiece BPE)
    pre: str                        # tokenizer.ggml.pre ("default" when absent)
    tokens: list[str]               # (n_vocab,) token texts as stored in the file
    types: np.ndarray               # (n_vocab,) int32 token types (NORMAL, CONTROL, ...)
    scores: np.ndarray | None       # (n_vocab,) float32 SentencePiece merge scores
    merges: list[str] | None        # byte-level BPE merges "left right", rank = position
    bos_id: int | None
    eos_id: int | None
    unk_id: int | None
    add_bos: bool
    add_eos: bool
    add_space_prefix: bool          # SentencePiece: prepend " " to the text
    eog_ids: frozenset[int]
    # a checkpoint's tokenizer.json (minfer/hf/tokenizer_json.py): the prefix goes before every
    # text between special tokens (HF Prepend normalizer, Metaspace "always"), and not before a
    # text that starts with a space (HF Metaspace)
    prefix_every_part: bool = False
    prefix_unless_space: bool = False
    ignore_merges: bool | None = None   # tokenizer.json's own BPE flag; None: the pre-tokenizer's


def ids_of_types(vocab: Vocab, *kinds: int) -> list[int]:
    """Ids of the tokens of the given types, in id order."""
    return np.flatnonzero(np.isin(vocab.types, kinds)).tolist()


def read_vocab(md: dict) -> Vocab:
    model = md.get(_K + "model")
    if model not in (BYTE_LEVEL_BPE, SENTENCEPIECE):
        raise UnsupportedError(f"{_K}model = {model!r} is not a supported tokenizer "
                               f"(supported: {BYTE_LEVEL_BPE!r} byte-level BPE, "
                               f"{SENTENCEPIECE!r} SentencePiece BPE)")
    tokens = md.get(_K + "tokens")
    if not _is_strings(tokens) or not tokens:
        raise GGUFError(f"GGUF metadata {_K}tokens is missing or not a non-empty string array")
    n = len(tokens)
    types = _token_types(md, n, tokens)
    scores = _array(md, "scores", n, np.float32, default=None)
    if scores is not None and np.isnan(scores).any():
        raise GGUFError(f"GGUF metadata {_K}scores[{int(np.flatnonzero(np.isnan(scores))[0])}] is NaN")
    merges = md.get(_K + "merges")
    merges_ok = _is_strings(merges) and merges
    if model == BYTE_LEVEL_BPE and not merges_ok:
        raise GGUFError(f"GGUF metadata {_K}merges is missing or not a string array "
                        f"(needed by the byte-level BPE tokenizer)")
    pre = md.get(_K + "pre") or "default"
    spm = model == SENTENCEPIECE
    ids = {name: _token_id(md, name, n) for name in (
        "bos_token_id", "eos_token_id", "unknown_token_id", "eot_token_id", "eom_token_id",
        "fim_pad_token_id", "fim_rep_token_id", "fim_sep_token_id")}
    if spm:                         # llama.cpp's SentencePiece defaults when the file says nothing
        ids = {"bos_token_id": 1, "eos_token_id": 2, "unknown_token_id": 0} | \
              {k: v for k, v in ids.items() if v is not None}
    bos, eos = ids.get("bos_token_id"), ids.get("eos_token_id")
    # llama.cpp's default: BOS for SentencePiece and for the Llama 3 / Tekken pre-tokenizers
    add_bos = _flag(md, "add_bos_token", spm or rule_for(pre).adds_bos)
    add_eos = _flag(md, "add_eos_token", False)
    for flag, key, tid in ((add_bos, "add_bos_token", bos), (add_eos, "add_eos_token", eos)):
        if flag and tid is None:
            raise GGUFError(f"GGUF metadata {_K}{key} is true but the file names no such token id")
    return Vocab(model=model, pre=pre, tokens=tokens, types=types, scores=scores,
                 merges=merges if not spm else None, bos_id=bos, eos_id=eos,
                 unk_id=ids.get("unknown_token_id"), add_bos=add_bos, add_eos=add_eos,
                 add_space_prefix=spm and _flag(md, "add_space_prefix", True),
                 eog_ids=_eog_ids(tokens, ids),
                 prefix_every_part=bool(md.get("minfer.tokenizer.prefix_every_part", False)),
                 prefix_unless_space=bool(md.get("minfer.tokenizer.prefix_unless_space", False)),
                 ignore_merges=(None if md.get("minfer.tokenizer.ignore_merges") is None
                                else bool(md["minfer.tokenizer.ignore_merges"])))


def _is_strings(value) -> bool:
    """A GGUF string array (the reader gives list[str]; nested arrays are lists of other things)."""
    return isinstance(value, list) and all(type(v) is str for v in value)


def _array(md, key, n, dtype, default):
    value = md.get(_K + key)
    if value is None:
        return None if default is None else np.full(n, default, dtype)
    kind = np.integer if np.issubdtype(dtype, np.integer) else np.number
    if not isinstance(value, np.ndarray) or value.ndim != 1 or len(value) < n \
            or not np.issubdtype(value.dtype, kind):
        what = f"{value.dtype} array of {len(value)}" if isinstance(value, np.ndarray) \
            else type(value).__name__
        raise GGUFError(f"GGUF metadata {_K}{key} must be an array of {n} "
                        f"{'integers' if kind is np.integer else 'numbers'} (one per token), got {what}")
    with np.errstate(over="ignore"):        # float64 scores beyond float32 become +-inf
        return value[:n].astype(dtype)


def _token_types(md, n: int, tokens: list[str]) -> np.ndarray:
    """tokenizer.ggml.token_type: integers from UNDEFINED to BYTE; every BYTE token reads <0xNN>."""
    raw = md.get(_K + "token_type")
    if isinstance(raw, np.ndarray) and np.issubdtype(raw.dtype, np.integer) and len(raw) >= n:
        bad = np.flatnonzero((raw[:n] < UNDEFINED) | (raw[:n] > BYTE))
        if bad.size:
            raise GGUFError(f"GGUF metadata {_K}token_type[{bad[0]}] = {raw[bad[0]]} is not a token "
                            f"type (expected {UNDEFINED} to {BYTE})")
    types = _array(md, "token_type", n, np.int32, default=NORMAL)
    for i in np.flatnonzero(types == BYTE).tolist():
        if not BYTE_TOKEN.fullmatch(tokens[i]):
            raise GGUFError(f"GGUF metadata {_K}tokens[{i}] = {quoted(tokens[i])} is marked BYTE "
                            "but is not of the form <0xNN>")
    return types


def _token_id(md, key, n) -> int | None:
    value = md.get(_K + key)
    if value is None:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise GGUFError(f"GGUF metadata {_K}{key} must be an integer token id, got {value!r}")
    # llama.cpp ignores an out-of-range id (with a warning) rather than failing the load.
    return int(value) if 0 <= value < n else None


def _flag(md, key, default: bool) -> bool:
    value = md.get(_K + key)
    return default if value is None else bool(value)


def _eog_ids(tokens: list[str], ids: dict) -> frozenset[int]:
    """Every end-of-generation id, as llama.cpp collects them (`special_eog_ids`)."""
    wanted = EOG_TEXTS.union(*_FIM_TEXTS.values())
    first: dict[str, int] = {}
    for i, text in enumerate(tokens):
        if text in wanted:
            first.setdefault(text, i)

    def named_or_found(key: str, texts) -> int | None:
        if ids.get(key) is not None:
            return ids[key]
        return next((first[t] for t in texts if t in first), None)

    eog = {first[t] for t in EOG_TEXTS if t in first}
    eog |= {ids.get("eos_token_id"), ids.get("eot_token_id"), ids.get("eom_token_id")}
    eog |= {named_or_found(f"{name}_token_id", texts) for name, texts in _FIM_TEXTS.items()}
    # gpt-oss / solar-open: "<|end|>" closes a message there, not the generation.
    if {"<|return|>", "<|call|>"} <= first.keys() or {"<|calls|>", "<|flush|>"} <= first.keys():
        eog.discard(first.get("<|end|>"))
    # Gemma 4 / PaddleOCR: "</s>" is plain text there.
    if "<|tool_response>" in first:
        eog.discard(first.get("</s>"))
    eog.discard(None)
    return frozenset(eog)
