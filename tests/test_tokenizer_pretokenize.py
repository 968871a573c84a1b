"""Pre-tokenizer split rules against HF tokenizers' own regex engine (Oniguruma).

Every rule is run as HF's `Split(Regex(pattern), behavior="isolated")` sequence on the corpus and
on strings built to probe each character class: the pieces must be identical. This checks the
rewrite of `\\p{..}` / `\\s` for stdlib `re` (category stand-ins, White_Space) and the staging.
"""

import json
import unicodedata
from pathlib import Path

import pytest
from tokenizers import Regex, pre_tokenizers

from minfer_wasm.errors import UnsupportedError
from minfer_wasm.tokenizer.pretokenize import _ALIASES, _RULES, SUPPORTED_PRE, PreTokenizer, to_stdlib_re
from minfer_wasm.tokenizer.unicode_classes import CATEGORIES

CORPUS = [e["text"] for e in json.loads(
    (Path(__file__).parent / "fixtures" / "tokenizer_corpus.json").read_text())["texts"]]


def _one_of_each_category() -> str:
    """The first few assigned characters of every general category, between ASCII words."""
    found: dict[str, list[str]] = {cat: [] for cat in CATEGORIES}
    for cp in range(0x80, 0x30000):
        cat = unicodedata.category(chr(cp))
        if cat not in ("Cs", "Cn") and len(found[cat]) < 4:
            found[cat].append(chr(cp))
    return " ".join(f"x{''.join(chars)}y 1{''.join(chars)}2 {''.join(chars)}'s"
                    for chars in found.values() if chars)


PROBES = [
    _one_of_each_category(),
    "it's IT'S it\u017fs 'll 'LL 'Ll x'd",
    "a \u00a0b\u3000c\u2003d\u2028e\u2029f\x85g\x1ch\x0bi\x0cj",
    "  \n\n  x \r\n y\t\t\n",
    "\u01c5ungla \u01c4UNGLA \u02b0mod \u1f88xx HelloWORLDFoo fooBAR",
    "1234567 12.5 \u0661\u0662\u0663\u0664 \u2460\u2461 \u00bd x1/2 a/b// c/\n",
]


def _hf_split(patterns, text: str) -> list[str]:
    seq = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(p), behavior="isolated") for p in patterns])
    return [piece for piece, _ in seq.pre_tokenize_str(text)]


@pytest.mark.parametrize("pre", sorted(_RULES))
def test_rule_matches_oniguruma(pre):
    ours = PreTokenizer(pre)
    rule = ours.rule
    texts = CORPUS + PROBES
    normalized = [unicodedata.normalize(rule.normalize, t) if rule.normalize else t for t in texts]
    assert [t for t, n in zip(texts, normalized) if ours.split(t) != _hf_split(rule.patterns, n)] == []


def test_pieces_tile_the_text():
    for pre in _RULES:
        if _RULES[pre].normalize:
            continue
        splitter = PreTokenizer(pre)
        assert [t for t in CORPUS if "".join(splitter.split(t)) != t] == []


def test_aliases_and_unknown_pre_type():
    assert set(SUPPORTED_PRE) == set(_RULES) | set(_ALIASES)
    for alias, name in _ALIASES.items():
        assert PreTokenizer(alias).rule is _RULES[name]
    with pytest.raises(UnsupportedError, match="'no-such-pre'") as err:
        PreTokenizer("no-such-pre")
    assert "smollm" in str(err.value)          # names what is supported


@pytest.mark.parametrize("pattern", [r"\d+", r"\w", r"[^\S]", "caf\u00e9"])
def test_rewrite_refuses_what_it_cannot_express(pattern):
    with pytest.raises(ValueError):
        to_stdlib_re(pattern)

