"""Tokenizer behaviour on tiny hand-made vocabularies: StreamDecoder, special-token parsing,
BOS/EOS, end-of-generation ids, and the errors a bad or unsupported file gives."""

import random
from itertools import accumulate

import numpy as np
import pytest

from minfer_wasm.errors import GGUFError, MinferError, UnsupportedError
from minfer_wasm.tokenizer import StreamDecoder, Tokenizer
from minfer_wasm.tokenizer.bpe import BYTE_CHARS
from minfer_wasm.tokenizer.special import SpecialMatcher
from minfer_wasm.tokenizer.vocab import BYTE, CONTROL, NORMAL, UNKNOWN, USER_DEFINED
from tokenizer_reference import CORPUS

CONTROLS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def byte_vocab(**extra) -> dict:
    """Byte-level BPE metadata: the 256 byte tokens, a few merges, three control tokens and a
    user-defined one. One token per byte unless a merge applies."""
    tokens = CONTROLS + BYTE_CHARS + ["he", "ll", "hell", "hello", "<think>"]
    types = [CONTROL] * 3 + [NORMAL] * (256 + 4) + [USER_DEFINED]
    md = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt2",
          "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": np.array(types, np.int32),
          "tokenizer.ggml.merges": ["h e", "l l", "he ll", "hell o"],
          "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 0}
    md.update({f"tokenizer.ggml.{k}": v for k, v in extra.items()})
    return md


