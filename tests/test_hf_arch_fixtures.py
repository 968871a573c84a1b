"""Every architecture's tiny HF checkpoint (tests/fixtures/arch/, scripts/make_arch_fixtures.py)
against the GGUFs llama.cpp's own convert_hf_to_gguf.py made from it, and transformers' logits.

- The checkpoint as the engine reads it, and the file `convert` writes, hold llama.cpp's tensors:
  the same names, shapes, types and bytes, F32 and Q8_0 (gguf-py's quantizer in llama.cpp's
  converter, ours here); and the same metadata, but for the BOS/EOS flags, which we always
  write as the tokenizer.json post-processor says.
- The folder's tokenizer gives transformers' prompt ids; its logits are within 1e-4 of
  transformers' and equal the llama.cpp-converted GGUF's, for every architecture.
"""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader

from minfer_wasm.engine import Engine
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.hf import FolderFiles, HFCheckpoint
from minfer_wasm.native.convert import convert
from minfer_wasm.sources import FileSource

ARCH_DIR = Path(__file__).parent / "fixtures" / "arch"
FIXTURES = sorted(p.name for p in ARCH_DIR.iterdir() if (p / "config.json").is_file())
# keys we write from the post-processor whatever llama.cpp's converter says (or leaves out)
OWN_KEYS = {"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", "tokenizer.ggml.add_sep_token"}


def llama_cpp_file(name: str, qtype: str) -> GGUFFile:
    return GGUFFile.open(FileSource(ARCH_DIR / name / f"{name}.{qtype}.gguf"))


def same_value(a, b) -> bool:
    if isinstance(a, (list, np.ndarray)) or isinstance(b, (list, np.ndarray)):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


@pytest.mark.parametrize("qtype", ["f32", "q8_0"])
@pytest.mark.parametrize("name", FIXTURES)
def test_checkpoint_holds_llama_cpp_tensors_and_metadata(name, qtype):
    theirs = llama_cpp_file(name, qtype)
    ours = HFCheckpoint(FolderFiles(ARCH_DIR / name), qtype)
    assert sorted(ours.tensors) == sorted(theirs.tensors)
    for tname, info in theirs.tensors.items():
        mine = ours.tensors[tname]
        assert (mine.shape, mine.ggml_type) == (info.shape, info.ggml_type), tname
        assert ours.tensor_bytes(tname).tobytes() == bytes(theirs.tensor_bytes(tname)), tname
    keys = {k for k in theirs.metadata.keys() | ours.metadata.keys()
            if not k.startswith("general.") or k in ("general.architecture", "general.file_type")}
    differ = [k for k in sorted(keys - OWN_KEYS)
              if not same_value(theirs.metadata.get(k), ours.metadata.get(k))]
    assert not differ, {k: (theirs.metadata.get(k), ours.metadata.get(k)) for k in differ}
    for key in ("tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"):
        if key in theirs.metadata:
            assert theirs.metadata[key] == ours.metadata[key]


@pytest.mark.parametrize("qtype", ["f32", "q8_0"])
@pytest.mark.parametrize("name", ["llama3", "qwen3", "phi3"])
def test_converted_file_equals_llama_cpp_file(tmp_path, name, qtype):
    out = tmp_path / f"{name}.{qtype}.gguf"
    convert(str(ARCH_DIR / name), out, qtype, log=lambda _: None)
    mine = {t.name: t for t in GGUFReader(out).tensors}
    theirs = {t.name: t for t in GGUFReader(ARCH_DIR / name / f"{name}.{qtype}.gguf").tensors}
    assert sorted(mine) == sorted(theirs)
    for tname, t in theirs.items():
        m = mine[tname]
        assert (list(m.shape), m.tensor_type) == (list(t.shape), t.tensor_type), tname
        assert np.array_equal(np.asarray(m.data).view(np.uint8), np.asarray(t.data).view(np.uint8)), tname


def reference(name: str) -> dict:
    return json.loads((ARCH_DIR / name / "reference.json").read_text())


def all_logits(engine: Engine, ids) -> np.ndarray:
    """A cache of the prompt's length: phi3 picks its LongRoPE factors by n_ctx (llama.cpp),
    transformers by the sequence length; the two agree when they are equal."""
    return engine.model.forward(ids, engine.model.new_cache(len(ids), dtype=np.float32), all_logits=True)


@pytest.mark.parametrize("name", FIXTURES)
def test_folder_logits_match_transformers_and_the_llama_cpp_file(name):
    folder = Engine.load(FolderFiles(ARCH_DIR / name))
    from_llama_cpp = Engine.load(FileSource(ARCH_DIR / name / f"{name}.f32.gguf"))
    for case in reference(name)["cases"]:
        ids = case["prompt_ids"]
        assert folder.tokenizer.encode(case["prompt"]) == ids
        ref = np.frombuffer(base64.b64decode(case["logits_f32_b64"]), "<f4").reshape(len(ids), -1)
        got = all_logits(folder, ids)
        assert np.abs(got - ref).max() < 1e-4          # measured: at most 1.5e-5 (gemma3)
        assert np.array_equal(got, all_logits(from_llama_cpp, ids))
    q8_folder = Engine.load(FolderFiles(ARCH_DIR / name), quantize="q8_0")
    q8_file = Engine.load(FileSource(ARCH_DIR / name / f"{name}.q8_0.gguf"))
    ids = reference(name)["cases"][0]["prompt_ids"]
    assert np.array_equal(all_logits(q8_folder, ids), all_logits(q8_file, ids))


@pytest.mark.parametrize("name", FIXTURES)
def test_llama_cpp_runs_our_converted_file(tmp_path, name):
    """llama.cpp (llama-cpp-python, the `bench` extra) loads the F32 file `convert` writes and
    decodes transformers' greedy continuation, up to its first near-tie (top-2 margin < 0.1)."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python (the `bench` extra) is not installed")
    try:
        llama_cpp.Llama(model_path=str(ARCH_DIR / name / f"{name}.f32.gguf"), n_ctx=128, verbose=False)
    except ValueError:    # measured: gemma3 (pre-tokenizer 'gpt-2') and phi3 (its BPE vocabulary)
        pytest.skip(f"llama.cpp does not load the file its own converter made from the {name} fixture")
    out = tmp_path / f"{name}.f32.gguf"
    convert(str(ARCH_DIR / name), out, "f32", log=lambda _: None)
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=128, logits_all=True, verbose=False)
    for case in reference(name)["cases"]:
        llm.reset()
        llm.eval(case["prompt_ids"])
        margins = np.array(case["margins"])
        n = int(np.argmax(margins < 0.1)) if (margins < 0.1).any() else len(margins)
        assert n > 0
        for token in case["continuation"][:n]:
            assert int(np.argmax(llm.scores[llm.n_tokens - 1])) == token
            llm.eval([token])
