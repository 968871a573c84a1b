"""Small synthetic vocabularies against HF tokenizers, for what the two real models do not cover:
every byte-level split rule (Llama 3, Qwen2, GPT-4o, ...), ignore_merges, SentencePiece with
add_space_prefix, pieces with "▁" inside, and a vocabulary without byte-fallback tokens."""

import json
import random

import numpy as np
import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers, trainers

from minfer_wasm.tokenizer import Tokenizer
from minfer_wasm.tokenizer.pretokenize import _RULES
from minfer_wasm.tokenizer.vocab import BYTE, CONTROL, NORMAL, UNKNOWN, USER_DEFINED
from tokenizer_reference import CORPUS, byte_level_reference, sentencepiece_reference

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@pytest.fixture(scope="module")
def trained_byte_level() -> dict:
    """Metadata of a 1,000-token byte-level BPE trained by HF on the corpus, plus a user-defined
    token: the merges and ranks are HF's, not ours."""
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=1000, special_tokens=SPECIAL, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    model = json.loads(hf.to_str())["model"]
    tokens = sorted(model["vocab"], key=model["vocab"].get) + ["<think>"]
    types = [CONTROL if t in SPECIAL else NORMAL for t in tokens[:-1]] + [USER_DEFINED]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": np.array(types, np.int32), "tokenizer.ggml.merges": merges,
            "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 0}


@pytest.mark.parametrize("pre", sorted(_RULES))
def test_byte_level_rules_match_reference(trained_byte_level, pre):
    md = {**trained_byte_level, "tokenizer.ggml.pre": pre}
    tok, rule = Tokenizer.from_metadata(md), _RULES[pre]
    ref = byte_level_reference(md, rule.patterns, rule.ignore_merges, rule.normalize)
    texts = CORPUS + [t + "<think>x<think>" for t in CORPUS[:20]]
    for parse_special in (True, False):
        ref.encode_special_tokens = not parse_special
        assert [t for t in texts if tok.encode(t, add_special=False, parse_special=parse_special)
                != ref.encode(t, add_special_tokens=False).ids] == []


def spm_metadata(add_space_prefix: bool, byte_fallback: bool = True) -> dict:
    """A SentencePiece vocabulary: every substring of some seed words as a piece with a random
    score, byte tokens, control and user-defined tokens. Seeds with "▁" inside (">▁<", "▁▁")
    make pieces a merge can form across the point before a "▁"."""
    rng = random.Random(7)
    seeds = ["▁" + w for w in "the quick brown fox jumps over lazy dog hello world tokens piece "
             "merge score space and of to in is it that with".split()]
    seeds += ["ing", "tion", "▁▁▁▁", ">▁<", "a▁b", ".▁", "▁(", "日本語", "é"]
    pieces = sorted({s[a:b] for s in seeds for a in range(len(s)) for b in range(a + 1, len(s) + 1)})
    scores = rng.sample(range(-5000, 0), len(pieces))
    tokens = ["<unk>", "<s>", "</s>"]
    tokens += [f"<0x{b:02X}>" for b in range(256)] if byte_fallback else []
    types = [UNKNOWN, CONTROL, CONTROL] + [BYTE] * (len(tokens) - 3)
    tokens += pieces + ["<|im_end|>", "<think>"]
    types += [NORMAL] * len(pieces) + [CONTROL, USER_DEFINED]
    all_scores = [0.0] * (len(tokens) - len(pieces) - 2) + scores + [0.0, 0.0]
    return {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": np.array(types, np.int32),
            "tokenizer.ggml.scores": np.array(all_scores, np.float32),
            "tokenizer.ggml.add_space_prefix": add_space_prefix, "tokenizer.ggml.unknown_token_id": 0,
            "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2}


@pytest.mark.parametrize("byte_fallback", [True, False])
def test_sentencepiece_matches_reference(byte_fallback):
    md = spm_metadata(add_space_prefix=False, byte_fallback=byte_fallback)
    tok = Tokenizer.from_metadata(md)
    ref = sentencepiece_reference(md, CORPUS)
    for parse_special in (True, False):
        ref.encode_special_tokens = not parse_special
        assert [t for t in CORPUS if tok.encode(t, add_special=False, parse_special=parse_special)
                != ref.encode(t, add_special_tokens=False).ids] == []
    if byte_fallback:
        assert [t for t in CORPUS if tok.decode(tok.encode(t, add_special=False)) != t] == []


def test_sentencepiece_space_prefix():
    md = spm_metadata(add_space_prefix=True)
    tok = Tokenizer.from_metadata(md)
    # HF prepends "▁" after every special token too; compare on texts without any
    plain = [t for t in CORPUS if tok.encode(t, add_special=False) == tok.encode(t, False, False)]
    assert len(plain) > 200
    ref = sentencepiece_reference(md, plain, add_prefix=True)
    assert [t for t in plain if tok.encode(t, add_special=False)
            != ref.encode(t, add_special_tokens=False).ids] == []
    # The prefix comes off again in decode (first token after BOS), so text round-trips.
    assert tok.add_bos and tok.encode("hi")[0] == tok.bos_id
    assert [t for t in plain if tok.decode(tok.encode(t), skip_special=True) != t] == []
    assert [t for t in CORPUS if tok.decode(tok.encode(t, add_special=False)) != t] == []
