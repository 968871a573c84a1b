"""Pre-tokenizer split rules of byte-level BPE vocabularies, chosen by `tokenizer.ggml.pre`.

Each rule is a sequence of patterns in the syntax of the original `tokenizer.json` (Oniguruma /
`regex` module: `\\p{L}`, `(?i:...)`, `(?!\\S)`), applied as HF tokenizers' `Split(...,
"isolated")`: matches and the text between them both become pieces, and every later pattern splits
the pieces of the one before on its own (so a lookahead never sees past a piece). References:
llama.cpp src/llama-vocab.cpp `llm_tokenizer_bpe` (pre type -> patterns) and the models'
`tokenizer.json` files; where those differ, the original tokenizer wins (noted per entry).
"""

import re
import unicodedata
from dataclasses import dataclass
from itertools import accumulate

from ..errors import UnsupportedError
from .unicode_classes import CLASS_MAP, category_class, white_space_class

_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
           r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_UPPER, _LOWER = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"
_CONTRACTION = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
_GPT4O = (rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+{_CONTRACTION}"
          rf"|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*{_CONTRACTION}"
          r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_TEKKEN = (rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*"
           r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")


@dataclass(frozen=True)
class PreTokenizerRule:
    patterns: tuple[str, ...]      # applied in order, each to the pieces of the one before
    ignore_merges: bool = False    # a piece that is a whole vocabulary token skips BPE (llama.cpp)
    normalize: str | None = None   # unicodedata form applied to text before splitting
    adds_bos: bool = False         # llama.cpp's add_bos default for such vocabularies


_RULES = {
    "gpt2": PreTokenizerRule((_GPT2,)),
    # llama.cpp LLAMA_VOCAB_PRE_TYPE_DEFAULT: what llama.cpp does with a file that names no
    # known pre-tokenizer; there is no tokenizer.json to follow, so llama.cpp's rule is the one.
    "default": PreTokenizerRule((
        r"[\p{P}\$\+<=>\^~\|]+",
        r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
        r"\p{N}+", r"[0-9][0-9][0-9]")),
    "llama-bpe": PreTokenizerRule((_LLAMA3,), ignore_merges=True, adds_bos=True),
    # Qwen2's tokenizer.json normalizes to NFC before the split (llama.cpp skips that step).
    "qwen2": PreTokenizerRule((_QWEN2,), normalize="NFC"),
    # SmolLM2's tokenizer.json: Digits(individual_digits=True) then ByteLevel(use_regex=True),
    # i.e. every \p{N} character alone, then the GPT-2 pattern on what is left.
    "smollm": PreTokenizerRule((r"\p{N}", _GPT2)),
    "gpt-4o": PreTokenizerRule((_GPT4O,)),
    "tekken": PreTokenizerRule((_TEKKEN,), ignore_merges=True, adds_bos=True),
}
# Other names llama.cpp gives the same rules.
_ALIASES = {"gpt-2": "gpt2", "llama3": "llama-bpe", "llama-v3": "llama-bpe",
            "deepseek-r1-qwen": "qwen2", "starcoder": "smollm", "refact": "smollm",
            "llama4": "gpt-4o"}
SUPPORTED_PRE = tuple(sorted([*_RULES, *_ALIASES]))


def rule_for(pre: str) -> PreTokenizerRule:
    """The split rule for a `tokenizer.ggml.pre` value; UnsupportedError names an unknown one."""
    rule = _RULES.get(_ALIASES.get(pre, pre))
    if rule is None:
        raise UnsupportedError(f"tokenizer.ggml.pre = {pre!r} is not a supported pre-tokenizer "
                               f"(supported: {', '.join(SUPPORTED_PRE)})")
    return rule


_SYNTAX = re.compile(r"\\p\{(\w+)\}|\\(.)|\[\^?|\]", re.S)


def to_stdlib_re(pattern: str) -> str:
    """Rewrite a pattern for text whose characters went through `CLASS_MAP`.

    `\\p{..}`, `\\s` and `\\S` become classes of kept characters and stand-ins; other escapes may
    only quote ASCII punctuation or be \\r \\n \\t, and literals must be ASCII (anything else
    would be compared against stand-ins).
    """
    if not pattern.isascii():
        raise ValueError(f"non-ASCII literal in pre-tokenizer pattern {pattern!r}")
    out, pos, in_class = [], 0, False
    for m in _SYNTAX.finditer(pattern):
        out.append(pattern[pos:m.start()])
        pos = m.end()
        token, prop, escaped = m.group(), m.group(1), m.group(2)
        if prop:
            body = category_class(prop)
            out.append(body if in_class else f"[{body}]")
        elif escaped == "s":
            out.append(white_space_class() if in_class else f"[{white_space_class()}]")
        elif escaped == "S" and not in_class:
            out.append(f"[^{white_space_class()}]")
        elif escaped is not None:
            if escaped.isalnum() and escaped not in "rnt":
                raise ValueError(f"unsupported escape {token!r} in pattern {pattern!r}")
            out.append(token)
        else:
            in_class = token != "]"
            out.append(token)
    out.append(pattern[pos:])
    return "".join(out)


class PreTokenizer:
    """Splits text into the pieces BPE runs on, one piece never crossing another's boundary."""

    def __init__(self, pre: str):
        self.pre = pre
        self.rule = rule_for(pre)
        self._regexes = [re.compile(to_stdlib_re(p)) for p in self.rule.patterns]

    def split(self, text: str) -> list[str]:
        if self.rule.normalize:
            text = unicodedata.normalize(self.rule.normalize, text)
        classes = text.translate(CLASS_MAP)           # same length as text, one class per char
        spans = [(0, len(text))] if text else []
        for regex in self._regexes:
            spans = [part for start, end in spans
                     for part in _split_isolated(regex, classes, start, end)]
        return [text[start:end] for start, end in spans]


def _split_isolated(regex: re.Pattern, text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the matches in text[start:end] and of the gaps between them, in order
    (HF `SplitDelimiterBehavior::Isolated`). The regex sees text[start:end] as the whole string."""
    found = regex.findall(text, start, end)
    if sum(map(len, found)) == end - start:       # the usual case: the matches tile the span
        bounds = list(accumulate(map(len, found), initial=start))
        return list(zip(bounds, bounds[1:]))
    spans, pos = [], start
    for m in regex.finditer(text, start, end):
        if m.start() > pos:
            spans.append((pos, m.start()))
        spans.append(m.span())
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return spans
