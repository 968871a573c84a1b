"""Chat on the real SmolLM2: KV prefix reuse across turns, interruption, context policy, bad templates."""

import pytest

from minfer_wasm.chat import Chat
from minfer_wasm.chat_template import ChatTemplate
from minfer_wasm.context import common_prefix_len
from minfer_wasm.engine import Engine
from minfer_wasm.errors import ContextOverflowError, TemplateError
from minfer_wasm.sampling import SamplingParams
from minfer_wasm.sources import FileSource

GREEDY = SamplingParams(temperature=0)


@pytest.fixture(scope="module")
def engine(smollm2_path):
    return Engine.load(FileSource(smollm2_path))


def test_second_turn_computes_only_new_tokens(engine):
    chat = Chat(engine)
    answer = "".join(chat.send("Name a colour.", GREEDY, max_tokens=6))
    held = list(chat.context.tokens)
    before = engine.model.positions_evaluated

    "".join(chat.send("And another one?", GREEDY, max_tokens=6))
    prompt2 = engine.encode_chat(chat.messages[:-1])
    reused = common_prefix_len(held, prompt2)
    evaluated = engine.model.positions_evaluated - before

    assert chat.messages[1] == {"role": "assistant", "content": answer}
    assert reused > 0.6 * len(held)                       # the first turn's positions were kept
    assert chat.last_timings.prompt_tokens == len(prompt2) - reused
    assert evaluated == chat.last_timings.prompt_tokens + chat.last_timings.decode_tokens
    assert evaluated < len(prompt2)


def test_close_mid_answer_keeps_the_partial_answer_and_the_chat_usable(engine):
    chat = Chat(engine)
    stream = chat.send("Count from one to twenty.", GREEDY, max_tokens=40)
    first = next(stream)
    stream.close()
    assert chat.last_stop_reason == "interrupted"
    assert chat.messages[-1] == {"role": "assistant", "content": first}
    assert "".join(chat.send("Thanks.", GREEDY, max_tokens=4))
    assert len(chat.context.tokens) == chat.context.cache.n_past


def test_old_turns_are_dropped_when_the_conversation_outgrows_the_context(engine):
    chat = Chat(engine, system_prompt="Be brief.", n_ctx=96)
    for question in ("What is rain?", "What is snow?", "What is hail?", "What is fog?"):
        "".join(chat.send(question, GREEDY, max_tokens=16))
        assert chat.context.cache.n_past <= 96
    assert chat.messages[0] == {"role": "system", "content": "Be brief."}
    assert chat.messages[-2]["content"] == "What is fog?"
    assert all(m["content"] != "What is rain?" for m in chat.messages)


def test_a_failing_template_leaves_the_chat_usable(engine):
    chat = Chat(engine)
    good = engine.template
    engine.template = ChatTemplate("{{ raise_exception('no system role') }}", "test template")
    try:
        with pytest.raises(TemplateError, match="no system role"):
            chat.send("hello", GREEDY, max_tokens=2)
        assert chat.messages == []
    finally:
        engine.template = good
    assert "".join(chat.send("hello", GREEDY, max_tokens=2))


def test_a_turn_that_fails_midway_leaves_the_conversation_as_it_was(engine):
    question = "Write a long poem about the sea."       # greedy: runs past 70 tokens
    prompt = engine.encode_chat([{"role": "user", "content": question}])
    chat = Chat(engine, n_ctx=len(prompt) + 70, context_shift=False)
    with pytest.raises(ContextOverflowError):
        "".join(chat.send(question, GREEDY, max_tokens=200))
    assert chat.messages == []
    assert "".join(chat.send("Hi", GREEDY, max_tokens=2))
