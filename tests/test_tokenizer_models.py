"""The real models' tokenizers against HF `tokenizers` built from the same GGUF vocabulary.

The references (tokenizer_reference.py) follow each model's original tokenizer where it differs
from what transformers' GGUF loader would build:
- SmolLM2: its tokenizer.json splits every digit on its own (Digits(individual_digits=True)
  before ByteLevel); the GGUF loader would give it plain ByteLevel.
- Gemma 3: SentencePiece matches its user-defined runs of spaces whole (40 spaces are 31 + 9),
  where merging "▁▁" pairs, as the GGUF loader's BPE would, gives powers of two.
Ids must be identical on every corpus text, with special-token parsing on and off.
"""

import numpy as np
import pytest
from tokenizers import Tokenizer as HFTokenizer

from minfer_wasm.gguf import GGUFFile
from minfer_wasm.sources import FileSource
from minfer_wasm.tokenizer import Tokenizer
from minfer_wasm.tokenizer.bpe import BYTE_CHARS
from minfer_wasm.tokenizer.vocab import BYTE, CONTROL
from tokenizer_reference import CORPUS, sentencepiece_reference, smollm2_reference


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    md = GGUFFile.open(FileSource(str(smollm2_path))).metadata
    return md, Tokenizer.from_metadata(md), smollm2_reference(md)


@pytest.fixture(scope="module")
def gemma3(gemma3_path):
    md = GGUFFile.open(FileSource(str(gemma3_path))).metadata
    return md, Tokenizer.from_metadata(md), sentencepiece_reference(md, CORPUS)


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
