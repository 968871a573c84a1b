"""What the page asks for, checked before use: chat messages and generation options.

The page (web/minfer.js) sends OpenAI-style requests: messages [{role, content}] and options
{temperature, top_p, top_k, min_p, repeat_penalty, frequency_penalty, presence_penalty,
max_tokens, stop, seed, profile, enable_thinking}. Values
arrive from JavaScript (numbers may be floats, absent ones None); anything else is a
RequestError naming the field, before any of it reaches the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import MinferError
from .sampling import SamplingParams

ROLES = ("system", "user", "assistant")
FLOAT_OPTIONS = ("temperature", "top_p", "min_p", "repeat_penalty", "frequency_penalty", "presence_penalty")
INT_OPTIONS = ("top_k", "max_tokens", "seed")
OPTIONS = FLOAT_OPTIONS + INT_OPTIONS + ("stop", "profile", "enable_thinking")
DEFAULT_MAX_TOKENS = 256
MAX_STOP_STRINGS = 16
MAX_STOP_CHARS = 256


class RequestError(MinferError):
    """A request from the page is malformed: a message, an option, or its value."""


@dataclass(frozen=True)
class Options:
    sampling: SamplingParams
    max_tokens: int = DEFAULT_MAX_TOKENS
    stop: tuple[str, ...] = ()
    seed: int | None = None
    profile: bool = False
    # the chat template's enable_thinking (Qwen3's reasoning switch); None: not passed at all
    enable_thinking: bool | None = None


def _quote(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _integer(name: str, value) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestError(f"option {name} must be an integer, got {_quote(value)}")
    return value


def _number(name: str, value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise RequestError(f"option {name} must be a number, got {_quote(value)}")
    return float(value)


def _stop_strings(value) -> tuple[str, ...]:
    strings = [value] if isinstance(value, str) else value
    if not isinstance(strings, (list, tuple)) or not all(isinstance(s, str) for s in strings):
        raise RequestError(f"option stop must be a string or a list of strings, got {_quote(value)}")
    if len(strings) > MAX_STOP_STRINGS or any(len(s) > MAX_STOP_CHARS for s in strings):
        raise RequestError(f"option stop takes at most {MAX_STOP_STRINGS} strings of at most "
                           f"{MAX_STOP_CHARS} characters")
    return tuple(s for s in strings if s)


def parse_options(options) -> Options:
    """Options from a dict of the OPTIONS (None or absent: the default); RequestError on an
    unknown name or a bad value, SamplingError on a sampling value out of range."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise RequestError(f"options must be an object, got {_quote(options)}")
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(OPTIONS), key=str)
    if unknown:
        raise RequestError(f"unknown option {_quote(unknown[0])}; the options are {', '.join(OPTIONS)}")
    sampling = {k: _number(k, given[k]) for k in FLOAT_OPTIONS if k in given}
    if "top_k" in given:
        sampling["top_k"] = _integer("top_k", given["top_k"])
    max_tokens = _integer("max_tokens", given.get("max_tokens", DEFAULT_MAX_TOKENS))
    if max_tokens < 0:
        raise RequestError(f"option max_tokens must be >= 0, got {max_tokens}")
    seed = given.get("seed")
    thinking = given.get("enable_thinking")
    if thinking is not None and not isinstance(thinking, bool):
        raise RequestError(f"option enable_thinking must be true or false, got {_quote(thinking)}")
    return Options(sampling=SamplingParams(**sampling), max_tokens=max_tokens,
                   stop=_stop_strings(given.get("stop", [])),
                   seed=None if seed is None else _integer("seed", seed),   # any: see seeded_rng
                   profile=bool(given.get("profile", False)), enable_thinking=thinking)


def parse_messages(messages) -> list[dict]:
    """A conversation [{role, content}] ending with the user's message; a system message, if
    any, first. Returns fresh dicts holding only role and content."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise RequestError("messages must be a non-empty list of {role, content}")
    checked = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestError(f"message {i} must be an object {{role, content}}, got {_quote(message)}")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise RequestError(f"message {i}: role must be one of {', '.join(ROLES)}, got {_quote(role)}")
        if not isinstance(content, str):
            raise RequestError(f"message {i}: content must be a string, got {_quote(content)}")
        if role == "system" and i > 0:
            raise RequestError(f"message {i}: a system message can only come first")
        checked.append({"role": role, "content": content})
    if checked[-1]["role"] != "user":
        raise RequestError(f"the last message must be the user's, got {checked[-1]['role']!r}")
    return checked
