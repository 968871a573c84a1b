"""Text release: a possible stop string is held back, and an unfinished character never comes out."""

import numpy as np

from minfer_wasm.context import TokenContext
from minfer_wasm.generate import _split_held_back, generate
from minfer_wasm.sampling import SamplingParams
from minfer_wasm.tokenizer import Tokenizer
from test_tokenizer_units import spm_vocab


def test_nothing_held_without_stop_strings():
    assert _split_held_back("hello", []) == ("hello", "")


def test_partial_stop_string_is_held():
    assert _split_held_back("answer: 42\nUs", ["\nUser:"]) == ("answer: 42", "\nUs")


def test_longest_partial_match_across_stop_strings():
    assert _split_held_back("x <|e", ["<|end|>", "<|"]) == ("x ", "<|e")


def test_text_that_cannot_start_a_stop_string_is_released():
    assert _split_held_back("abc", ["xyz"]) == ("abc", "")


class _Positions:
    """The part of a KV cache TokenContext uses: how many positions are filled."""

    def __init__(self, n_ctx: int):
        self.n_ctx, self.n_past = n_ctx, 0

    def truncate(self, n: int) -> int:
        self.n_past = min(n, self.n_past)
        return self.n_past


class _ScriptedModel:
    """A model whose greedy continuation of an n_prompt-token prompt is `script`, then EOS."""

    def __init__(self, n_vocab: int, script: list[int], n_prompt: int, eos: int):
        self.n_vocab, self.script, self.n_prompt, self.eos = n_vocab, script, n_prompt, eos

    def new_cache(self, n_ctx):
        return _Positions(n_ctx or 64)

    def forward(self, ids, cache, all_logits=False):
        cache.n_past += len(ids)
        i = cache.n_past - self.n_prompt
        logits = np.zeros(self.n_vocab, np.float32)                 # (vocab,)
        logits[self.script[i] if i < len(self.script) else self.eos] = 1.0
        return logits


def test_an_answer_cut_mid_character_ends_with_the_characters_completed():
    """max_tokens (or a stop) between the bytes of one character: the streamed text holds the
    complete characters only, never a trailing U+FFFD (issue 10, defect 8)."""
    tok = Tokenizer.from_metadata(spm_vocab(eos_token_id=2))
    byte = {b: tok.vocab.tokens.index(f"<0x{b:02X}>") for b in range(256)}
    text = "a€b😀"
    script = [byte[b] for b in text.encode()]                       # one token per byte
    model = _ScriptedModel(len(tok.vocab.tokens), script, n_prompt=1, eos=tok.eos_id)
    for max_tokens in range(1, len(script) + 2):
        generation = generate(TokenContext(model), tok, [tok.bos_id], SamplingParams(temperature=0.0),
                              max_tokens=max_tokens)
        streamed = "".join(step.text for step in generation)
        assert streamed == text.encode()[:max_tokens].decode("utf-8", "ignore"), max_tokens
        assert "\ufffd" not in streamed
        assert generation.stop_reason == ("length" if max_tokens <= len(script) else "eog")
