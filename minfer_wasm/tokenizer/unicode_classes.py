"""Unicode general categories for stdlib `re`, which has no `\\p{..}`.

The pre-tokenizer patterns (HF tokenizers' Oniguruma, llama.cpp src/unicode.cpp) tell characters
apart only by: ASCII characters named literally, Unicode general category (`\\p{L}`, `\\p{Lu}`,
...), and `\\s` = the Unicode White_Space property. So before matching, every other character is
replaced by a stand-in for its (category, white space) class: one private-use code point per class.
The rewritten patterns then use tiny classes, the text keeps its length (match offsets index the
original), and a character's category is looked up once, the first time it is seen.
"""

import unicodedata

CATEGORIES = ("Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
              "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
              "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn")
_INDEX = {cat: i for i, cat in enumerate(CATEGORIES)}

# Unicode White_Space (PropList.txt). stdlib `re`'s own `\s` would also take U+001C..U+001F.
WHITE_SPACE = frozenset(map(ord, "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000")) \
    | frozenset(range(0x2000, 0x200B))

# Kept as themselves: ASCII (patterns name ASCII characters literally), and U+017F LONG S, which a
# case-insensitive 's' matches (Unicode simple case folding) in `(?i:'s|'t|...)`.
_KEPT = frozenset(range(128)) | {0x17F}
_STAND_IN_BASE = 0xF0000       # plane 15 (private use): stand-in = base + 2 * category + white


def _stand_in(cat: str, white: bool) -> int:
    return _STAND_IN_BASE + 2 * _INDEX[cat] + white


class _ClassMap(dict):
    """code point -> itself (kept) or its stand-in; a `str.translate` table filled on demand."""

    def __missing__(self, cp: int) -> int:
        rep = _stand_in(unicodedata.category(chr(cp)), cp in WHITE_SPACE)
        self[cp] = rep
        return rep


CLASS_MAP = _ClassMap({cp: cp for cp in _KEPT})


def _members(wanted) -> str:
    """Class body (no brackets): kept characters and stand-ins whose class satisfies `wanted`."""
    cps = [cp for cp in sorted(_KEPT) if wanted(unicodedata.category(chr(cp)), cp in WHITE_SPACE)]
    cps += [_stand_in(cat, white) for cat in CATEGORIES for white in (False, True)
            if wanted(cat, white)]
    return "".join(f"\\U{cp:08x}" for cp in cps)


def category_class(prop: str) -> str:
    """Class body for `\\p{prop}`; a one-letter prop is the whole major category (L = Lu..Lo)."""
    if not any(cat == prop or cat[0] == prop for cat in CATEGORIES):
        raise ValueError(f"unknown Unicode general category {prop!r}")
    return _members(lambda cat, white: cat == prop or cat[0] == prop)


def white_space_class() -> str:
    """Class body for `\\s`."""
    return _members(lambda cat, white: white)
