"""minfer_wasm.browser (the API the worker calls inside Pyodide), run natively on the real model:
the header-first protocol, progress, step-wise generation, stop, and the summary the page shows."""

import numpy as np
import pytest
from gguf import GGUFWriter

from minfer_wasm.browser import Session, inspect
from minfer_wasm.chat import Chat
from minfer_wasm.errors import GGUFError, UnsupportedError
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.native import model_store
from minfer_wasm.sampling import SamplingParams

CHUNK = 4 << 20     # as web/worker.js


@pytest.fixture(scope="module")
def model_bytes():
    return model_store.pull(model_store.DEFAULT_MODEL, log=lambda _: None).read_bytes()


def header_like_the_worker(data: bytes, name: str) -> tuple[dict, int]:
    """Feed `data` chunk by chunk until inspect() has the whole header; (summary, bytes used)."""
    buf = bytearray(len(data))
    have = 0
    while True:
        end = min(len(data), have + CHUNK)
        buf[have:end] = data[have:end]
        have = end
        info = inspect(buf, have, name)
        if "need" not in info:
            return info, have
        assert have < info["need"] <= len(data)


def test_inspect_reads_the_header_first(model_bytes):
    info, used = header_like_the_worker(model_bytes, "m.gguf")
    reference = GGUFFile.open(model_store.open_model(model_store.DEFAULT_MODEL, log=lambda _: None))
    assert info["arch"] == reference.metadata["general.architecture"]
    assert info["data_offset"] == reference.data_offset
    assert info["n_tensors"] == len(reference.tensors)
    assert used < len(model_bytes) // 4


def test_inspect_rejects_other_files_and_architectures(tmp_path):
    with pytest.raises(GGUFError, match="not a GGUF file"):
        inspect(bytearray(b"<!doctype html>" * 10), 150, "page.html")
    path = tmp_path / "bert.gguf"
    writer = GGUFWriter(path, "bert")
    writer.add_tensor("token_embd.weight", np.zeros((4, 32), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    data = path.read_bytes()
    with pytest.raises(UnsupportedError, match="bert"):
        inspect(bytearray(data), len(data), "bert.gguf")


@pytest.fixture(scope="module")
def session(model_bytes):
    session = Session()
    buf = bytearray(model_bytes)
    progress = []
    info = session.load(buf, "m.gguf", None, 512, lambda done, total: progress.append((done, total)))
    session.progress, session.info = progress, info
    return session


def test_load_reports_progress_and_the_model(session, model_bytes):
    done = [d for d, _ in session.progress]
    assert done == sorted(done) and len(done) > 10
    assert {t for _, t in session.progress} == {len(model_bytes)}
    assert done[-1] > 0.95 * len(model_bytes)
    assert session.info["n_ctx"] == 512
    assert session.info["arch"] == session.engine.model.config.arch


def test_context_is_capped_by_the_models_training_context(model_bytes):
    """The page asks for one context length whatever the model; a longer one than the model
    was trained for is cut to that (the CLI's --ctx-size says so as an error instead)."""
    session = Session()
    buf = bytearray(model_bytes)
    info = session.load(buf, "m.gguf", None, 1 << 20, lambda done, total: None)
    n_ctx_train = session.engine.model.config.n_ctx_train
    assert info["n_ctx"] == n_ctx_train < 1 << 20
    assert session.chat.context.cache.k[0].shape[1] == n_ctx_train
    with pytest.raises(UnsupportedError, match=f"{n_ctx_train + 1} positions.*{n_ctx_train}"):
        session.engine.model.new_cache(n_ctx_train + 1)


def test_steps_give_the_native_answer_and_a_summary(session):
    session.reset(None)
    turn = session.start("What is the capital of France?", {"temperature": 0.0}, 8, None)
    pieces = []
    while (piece := turn.step()) is not None:
        pieces.append(piece)
    reference = Chat(session.engine, None, n_ctx=512)
    expected = "".join(reference.send("What is the capital of France?", SamplingParams(temperature=0.0), max_tokens=8))
    assert "".join(pieces) == expected
    summary = turn.summary()
    assert summary["stop_reason"] == reference.last_stop_reason
    assert summary["prompt_tokens_evaluated"] == len(session.engine.encode_chat(reference.messages[:1]))
    assert summary["positions_evaluated"] >= summary["prompt_tokens_evaluated"]
    assert set(summary["timings"]) >= {"ttft_s", "decode_tps", "prompt_tokens"}


def test_close_stops_between_tokens_and_keeps_the_partial_answer(session):
    session.reset(None)
    turn = session.start("Tell me a story.", {"temperature": 0.0, "top_k": 40}, 64, 7)
    first = turn.step()
    turn.close()
    assert turn.summary()["stop_reason"] == "interrupted"
    assert session.chat.messages[-1] == {"role": "assistant", "content": first}
    assert turn.step() is None


def test_kernels_load_and_a_profile_says_where_decoding_went(model_bytes, native_kernels_path, tmp_path):
    """With kernels_path the session runs the compiled kernels (weights: views of the buffer),
    says so, and a profiled turn reports its decoded tokens' seconds: all of the products in
    the kernels (both models' types are covered), a part of each token."""
    session = Session()
    info = session.load(bytearray(model_bytes), "m.gguf", None, 512, lambda done, total: None,
                        str(native_kernels_path))
    assert (info["kernels"], info["kernels_note"]) == ("compiled", "")     # the scalar build
    turn = session.start("Count to ten.", {"temperature": 0.0}, 8, None, True)
    while turn.step() is not None:
        pass
    profile = turn.summary()["profile"]
    assert profile["tokens"] == turn.summary()["timings"]["decode_tokens"] > 0
    assert 0 < profile["kernel_s"] < profile["token_s"] and profile["numpy_matmul_s"] == 0
    missing = Session().load(bytearray(model_bytes), "m.gguf", None, 512, lambda done, total: None,
                             str(tmp_path / "none.so"))
    assert missing["kernels"] == "numpy" and "cannot load the kernels" in missing["kernels_note"]
