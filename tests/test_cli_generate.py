"""`minfer-wasm generate` end to end on the real SmolLM2, against the transformers fixture.

The CLI tokenizes the prompt (a plain text with special-token text in it, or with --chat
one user message through the model's chat template) and decodes greedily; the prompt ids
and the continuation must be transformers' own (the continuation until the reference's
top-2 logits come within 0.1 of each other).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minfer_wasm.gguf import GGUFFile
from minfer_wasm.sources import FileSource
from minfer_wasm.tokenizer import Tokenizer

FIXTURE = Path(__file__).parent / "fixtures" / "reference_smollm2.json"
MARGIN = 0.1
REFERENCE = json.loads(FIXTURE.read_text())


def run_generate(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "minfer_wasm", "generate", *args, "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def n_confident(case: dict) -> int:
    """Steps before the reference's own top-2 logits first come within MARGIN."""
    margins = np.array(case["margins"])
    return int(np.argmax(margins < MARGIN)) if (margins < MARGIN).any() else len(margins)


def test_generate_greedy_matches_reference(tmp_path, smollm2_path):
    case = REFERENCE["cases"][0]
    steps = len(case["continuation"])
    logits_file = tmp_path / "logits.npy"
    out = run_generate("--model", str(smollm2_path), "--prompt", case["text"], "--temperature", "0",
                       "--ignore-eos", "--max-tokens", str(steps), "--logits-out", str(logits_file))

    assert out["prompt_ids"] == case["prompt_ids"]
    assert len(out["ids"]) == steps and out["stop_reason"] == "length"
    n = n_confident(case)
    assert n >= 8 and out["ids"][:n] == case["continuation"][:n]

    logits = np.load(logits_file)
    assert logits.dtype == np.float32 and logits.shape == (steps, 49152)
    assert (logits.argmax(axis=1) == out["ids"]).all()          # greedy picked each token from these
    first = logits[0][np.array(case["first_top_ids"])]
    assert np.abs(first - np.array(case["first_top_logits"], np.float32)).max() <= 0.05

    tokenizer = Tokenizer.from_metadata(GGUFFile.open(FileSource(smollm2_path)).metadata)
    assert out["text"] == tokenizer.decode(out["ids"], skip_special=True)
    for key in ("prompt_tps", "decode_tps", "ttft_s"):
        assert out["timings"][key] > 0


@pytest.mark.parametrize("case", REFERENCE["chat_cases"], ids=lambda c: c["messages"][-1]["content"][:20])
def test_generate_chat_matches_transformers_chat_template(smollm2_path, case):
    system = [m["content"] for m in case["messages"] if m["role"] == "system"]
    out = run_generate("--model", str(smollm2_path), "--chat", "--prompt", case["messages"][-1]["content"],
                       *(["--system", system[0]] if system else []), "--temperature", "0",
                       "--ignore-eos", "--max-tokens", str(len(case["continuation"])))
    assert out["prompt_ids"] == case["prompt_ids"]          # template + tokenizer as transformers renders them
    n = n_confident(case)
    assert out["ids"][:n] == case["continuation"][:n]


def test_chat_fixture_has_a_long_confident_continuation():
    """Guards the test above against comparing nothing."""
    assert max(n_confident(case) for case in REFERENCE["chat_cases"]) >= 12


def test_tokenize_cli_adds_special_tokens_as_metadata_says(smollm2_path):
    texts = ["Hello world", "<|im_start|>user", " 12345 "]
    result = subprocess.run([sys.executable, "-m", "minfer_wasm", "tokenize", "--model", str(smollm2_path)],
                            input="".join(json.dumps(t) + "\n" for t in texts),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    tokenizer = Tokenizer.from_metadata(GGUFFile.open(FileSource(smollm2_path)).metadata)
    assert rows == [tokenizer.encode(t) for t in texts]
    im_start = GGUFFile.open(FileSource(smollm2_path)).metadata["tokenizer.ggml.tokens"].index("<|im_start|>")
    assert rows[1][0] == im_start                                  # parsed as the special token
    plain = subprocess.run([sys.executable, "-m", "minfer_wasm", "tokenize", "--model", str(smollm2_path),
                            "--no-special"], input=json.dumps(texts[1]) + "\n",
                           capture_output=True, text=True, timeout=120)
    assert im_start not in json.loads(plain.stdout)
