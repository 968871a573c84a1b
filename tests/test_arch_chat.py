"""The architectures' tokenizers and chat templates, read from the converted GGUFs, against HF.

Each fixture's tokenizer.json was trained by HF `tokenizers` with its family's pre-tokenizer
(qwen2 for Qwen2.5/Qwen3, llama-bpe for Llama 3, gpt-4o for Phi-4-mini style, smollm, tekken,
gpt2); llama.cpp's converter put its vocabulary and merges in the GGUF. Our tokenizer, built from
the GGUF, must encode the tokenizer corpus as HF does from tokenizer.json (its post-processor's
BOS included). The family's chat template, rendered by our sandbox from the GGUF, must give
transformers' apply_chat_template text and ids (stored by scripts/make_arch_fixtures.py), with
Qwen3's enable_thinking off and unset; the CLI's --no-think is that switch.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer as HFTokenizer

from minfer_wasm.chat import Chat, split_thinking
from minfer_wasm.engine import Engine
from minfer_wasm.sources import FileSource

ARCH = Path(__file__).parent / "fixtures" / "arch"
FIXTURES = ["llama", "llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma3"]
CORPUS = [e["text"] for e in json.loads(
    (Path(__file__).parent / "fixtures" / "tokenizer_corpus.json").read_text())["texts"]]


def engine(name: str) -> Engine:
    return Engine.load(FileSource(ARCH / name / f"{name}.q8_0.gguf"))


def reference(name: str) -> dict:
    return json.loads((ARCH / name / "reference.json").read_text())


@pytest.mark.parametrize("name", FIXTURES)
def test_tokenizer_matches_tokenizer_json(name):
    ours, ref = engine(name).tokenizer, HFTokenizer.from_file(str(ARCH / name / "tokenizer.json"))
    assert [t for t in CORPUS if ours.encode(t) != ref.encode(t).ids] == []
    assert [t for t in CORPUS[:50] if ours.decode(ref.encode(t).ids) != ref.decode(
        ref.encode(t).ids, skip_special_tokens=False)] == []


@pytest.mark.parametrize("name", FIXTURES)
def test_chat_template_matches_transformers(name):
    eng = engine(name)
    for chat in reference(name)["chats"]:
        extra = {} if chat["enable_thinking"] is None else {"enable_thinking": chat["enable_thinking"]}
        assert eng.template.render(chat["messages"], **extra) == chat["text"]
        assert eng.encode_chat(chat["messages"], **extra) == chat["ids"]


def test_qwen3_thinking_switch():
    """enable_thinking=False pre-fills an empty think block; earlier answers lose theirs."""
    chats = reference("qwen3")["chats"]
    unset, off = chats[2]["text"], chats[3]["text"]
    assert off == unset + "<think>\n\n</think>\n\n"
    assert "Easy." not in unset and "Red." in unset


def test_chat_passes_enable_thinking():
    eng = engine("qwen3")
    chat = Chat(eng, enable_thinking=False)
    chat.messages.append({"role": "user", "content": "What is the capital of France?"})
    ids, _ = chat._fit_prompt(8)
    assert ids == reference("qwen3")["chats"][1]["ids"]


def test_split_thinking():
    assert split_thinking("<think>\nEasy.\n</think>\n\nRed.") == ("Easy.", "Red.")
    assert split_thinking("<think>\nstill going") == ("still going", "")    # streaming
    assert split_thinking("Red.") == (None, "Red.")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minfer_wasm", *args], capture_output=True,
                          text=True, timeout=300)


def test_generate_no_think():
    model = str(ARCH / "qwen3" / "qwen3.q8_0.gguf")
    chats = reference("qwen3")["chats"]
    prompt = chats[0]["messages"][0]["content"]
    for flags, expected in (([], chats[0]["ids"]), (["--no-think"], chats[1]["ids"])):
        result = run_cli("generate", "--model", model, "--chat", "--prompt", prompt, "-n", "2",
                         "-t", "0", "--json", *flags)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.splitlines()[-1])["prompt_ids"] == expected


def test_no_think_needs_chat():
    result = run_cli("generate", "--model", str(ARCH / "qwen3" / "qwen3.q8_0.gguf"),
                     "--prompt", "hi", "--no-think")
    assert result.returncode != 0 and "--no-think goes with --chat" in result.stderr
