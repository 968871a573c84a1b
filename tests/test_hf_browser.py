"""The page's Python side loads a Hugging Face checkpoint from the files the user picked
({file name: bytes}), quantized to q8_0 as it loads, and answers as the native engine does."""

import gc
import weakref

from hf_fixtures import train_tokenizer, with_bos, write_llama_checkpoint

from minfer_wasm.browser import Session
from minfer_wasm.context import TokenContext
from minfer_wasm.engine import Engine
from minfer_wasm.generate import generate
from minfer_wasm.hf import FolderFiles
from minfer_wasm.sampling import SamplingParams


class Buffer(bytearray):
    """A bytearray that can be weakly referenced: the test checks the session lets go of it."""


def test_session_loads_picked_files_quantized_and_answers(tmp_path):
    folder = write_llama_checkpoint(tmp_path / "picked", with_bos(train_tokenizer("llama3")), seed=4)
    buffers = {p.name: Buffer(p.read_bytes()) for p in folder.iterdir()}
    total = sum(len(b) for b in buffers.values())
    refs = [weakref.ref(b) for b in buffers.values()]
    progress = []
    session = Session()
    info = session.load_files(buffers, "picked", 128, lambda done, size: progress.append((done, size)),
                              quantize="q8_0")
    assert info["arch"] == "llama" and info["n_ctx"] == 128 and info["kernels"] == "numpy"
    assert session.engine.gguf.tensors["blk.0.attn_q.weight"].ggml_type == 8          # Q8_0
    assert progress and all(size == total for _, size in progress) and progress[-1][0] <= total
    del buffers
    gc.collect()
    assert all(r() is None for r in refs), "the session still holds the picked files' bytes"

    turn = session.chat([{"role": "user", "content": "Hello world"}], {"temperature": 0, "max_tokens": 8, "seed": 1})
    pieces = []
    while (piece := turn.step()) is not None:
        pieces.append(piece)
    native = Engine.load(FolderFiles(folder), quantize="q8_0")
    ids = native.encode_chat([{"role": "user", "content": "Hello world"}])
    steps = generate(TokenContext(native.model, 128), native.tokenizer, ids, SamplingParams(temperature=0),
                     seed=1, max_tokens=8)
    assert "".join(pieces) == "".join(step.text for step in steps)
    assert session.conversation.messages[-1]["content"] == "".join(pieces)
