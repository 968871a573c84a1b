"""llama.cpp itself (llama-cpp-python, the `bench` extra) on the architecture fixtures' Q8_0 files.

The same GGUF in both engines, the same token sequence (a fixture prompt and the greedy
continuation of the reference, teacher-forced): every step's argmax must agree until llama.cpp's
own top-2 logits come within MARGIN (llama.cpp multiplies Q8_0 weights by activations rounded
to 8 bits: its logits differ from ours by up to 0.2 on these models, measured). Both engines run
the context llama.cpp chose (it rounds n_ctx up to 256), since LongRoPE picks phi3's rope factors
by the context size. The prompts' tokens must also be llama.cpp's own tokenization of their texts.
Skipped, saying so, when llama-cpp-python is not installed.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from minfer_wasm.gguf import GGUFFile
from minfer_wasm.model import Model
from minfer_wasm.sources import FileSource
from minfer_wasm.tokenizer import Tokenizer

llama_cpp = pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (pip install -e '.[bench]')")

ARCH = Path(__file__).parent / "fixtures" / "arch"
FIXTURES = ["llama", "llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma3"]
MARGIN = 0.1
MIN_STEPS = 8     # clear steps compared per case, on average


@pytest.mark.parametrize("name", FIXTURES)
def test_llama_cpp_agrees_on_greedy_tokens(name):
    path = ARCH / name / f"{name}.q8_0.gguf"
    ref = json.loads((ARCH / name / "reference.json").read_text())
    gguf = GGUFFile.open(FileSource(path))
    tokenizer, model = Tokenizer.from_metadata(gguf.metadata), Model.from_gguf(gguf)
    compared = 0
    for case in ref["cases"]:
        prompt = case["prompt_ids"]
        seq = prompt + case["q8_0"]["continuation"]
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=len(seq), n_batch=len(seq), n_threads=1,
                              logits_all=True, verbose=False)
        assert llm.tokenize(case["prompt"].encode(), add_bos=tokenizer.add_bos,
                            special=True) == prompt == tokenizer.encode(case["prompt"])
        llm.eval(seq)
        theirs = np.array(llm.scores[len(prompt) - 1:len(seq) - 1])               # (steps, vocab)
        ours = model.forward(seq, model.new_cache(llm.n_ctx()), all_logits=True)[len(prompt) - 1:-1]
        llm.close()
        top2 = np.sort(theirs, axis=1)[:, -2:]
        hesitant = np.flatnonzero(top2[:, 1] - top2[:, 0] < MARGIN)
        n = int(hesitant[0]) if hesitant.size else len(theirs)
        assert list(theirs[:n].argmax(1)) == list(ours[:n].argmax(1)), f"{name}: greedy tokens differ"
        compared += n
    assert compared >= MIN_STEPS * len(ref["cases"]), f"{name}: only {compared} clear steps compared"
