"""minfer_wasm.browser (the API the worker calls inside Pyodide), run natively on the real model:
the header-first protocol, progress, whole-conversation chat with prefix reuse, completion,
step-wise generation, stop, the summary the page shows, and typed errors."""

import numpy as np
import pytest
from gguf import GGUFWriter

from minfer_wasm.browser import InternalError, OutOfMemoryError, Session, _sampling_metadata, _typed, inspect
from minfer_wasm.chat import Chat
from minfer_wasm.context import TokenContext, common_prefix_len
from minfer_wasm.errors import GGUFError, MinferError, UnsupportedError
from minfer_wasm.generate import generate
from minfer_wasm.page_requests import RequestError
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
    info = session.load(buf, "m.gguf", 512, lambda done, total: progress.append((done, total)))
    session.progress, session.info = progress, info
    return session


def test_load_reports_progress_and_the_model(session, model_bytes):
    done = [d for d, _ in session.progress]
    assert done == sorted(done) and len(done) > 10
    assert {t for _, t in session.progress} == {len(model_bytes)}
    assert done[-1] > 0.95 * len(model_bytes)
    assert session.info["n_ctx"] == 512
    assert session.info["arch"] == session.engine.model.config.arch


def test_load_warms_the_model_up_and_leaves_its_context_empty(model_bytes):
    session = Session()
    session.load(bytearray(model_bytes), "m.gguf", 512, lambda done, total: None)
    context = session.conversation.context
    assert session.engine.model.positions_evaluated == 2          # BOS and EOS ran once
    assert context.tokens == [] and context.cache.n_past == 0


def test_context_is_capped_by_the_models_training_context(model_bytes):
    """The page asks for one context length whatever the model; a longer one than the model
    was trained for is cut to that (the CLI's --ctx-size says so as an error instead)."""
    session = Session()
    buf = bytearray(model_bytes)
    info = session.load(buf, "m.gguf", 1 << 20, lambda done, total: None)
    n_ctx_train = session.engine.model.config.n_ctx_train
    assert info["n_ctx"] == n_ctx_train < 1 << 20
    assert session.conversation.context.cache.k[0].shape[1] == n_ctx_train
    with pytest.raises(UnsupportedError, match=f"{n_ctx_train + 1} positions.*{n_ctx_train}"):
        session.engine.model.new_cache(n_ctx_train + 1)


def run(turn) -> str:
    pieces = []
    while (piece := turn.step()) is not None:
        pieces.append(piece)
    return "".join(pieces)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_steps_give_the_native_answer_and_a_summary(session):
    session.conversation.context.reset()
    turn = session.chat(user("What is the capital of France?"), {"temperature": 0.0, "max_tokens": 8})
    answer = run(turn)
    reference = Chat(session.engine, None, n_ctx=512)
    expected = "".join(reference.send("What is the capital of France?", SamplingParams(temperature=0.0), max_tokens=8))
    assert answer == expected
    summary = turn.summary()
    assert summary["stop_reason"] == reference.last_stop_reason
    assert summary["prompt_tokens_evaluated"] == len(session.engine.encode_chat(reference.messages[:1]))
    assert summary["positions_evaluated"] >= summary["prompt_tokens_evaluated"]
    assert set(summary["timings"]) >= {"ttft_s", "decode_tps", "prompt_tokens"}


def test_close_stops_between_tokens_and_keeps_the_partial_answer(session):
    turn = session.chat(user("Tell me a story."), {"temperature": 0.0, "top_k": 40, "max_tokens": 64, "seed": 7})
    first = turn.step()
    turn.close()
    assert turn.summary()["stop_reason"] == "interrupted"
    assert session.conversation.messages[-1] == {"role": "assistant", "content": first}
    assert turn.step() is None


def test_a_whole_conversation_reuses_the_cached_prefix(session):
    """Each chat request carries the whole conversation: the continuation evaluates only what
    follows the cached prefix, and answers as the native multi-turn Chat does; a regenerated
    last turn or an edited conversation evaluates what follows the first token that differs."""
    session.conversation.context.reset()
    greedy = {"temperature": 0.0, "max_tokens": 8}
    reference = Chat(session.engine, None, n_ctx=512)
    messages = user("Name a fruit.")
    first = run(session.chat(messages, greedy))
    assert first == "".join(reference.send("Name a fruit.", SamplingParams(temperature=0.0), max_tokens=8))
    messages += [{"role": "assistant", "content": first}] + user("Name a vegetable.")
    turn = session.chat(messages, greedy)
    second = run(turn)
    assert second == "".join(reference.send("Name a vegetable.", SamplingParams(temperature=0.0), max_tokens=8))
    whole = len(session.engine.encode_chat(messages))
    assert turn.summary()["prompt_tokens_evaluated"] == reference.last_timings.prompt_tokens
    assert 0 < turn.summary()["prompt_tokens_evaluated"] < whole // 2

    def after_the_shared_prefix(messages) -> int:
        ids = session.engine.encode_chat(messages)
        return len(ids) - min(common_prefix_len(session.conversation.context.tokens, ids), len(ids) - 1)

    assert after_the_shared_prefix(messages) == 1          # the last prompt token gives the logits
    regenerated = session.chat(messages, greedy)
    assert run(regenerated) == second
    assert regenerated.summary()["prompt_tokens_evaluated"] == 1
    edited = [{"role": "system", "content": "Be brief."}] + messages
    expected = after_the_shared_prefix(edited)
    turn = session.chat(edited, greedy)
    run(turn)
    assert turn.summary()["prompt_tokens_evaluated"] == expected > whole // 2


