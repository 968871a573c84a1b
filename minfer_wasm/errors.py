"""Typed errors whose message is one line a user can act on.

Every error the engine raises on bad input is a MinferError; the CLI prints
`error: <message>` and exits non-zero, the browser worker sends it to the page
as `error {kind, message}` where kind is the class name.
"""


class MinferError(Exception):
    """Base class: str(error) is a complete, user-facing sentence."""


class SourceError(MinferError):
    """A byte source could not be opened or read (missing file, HTTP failure, no Range support)."""


class GGUFError(MinferError):
    """The bytes are not a well-formed GGUF file (names file, field and offset)."""


class CheckpointError(MinferError):
    """A Hugging Face checkpoint folder is incomplete or malformed (names the file and field)."""


class UnsupportedError(MinferError):
    """Well-formed input that this engine does not support (tensor type, architecture, tokenizer)."""


class ContextOverflowError(MinferError):
    """A sequence would run past the KV cache and the caller did not ask for a context shift."""


class TemplateError(MinferError):
    """A chat template failed to render (raised, looped, or touched a forbidden attribute)."""


class InputError(MinferError):
    """Text or a value given by the user that cannot be used (invalid UTF-8, malformed JSON line)."""


QUOTE_LIMIT = 40  # characters of file or server content an error message quotes at most


def quoted(value, limit: int = QUOTE_LIMIT) -> str:
    """repr(value) cut to about `limit` characters, saying how long the whole was: messages quote
    keys, names and bodies from untrusted files and servers, which can be megabytes long."""
    text = repr(value)
    if len(text) <= limit:
        return text
    unit = "chars" if isinstance(value, str) else "bytes" if isinstance(value, (bytes, bytearray)) \
        else "items"
    size = f"{len(value)} {unit}" if hasattr(value, "__len__") else f"{len(text)} chars"
    return f"{text[:limit]}... ({size})"
