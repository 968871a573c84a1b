"""Fuzzing text input: invalid UTF-8, lone surrogates and hostile JSON, named then generated.

The policy (README "Limits"): text that is not valid Unicode is refused with an InputError
naming the first bad byte or surrogate, everywhere text comes in: `tokenize` stdin lines,
argv (test_cli_errors.py runs real bytes through a subprocess), `chat` lines, and
Tokenizer.encode itself. Valid text tokenizes and decodes back to itself.
"""

import io
import json
import sys
import zlib
from types import SimpleNamespace

import numpy as np
import pytest

from fuzz_harness import run_case
from minfer_wasm.errors import InputError
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.native import cli
from minfer_wasm.native.chat_cli import run_chat
from minfer_wasm.native.http_source import DownloadLimits
from minfer_wasm.sampling import SamplingParams
from minfer_wasm.sources import FileSource
from minfer_wasm.tokenizer import Tokenizer, check_text

SECONDS = 5.0
GENERATED = 80


@pytest.fixture(scope="module")
def tokenizer(smollm2_path):
    return Tokenizer.from_metadata(GGUFFile.open(FileSource(smollm2_path)).metadata)


def tokenize_stdin(model_path, stdin: bytes) -> str:
    """`minfer-wasm tokenize` on these stdin bytes, in this process; returns its stdout."""
    args = cli.build_parser().parse_args(["tokenize", "--model", str(model_path)])
    args.download_limits = DownloadLimits()
    out = io.StringIO()
    saved = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"), out
    try:
        cli.cmd_tokenize(args)
    finally:
        sys.stdin, sys.stdout = saved
    return out.getvalue()


# (name, stdin bytes of `tokenize`, expected ending, text the message holds)
STDIN = [
    ("invalid byte 0xFF", b'"ok"\n"a\xffb"\n', "InputError", "line 2 has invalid UTF-8 (byte 0xFF"),
    ("truncated sequence", b'"\xe2\x82"\n', "InputError", "invalid UTF-8 (byte 0xE2"),
    ("overlong slash", b'"\xc0\xaf"\n', "InputError", "byte 0xC0"),
    ("UTF-8 of a surrogate", b'"\xed\xa0\x80"\n', "InputError", "byte 0xED"),
    ("JSON lone high surrogate", b'"a\\ud800b"\n', "InputError", "lone surrogate (U+D800 at character 1)"),
    ("JSON lone low surrogate", b'"\\udc00"\n', "InputError", "U+DC00"),
    ("JSON reversed pair", b'"\\udc00\\ud800"\n', "InputError", "U+DC00"),
    ("JSON pair is fine", b'"\\ud83d\\ude00"\n', "ok", ""),
    ("nested lists", b"[" * 100_000 + b"\n", "InputError", "nested too deeply"),
    ("nested objects", b'{"a":' * 100_000 + b"\n", "InputError", "nested too deeply"),
    ("5000-digit integer", b"1" * 5000 + b"\n", "InputError", "not usable JSON"),
    ("a number", b"12\n", "InputError", "expected a JSON string, got int"),
    ("null", b"null\n", "InputError", "got NoneType"),
    ("BOM", b'\xef\xbb\xbf"x"\n', "InputError", "not JSON"),
    ("NUL inside the string", b'"a\\u0000b"\n', "ok", ""),
    ("100 kB line", b'"' + b"word " * 20_000 + b'"\n', "ok", ""),
    ("blank lines only", b"\n \n\t\n", "ok", ""),
]


@pytest.mark.parametrize("name, stdin, expect, needle", STDIN, ids=[c[0] for c in STDIN])
def test_tokenize_stdin(smollm2_path, name, stdin, expect, needle):
    outcome = run_case("text", f"stdin/{name}", lambda: tokenize_stdin(smollm2_path, stdin),
                       seconds=SECONDS)
    assert outcome.clean and outcome.kind == expect and needle in outcome.message, str(outcome)


def test_chat_refuses_an_invalid_line_and_goes_on(smollm2_path):
    """A chat line with an invalid byte is refused in one line; the next line is answered."""
    logged: list[str] = []
    args = SimpleNamespace(model=str(smollm2_path), kernels="numpy", system=None, ctx_size=256,
                           max_tokens=2, seed=1, stop=[], download_limits=DownloadLimits(),
                           quantize="none", no_think=False)
    stdin = io.TextIOWrapper(io.BytesIO(b"caf\xe9\nhello\n"), encoding="utf-8")
    saved = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = stdin, io.StringIO()
    try:
        outcome = run_case("text", "chat/invalid byte then a good line",
                           lambda: run_chat(args, SamplingParams(temperature=0), logged.append),
                           seconds=SECONDS * 4)
    finally:
        sys.stdin, sys.stdout = saved
    assert outcome.kind == "ok", str(outcome)
    errors = [line for line in logged if line.startswith("error:")]
    assert errors == ["error: the message has invalid UTF-8 (byte 0xE9 at character 3); "
                      "text must be valid UTF-8"], logged
    assert any(line.startswith("[") and "tok/s" in line for line in logged), logged  # answered


def random_text(rng: np.random.Generator) -> str:
    """Characters of planes 0 to 3, now and then a lone surrogate or an escaped raw byte (higher
    planes start with bytes 0xF1-0xF4, which SmolLM2's vocabulary lacks: they are dropped, as
    llama.cpp drops them, so those would not decode back)."""
    pools = [(0x20, 0x7F), (0xA0, 0x800), (0x800, 0xD800), (0xE000, 0x10000), (0x10000, 0x40000),
             (0xD800, 0xE000), (0xDC80, 0xDD00)]
    weights = np.array([40, 10, 10, 5, 5, 1, 1], float)
    chars = []
    for _ in range(int(rng.integers(1, 40))):
        lo, hi = pools[rng.choice(len(pools), p=weights / weights.sum())]
        chars.append(chr(int(rng.integers(lo, hi))))
    return "".join(chars)


def test_generated_text(tokenizer):
    """Tokenizer.encode on random strings: an InputError naming the first surrogate exactly when
    there is one; otherwise the ids decode back to the text."""
    rng = np.random.default_rng(zlib.crc32(b"fuzz-text"))
    failures = []
    for i in range(GENERATED):
        text = random_text(rng)
        bad = next((k for k, c in enumerate(text) if 0xD800 <= ord(c) < 0xE000), None)
        ids: list = []
        outcome = run_case("text", f"encode #{i}", lambda: ids.append(tokenizer.encode(text)),
                           seconds=SECONDS)
        if bad is None:
            ok = outcome.kind == "ok" and tokenizer.decode(ids[0][1:] if tokenizer.add_bos else ids[0]) == text
        else:
            ok = outcome.kind == "InputError" and f"at character {bad})" in outcome.message
        if not ok:
            failures.append(f"{outcome} for {json.dumps(text)}")
    assert not failures, "\n".join(failures)


def test_check_text_names_the_byte_of_undecodable_argv():
    """argv's invalid bytes reach Python as U+DC80..U+DCFF (surrogateescape): named as bytes."""
    raw = b"caf\xe9 ok"
    text = raw.decode("utf-8", "surrogateescape")
    with pytest.raises(InputError, match=r"^--system has invalid UTF-8 \(byte 0xE9 at character 3\)"):
        check_text(text, "--system")
