"""Finding special-token text (`<|im_start|>`, `<end_of_turn>`, Gemma's runs of spaces) in input.

Matching is leftmost-longest, as HF tokenizers' added-token splitter (Aho-Corasick,
LeftmostLongest) and SentencePiece's user-defined symbol prefix matcher do: scanning left to
right, the longest token text starting at the first position where any starts wins.
"""

import re


class SpecialMatcher:
    """Splits text into plain-text pieces (str) and special token ids (int)."""

    def __init__(self, texts: dict[str, int]):
        self._ids = {t: i for t, i in texts.items() if t}
        self._prefixes = {t[:k] for t in self._ids for k in range(1, len(t))}
        # where a token may start: its first two characters (or its only one) are there
        heads = sorted({t[:2] for t in self._ids}, key=lambda h: (-len(h), h))
        self._start = re.compile("|".join(map(re.escape, heads))) if heads else None

    def split(self, text: str) -> list[str | int]:
        if self._start is None:
            return [text] if text else []
        out: list[str | int] = []
        pos = done = 0          # pos: where to look next; done: end of what is already in out
        while (m := self._start.search(text, pos)) is not None:
            at = m.start()
            match = self._longest_at(text, at)
            if match is None:
                pos = at + 1
                continue
            if at > done:
                out.append(text[done:at])
            out.append(self._ids[match])
            pos = done = at + len(match)
        if done < len(text):
            out.append(text[done:])
        return out

    def _longest_at(self, text: str, at: int) -> str | None:
        """The longest token text starting at text[at], or None."""
        end = at + 1
        while end < len(text) and text[at:end] in self._prefixes:   # walk the prefix set
            end += 1
        for stop in range(end, at, -1):
            if text[at:stop] in self._ids:
                return text[at:stop]
        return None
