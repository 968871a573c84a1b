"""Bad input through the CLI: non-zero exit and one clear `error:` line, never a traceback."""

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
