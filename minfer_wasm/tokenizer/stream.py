"""StreamDecoder: token ids in, text out as soon as it is complete UTF-8.

A multi-byte character can be split across tokens (byte-level BPE pieces, <0xNN> byte-fallback
tokens); bytes of a character not yet complete are held until the token that finishes it, and
never released when no token finishes it (an answer cut by max_tokens or a stop mid-character
ends with the characters completed so far, not with U+FFFD). Bytes that can never start or
continue a character come out as U+FFFD at once, as `bytes.decode(errors="replace")` writes them.
Control tokens add nothing. No leading space is stripped: generated text continues a prompt.
"""

import codecs


class StreamDecoder:
    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")

    def push(self, token_id: int) -> str:
        """The text completed by this token (may be "")."""
        return self._utf8.decode(self._tokenizer.token_bytes(token_id))
