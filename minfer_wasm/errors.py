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
