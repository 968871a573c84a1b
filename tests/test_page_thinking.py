"""The page's chat option enable_thinking reaches the chat template: the page's Session, loaded
from the Qwen3 fixture's checkpoint files, prompts with transformers' apply_chat_template ids
for the switch off and unset (reference.json, from scripts/make_arch_fixtures.py), request by
request; page_requests refuses a value that is not a boolean."""

import json
from pathlib import Path

import pytest

from minfer_wasm.browser import Session
from minfer_wasm.page_requests import RequestError, parse_options

QWEN3 = Path(__file__).parent / "fixtures" / "arch" / "qwen3"
FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors")
CHATS = json.loads((QWEN3 / "reference.json").read_text())["chats"]


@pytest.fixture(scope="module")
def session():
    session = Session()
    session.load_files({name: bytearray((QWEN3 / name).read_bytes()) for name in FILES}, "qwen3", 256,
                       lambda done, total: None, quantize="q8_0")
    return session


def prompt_of(session, chat: dict) -> list[int]:
    """The prompt ids the session evaluated for `chat` (transformers' messages and switch)."""
    options = {"temperature": 0, "max_tokens": 2}
    if chat["enable_thinking"] is not None:
        options["enable_thinking"] = chat["enable_thinking"]
    session.conversation.context.reset()        # nothing cached: the whole prompt is evaluated
    turn = session.chat(chat["messages"], options)
    while turn.step() is not None:
        pass
    n_prompt = turn.summary()["prompt_tokens_evaluated"]
    return [int(t) for t in session.conversation.context.tokens[:n_prompt]]


def test_enable_thinking_reaches_the_template_per_request(session):
    # off, unset, off, unset: each request's switch, not the one before it
    for chat in (CHATS[1], CHATS[0], CHATS[3], CHATS[2]):
        assert prompt_of(session, chat) == chat["ids"], chat["enable_thinking"]
    assert CHATS[1]["ids"] != CHATS[0]["ids"]


@pytest.mark.parametrize("value", ["false", 0, 1, [True]])
def test_enable_thinking_must_be_a_boolean(value):
    with pytest.raises(RequestError, match="enable_thinking must be true or false"):
        parse_options({"enable_thinking": value})


def test_enable_thinking_is_a_chat_option(session):
    with pytest.raises(RequestError, match="enable_thinking goes with chat"):
        session.complete("Hello", {"enable_thinking": False})


def test_enable_thinking_absent_or_null_is_not_passed():
    assert parse_options({}).enable_thinking is None
    assert parse_options({"enable_thinking": None}).enable_thinking is None
    assert parse_options({"enable_thinking": False}).enable_thinking is False
