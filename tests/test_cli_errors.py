"""Bad input through the CLI: non-zero exit and one clear `error:` line, never a traceback."""

import json
import subprocess
import sys

import pytest

from gguf_fixtures import write_gguf


def run_cli(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minfer_wasm", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_missing_model_file(tmp_path):
    missing = tmp_path / "nope.gguf"
    assert_one_line_error(run_cli("generate", "--model", str(missing), "--prompt", "hi"), str(missing))


def test_not_a_gguf(tmp_path):
    path = tmp_path / "text.gguf"
    path.write_bytes(b"this is not a gguf file at all" * 4)
    assert_one_line_error(run_cli("generate", "--model", str(path), "--prompt", "hi"), "magic")


def test_truncated_gguf(tmp_path, smollm2_path):
    path = tmp_path / "cut.gguf"
    path.write_bytes(smollm2_path.read_bytes()[:100_000])
    assert_one_line_error(run_cli("generate", "--model", str(path), "--prompt", "hi"), str(path))


def test_unsupported_architecture(tmp_path):
    path = write_gguf(tmp_path / "mamba.gguf", arch="mamba")
    result = run_cli("generate", "--model", str(path), "--prompt", "hi")
    assert_one_line_error(result, "mamba")
    assert "llama" in result.stderr and "gemma3" in result.stderr


@pytest.mark.parametrize("args, needle", [
    (("generate", "--prompt", "hi", "--max-tokens", "many"), "--max-tokens"),
    (("generate",), "--prompt"),
    (("frobnicate",), "frobnicate"),
])
def test_bad_arguments(args, needle):
    result = run_cli(*args)
    assert result.returncode == 2
    assert_one_line_error(result, needle)


def test_unknown_model_name():
    assert_one_line_error(run_cli("generate", "--model", "no-such-model", "--prompt", "hi"),
                          "no-such-model", "smollm2-135m")


def test_tokenize_rejects_non_json_line(smollm2_path):
    result = run_cli("tokenize", "--model", str(smollm2_path), stdin='"ok"\nnot json\n')
    assert result.stdout.strip().startswith("[")
    assert_one_line_error(result, "line 2")


def test_context_longer_than_the_model_was_trained_for(smollm2_path):
    result = run_cli("generate", "--model", str(smollm2_path), "--prompt", "hi", "--ctx-size", "100000000")
    assert_one_line_error(result, "100000000 positions", "8192")


def run_cli_bytes(*args: bytes | str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """The CLI with raw bytes in argv and stdin (as a terminal or a pipe can send them)."""
    return subprocess.run([sys.executable, "-m", "minfer_wasm", *args], input=stdin,
                          capture_output=True, timeout=120)


def test_invalid_utf8_in_argv_is_refused():
    result = run_cli_bytes("generate", "--prompt", b"caf\xe9", "--max-tokens", "1")
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().splitlines() == [
        "error: minfer-wasm generate: argument --prompt/-p: the text has invalid UTF-8 "
        "(byte 0xE9 at character 3); text must be valid UTF-8"]


def test_invalid_utf8_on_tokenize_stdin_is_refused(smollm2_path):
    result = run_cli_bytes("tokenize", "--model", str(smollm2_path), stdin=b'"ok"\n"\xff"\n')
    assert result.returncode == 1 and result.stdout.decode().strip().startswith("[")
    assert result.stderr.decode().splitlines() == [
        "error: stdin line 2 has invalid UTF-8 (byte 0xFF at byte 1); text must be valid UTF-8"]


@pytest.mark.parametrize("seed", ["-1", "-5", str(2**70)])
def test_any_integer_seed_is_accepted(smollm2_path, seed):
    result = run_cli("generate", "--model", str(smollm2_path), "--prompt", "hi", "--max-tokens", "2",
                     "--seed", seed, "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout.splitlines()[-1])["ids"]) == 2