def spm_vocab(**extra) -> dict:
    """SentencePiece metadata with byte-fallback tokens and almost no pieces."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["▁", "a", "b", "▁a"]
    types = [UNKNOWN, CONTROL, CONTROL] + [BYTE] * 256 + [NORMAL] * 4
    md = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens,
          "tokenizer.ggml.token_type": np.array(types, np.int32),
          "tokenizer.ggml.scores": np.arange(len(tokens), dtype=np.float32) * -1,
          "tokenizer.ggml.add_space_prefix": False}
    md.update({f"tokenizer.ggml.{k}": v for k, v in extra.items()})
    return md


def _pushed(tok: Tokenizer, ids) -> list[str]:
    decoder = StreamDecoder(tok)
    return [decoder.push(i) for i in ids]


@pytest.mark.parametrize("vocab", [byte_vocab, spm_vocab])
def test_stream_decoder_never_emits_half_a_character(vocab):
    tok = Tokenizer.from_metadata(vocab())
    for text in CORPUS:
        ids = tok.encode(text, add_special=False, parse_special=False)
        pieces = _pushed(tok, ids)
        assert "".join(pieces) == tok.decode(ids) == text
        # after each token: exactly the complete characters of the bytes so far
        raw = b""
        for i, text_so_far in zip(ids, accumulate(pieces)):
            raw += tok.token_bytes(i)
            assert text_so_far == raw.decode("utf-8", "ignore"), text


def test_stream_decoder_byte_fallback_and_control_tokens():
    tok = Tokenizer.from_metadata(spm_vocab())
    euro = [tok.vocab.tokens.index(f"<0x{b:02X}>") for b in "€".encode()]   # 3 byte tokens
    assert _pushed(tok, euro) == ["", "", "€"]
    assert _pushed(tok, [tok.bos_id, euro[0], tok.eos_id, euro[1], euro[2]]) == ["", "", "", "", "€"]
    # an unfinished character is never released; a stray byte comes out as U+FFFD at once
    assert _pushed(tok, euro[:2]) == ["", ""]
    ff = tok.vocab.tokens.index("<0xFF>")
    assert _pushed(tok, [ff, euro[0], euro[1], euro[2]]) == ["\ufffd", "", "", "€"]
    assert _pushed(tok, [euro[0], ff]) == ["", "\ufffd\ufffd"]


def test_parse_special_on_and_off():
    tok = Tokenizer.from_metadata(byte_vocab())
    im_end, think = 2, len(tok.vocab.tokens) - 1
    text = "hello<|im_end|>x<think>y"
    on = tok.encode(text, add_special=False)
    off = tok.encode(text, add_special=False, parse_special=False)
    assert on == tok.encode("hello", False) + [im_end] + tok.encode("x", False) + [think] + tok.encode("y", False)
    assert im_end not in off and think in off          # user-defined tokens are always matched
    assert tok.decode(on) == tok.decode(off) == text
    assert tok.decode(on, skip_special=True) == "hellox<think>y"
    assert tok.token_bytes(im_end) == b"" and tok.is_control(im_end) and not tok.is_control(think)


def test_bos_eos_follow_the_file():
    for add_bos in (False, True):
        for add_eos in (False, True):
            tok = Tokenizer.from_metadata(byte_vocab(add_bos_token=add_bos, add_eos_token=add_eos))
            body = tok.encode("hello", add_special=False)
            assert tok.encode("hello") == [1] * add_bos + body + [0] * add_eos
    # llama.cpp's default when the file does not say: BOS for Llama 3 vocabularies, not GPT-2
    assert Tokenizer.from_metadata(byte_vocab(pre="llama-bpe")).add_bos
    assert not Tokenizer.from_metadata(byte_vocab(pre="gpt2")).add_bos
    spm = Tokenizer.from_metadata(spm_vocab())             # SentencePiece: BOS unless told not to
    assert spm.add_bos and not spm.add_eos and spm.encode("a")[0] == spm.bos_id == 1
    assert not Tokenizer.from_metadata(spm_vocab(add_bos_token=False)).add_bos
    with pytest.raises(GGUFError, match="add_eos_token"):
        Tokenizer.from_metadata({**byte_vocab(add_eos_token=True), "tokenizer.ggml.eos_token_id": None})


def test_eog_ids_as_llama_cpp_collects_them():
    tokens = ["<s>", "</s>", "<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|eom_id|>",
              "<|fim_pad|>", "<|file_sep|>", "<|start|>", "hello", "<|end|>"]
    md = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens,
          "tokenizer.ggml.eos_token_id": 9}
    tok = Tokenizer.from_metadata(md)
    assert tok.eog_ids == {9, 1, 2, 3, 4, 5, 6, 7, 10}   # all but <s> and <|start|>
    # gpt-oss: with <|return|> and <|call|>, "<|end|>" only ends a message
    tok = Tokenizer.from_metadata({**md, "tokenizer.ggml.tokens": tokens + ["<|return|>", "<|call|>"]})
    assert 10 not in tok.eog_ids and {11, 12} <= tok.eog_ids


def test_unsupported_and_malformed_files():
    with pytest.raises(UnsupportedError, match="'bert'"):
        Tokenizer.from_metadata({**byte_vocab(), "tokenizer.ggml.model": "bert"})
    with pytest.raises(UnsupportedError, match="'weird-pre'"):
        Tokenizer.from_metadata(byte_vocab(pre="weird-pre"))
    with pytest.raises(GGUFError, match="merges"):
        Tokenizer.from_metadata({**byte_vocab(), "tokenizer.ggml.merges": None})
    with pytest.raises(GGUFError, match="token_type"):
        Tokenizer.from_metadata(byte_vocab(token_type=np.ones(3, np.int32)))
    with pytest.raises(GGUFError, match="tokens"):
        Tokenizer.from_metadata({"tokenizer.ggml.model": "llama"})
    tok = Tokenizer.from_metadata(byte_vocab())
    for bad in (-1, tok.vocab_size):
        with pytest.raises(MinferError, match=f"token id {bad} is outside"):
            tok.decode([5, bad])


def _leftmost_longest(text: str, texts: dict[str, int]) -> list:
    """Brute force: at each position try every token, longest first."""
    out, plain, i = [], "", 0
    while i < len(text):
        hit = max((t for t in texts if text.startswith(t, i)), key=len, default=None)
        if hit is None:
            plain += text[i]
            i += 1
            continue
        out += [plain] if plain else []
        out.append(texts[hit])
        plain, i = "", i + len(hit)
    return out + ([plain] if plain else [])


def test_special_matcher_is_leftmost_longest():
    rng = random.Random(3)
    texts = {"ab": 1, "abc": 2, "bcd": 3, "b": 4, "  ": 5, "   ": 6, "<x>": 7, "<x><": 8}
    matcher = SpecialMatcher(texts)
    for _ in range(2000):
        text = "".join(rng.choice("abcd <x>") for _ in range(rng.randint(0, 20)))
        assert matcher.split(text) == _leftmost_longest(text, texts), text
