"""The real models' tokenizers against HF `tokenizers` built from the same GGUF vocabulary.

The reference is each model's original tokenizer rebuilt from what the GGUF stores (tokens,
merges or scores, token types), configured as its original tokenizer.json / sentencepiece model
behaves, which is where it differs from what transformers' GGUF loader would build:

- SmolLM2: the original pre-tokenizer is Sequence[Digits(individual_digits=True),
  ByteLevel(use_regex=True)], so every digit is a piece of its own; transformers' GGUF loader
  gives it plain ByteLevel (and llama.cpp its "smollm" rule, the same as the original).
- Gemma 3: a SentencePiece BPE model. Its merges are the vocabulary's pieces split in two, ranked
  by piece score; the runs of spaces, newlines and tabs are user-defined pieces matched whole
  before merging (leftmost-longest, as sentencepiece's prefix matcher), so a run of 40 spaces is
  31 + 9 spaces, not the powers of two that merging "▁▁" pairs would give.

Ids must be identical on every corpus text, with special-token parsing on and off.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import AddedToken, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from minfer_wasm.gguf import GGUFFile
from minfer_wasm.sources import FileSource
from minfer_wasm.tokenizer import Tokenizer
from minfer_wasm.tokenizer.bpe import BYTE_CHARS
from minfer_wasm.tokenizer.vocab import BYTE, CONTROL, NORMAL, UNKNOWN, USER_DEFINED

CORPUS = [e["text"] for e in json.loads(
    (Path(__file__).parent / "fixtures" / "tokenizer_corpus.json").read_text())["texts"]]
SPACE = "\u2581"


def smollm2_reference(md: dict) -> HFTokenizer:
    tokens, types = md["tokenizer.ggml.tokens"], md["tokenizer.ggml.token_type"]
    merges = [tuple(m.split(" ", 1)) for m in md["tokenizer.ggml.merges"]]
    ref = HFTokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    ref.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    ref.decoder = decoders.ByteLevel()
    ref.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i in np.flatnonzero(types == CONTROL)])
    return ref


def gemma3_reference(md: dict, texts: list[str]) -> HFTokenizer:
    """SentencePiece BPE as HF BPE. Only merges whose result occurs in `texts` are listed: a
    merge can only fire where its result is a substring of the input, so the ids of `texts`
    are the same as with all ~500k merges, which take far longer to build."""
    tokens, types, scores = (md["tokenizer.ggml.tokens"], md["tokenizer.ggml.token_type"],
                             md["tokenizer.ggml.scores"])
    # user-defined whitespace runs are stored as real spaces; sentencepiece matches them as "▁▁.."
    spelled = [SPACE * len(t) if k == USER_DEFINED and t and not t.strip(" ") else t
               for t, k in zip(tokens, types)]
    normal = np.flatnonzero(types == NORMAL)
    pieces = {tokens[i] for i in normal}
    longest = max(map(len, pieces))
    escaped = [t.replace(" ", SPACE) for t in texts]
    substrings = {t[a:b] for t in escaped for a in range(len(t))
                  for b in range(a + 2, min(a + longest, len(t)) + 1)}
    merges = [(tokens[i][:k], tokens[i][k:])
              for i in sorted(normal, key=lambda i: -scores[i]) if tokens[i] in substrings
              for k in range(1, len(tokens[i]))
              if tokens[i][:k] in pieces and tokens[i][k:] in pieces]
    ref = HFTokenizer(models.BPE(vocab={t: i for i, t in enumerate(spelled)}, merges=merges,
                                 unk_token="<unk>", byte_fallback=True))
    ref.normalizer = normalizers.Replace(" ", SPACE)
    ref.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i in np.flatnonzero(np.isin(types, (CONTROL, UNKNOWN)))])
    ref.add_tokens([AddedToken(spelled[i], special=False, normalized=spelled[i].startswith(SPACE))
                    for i in np.flatnonzero(types == USER_DEFINED)])
    return ref


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    md = GGUFFile.open(FileSource(str(smollm2_path))).metadata
    return md, Tokenizer.from_metadata(md), smollm2_reference(md)


@pytest.fixture(scope="module")
def gemma3(gemma3_path):
    md = GGUFFile.open(FileSource(str(gemma3_path))).metadata
    return md, Tokenizer.from_metadata(md), gemma3_reference(md, CORPUS)


def _mismatches(tok: Tokenizer, ref: HFTokenizer, parse_special: bool) -> list[str]:
    ref.encode_special_tokens = not parse_special
    return [text for text in CORPUS
            if tok.encode(text, add_special=False, parse_special=parse_special)
            != ref.encode(text, add_special_tokens=False).ids]


@pytest.mark.parametrize("parse_special", [True, False])
@pytest.mark.parametrize("model", ["smollm2", "gemma3"])
def test_ids_identical_to_reference(model, parse_special, request):
    _, tok, ref = request.getfixturevalue(model)
    assert len(CORPUS) >= 250
    assert _mismatches(tok, ref, parse_special) == []


def test_smollm2_round_trip(smollm2):
    md, tok, _ = smollm2
    vocab = set(md["tokenizer.ggml.tokens"])
    # SmolLM2's vocabulary has no token for 21 byte values (0x04, 0x1d, 0xf5, ...): their bytes
    # are dropped, as llama.cpp and HF do, so only texts without them can come back.
    representable = [t for t in CORPUS if all(BYTE_CHARS[b] in vocab for b in t.encode())]
    assert len(representable) >= len(CORPUS) - 2
    assert [t for t in representable if tok.decode(tok.encode(t, add_special=False)) != t] == []


def test_gemma3_round_trip(gemma3):
    _, tok, _ = gemma3
    assert not tok.vocab.add_space_prefix        # Gemma 3 adds no dummy prefix: exact round trip
    assert [t for t in CORPUS if tok.decode(tok.encode(t)[1:]) != t] == []
    assert [t for t in CORPUS if tok.decode(tok.encode(t, add_special=False, parse_special=False)) != t] == []


def test_decode_matches_reference(smollm2):
    _, tok, ref = smollm2
    ref.encode_special_tokens = False
    ids = [ref.encode(t, add_special_tokens=False).ids for t in CORPUS]
    assert [i for i in ids if tok.decode(i) != ref.decode(i, skip_special_tokens=False)] == []


def test_special_flags_and_eog(smollm2, gemma3):
    md, tok, _ = smollm2
    tokens = md["tokenizer.ggml.tokens"]
    assert (tok.bos_id, tok.eos_id, tok.add_bos, tok.add_eos) == (
        md["tokenizer.ggml.bos_token_id"], md["tokenizer.ggml.eos_token_id"],
        md["tokenizer.ggml.add_bos_token"], False)
    assert tok.encode("hi") == tok.encode("hi", add_special=False)       # add_bos_token is false
    # llama.cpp: <|endoftext|> and <|im_end|> by text, <reponame> as the FIM repo token
    assert {tokens[i] for i in tok.eog_ids} == {"<|endoftext|>", "<|im_end|>", "<reponame>"}

    md, tok, _ = gemma3
    tokens = md["tokenizer.ggml.tokens"]
    assert tok.add_bos and tok.encode("hi")[0] == md["tokenizer.ggml.bos_token_id"]
    assert tok.encode("hi")[1:] == tok.encode("hi", add_special=False)
    # llama.cpp: <eos> (eos id), <end_of_turn> (end of turn), "</s>" (by text; an HTML tag here)
    assert {tokens[i] for i in tok.eog_ids} == {"<eos>", "<end_of_turn>", "</s>"}
    assert tok.vocab_size == len(tokens)
    assert all(tok.is_control(i) for i in np.flatnonzero(md["tokenizer.ggml.token_type"] == CONTROL))
    assert tok.token_bytes(tokens.index("<0x0A>")) == b"\n"
    assert md["tokenizer.ggml.token_type"][tokens.index("<0x0A>")] == BYTE