def test_complete_continues_text_as_the_cli_generate_does(session):
    prompt = "The capital of France is"
    turn = session.complete(prompt, {"temperature": 0.0, "max_tokens": 8, "stop": ["\n\n"]})
    text = run(turn)
    ids = session.engine.tokenizer.encode(prompt)
    generation = generate(TokenContext(session.engine.model, 512), session.engine.tokenizer, ids,
                          SamplingParams(temperature=0.0), max_tokens=8, stop_strings=["\n\n"])
    assert text == "".join(step.text for step in generation)
    assert turn.summary()["stop_reason"] == generation.stop_reason


@pytest.mark.parametrize("messages, options, error, match", [
    ([], {}, RequestError, "non-empty list"),
    ([{"role": "robot", "content": "hi"}], {}, RequestError, "role must be one of"),
    ([{"role": "user", "content": 3}], {}, RequestError, "content must be a string"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], {}, RequestError, "last message"),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}] + user("c"), {}, RequestError, "first"),
    (user("hi"), {"temprature": 0.5}, RequestError, "unknown option 'temprature'"),
    (user("hi"), {"top_k": 1.5}, RequestError, "top_k must be an integer"),
    (user("hi"), {"max_tokens": -1}, RequestError, "max_tokens must be >= 0"),
    (user("hi"), {"stop": [1]}, RequestError, "stop must be a string or a list"),
    (user("hi"), {"temperature": "hot"}, RequestError, "temperature must be a number"),
    (user("hi"), {"top_p": 2}, MinferError, "top_p"),
])
def test_bad_requests_are_typed_errors_and_the_session_goes_on(session, messages, options, error, match):
    with pytest.raises(error, match=match):
        session.chat(messages, options)
    assert run(session.chat(user("Say hi."), {"temperature": 0.0, "max_tokens": 2}))


def test_any_integer_is_a_seed(session):
    answers = {run(session.chat(user("Pick a word."), {"seed": seed, "max_tokens": 4}))
               for seed in (7, 7 + 2**32, 7 - 2**64)}
    assert len(answers) == 1        # seeds are taken modulo 2**32, as llama.cpp's uint32 seed


def test_other_exceptions_become_engine_errors():
    def fails(exc):
        raise exc

    with pytest.raises(OutOfMemoryError, match="out of memory"):
        _typed(fails)(MemoryError())
    with pytest.raises(InternalError, match=r"internal error \(OverflowError: too big"):
        _typed(fails)(OverflowError("too big"))
    long = "x" * 10_000
    with pytest.raises(InternalError) as caught:
        _typed(fails)(ValueError(long))
    assert len(str(caught.value)) < 300


def test_a_failed_load_keeps_the_loaded_model(session, model_bytes):
    engine = session.engine
    broken = bytearray(model_bytes[: len(model_bytes) // 2])
    with pytest.raises(MinferError):
        session.load(broken, "half.gguf", 512, lambda done, total: None)
    assert session.engine is engine
    assert run(session.chat(user("Say hi."), {"temperature": 0.0, "max_tokens": 2}))


def test_sampling_defaults_come_from_the_gguf_when_valid():
    metadata = {"general.sampling.temp": np.float32(0.25), "general.sampling.top_k": np.int32(20),
                "general.sampling.top_p": 7.0, "general.sampling.min_p": float("nan")}
    assert _sampling_metadata(metadata) == {"temperature": 0.25, "top_k": 20}
    assert _sampling_metadata({}) == {}


def test_kernels_load_and_a_profile_says_where_decoding_went(model_bytes, native_kernels_path, tmp_path):
    """With kernels_path the session runs the compiled kernels (weights: views of the buffer),
    says so, and a profiled turn reports its decoded tokens' seconds: all of the products in
    the kernels (both models' types are covered), a part of each token."""
    session = Session()
    info = session.load(bytearray(model_bytes), "m.gguf", 512, lambda done, total: None,
                        str(native_kernels_path))
    assert (info["kernels"], info["kernels_note"]) == ("compiled", "")     # the scalar build
    turn = session.chat(user("Count to ten."), {"temperature": 0.0, "max_tokens": 8, "profile": True})
    while turn.step() is not None:
        pass
    profile = turn.summary()["profile"]
    assert profile["tokens"] == turn.summary()["timings"]["decode_tokens"] > 0
    assert 0 < profile["kernel_s"] < profile["token_s"] and profile["numpy_matmul_s"] == 0
    missing = Session().load(bytearray(model_bytes), "m.gguf", 512, lambda done, total: None,
                             str(tmp_path / "none.so"))
    assert missing["kernels"] == "numpy" and "cannot load the kernels" in missing["kernels_note"]
