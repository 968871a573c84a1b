"""A Hugging Face llama checkpoint folder loaded directly and converted to GGUF.

The references: a numpy forward pass written from HF's LlamaForCausalLM (rotate_half rope on the
checkpoint's own q/k layout, so the converter's row permutation is checked, not assumed),
gguf-py's GGUFReader and quantizer for the converted files, and the converted file loaded by the
engine, which must give the folder's logits exactly.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import quantize as gguf_quantize
from hf_fixtures import (SPECIALS, TEMPLATE, llama_weights, safetensors_bytes, train_tokenizer, with_bos,
                         write_llama_checkpoint)
from test_sources import LocalServer

from minfer_wasm.engine import Engine
from minfer_wasm.errors import CheckpointError, UnsupportedError
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.hf import FolderFiles, HFCheckpoint
from minfer_wasm.native.convert import convert
from minfer_wasm.native.model_store import open_model
from minfer_wasm.sources import FileSource

PROMPT = "Hello world, the quick brown fox."


@pytest.fixture(scope="module")
def tokenizer():
    return with_bos(train_tokenizer("llama3"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tokenizer):
    return write_llama_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny-llama", tokenizer, seed=5)


def hf_reference_logits(w: dict, ids: list[int], n_head=4, n_head_kv=2, eps=1e-5, theta=1e4) -> np.ndarray:
    """transformers' LlamaForCausalLM forward in float64 numpy, on HF-layout weights."""
    f = {k: v.astype(np.float64) for k, v in w.items()}
    x = f["model.embed_tokens.weight"][ids]                               # (n, d)
    n, d = x.shape
    hd = d // n_head
    inv_freq = 1.0 / theta ** (np.arange(0, hd, 2) / hd)                  # (hd/2,)
    ang = np.arange(n)[:, None] * inv_freq[None]                          # (n, hd/2)
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))

    def norm(v, g):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * g

    def rope(v):                                                          # (n, h, hd), rotate_half
        half = np.concatenate([-v[..., hd // 2:], v[..., :hd // 2]], -1)
        return v * cos[:, None] + half * sin[:, None]
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(sum(k.endswith("input_layernorm.weight") for k in f)):
        p = f"model.layers.{i}."
        h = norm(x, f[p + "input_layernorm.weight"])
        q = rope((h @ f[p + "self_attn.q_proj.weight"].T).reshape(n, n_head, hd))
        k = rope((h @ f[p + "self_attn.k_proj.weight"].T).reshape(n, n_head_kv, hd))
        v = (h @ f[p + "self_attn.v_proj.weight"].T).reshape(n, n_head_kv, hd)
        k, v = np.repeat(k, n_head // n_head_kv, 1), np.repeat(v, n_head // n_head_kv, 1)
        s = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + mask
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        x = x + np.einsum("hqk,khd->qhd", a, v).reshape(n, d) @ f[p + "self_attn.o_proj.weight"].T
        h = norm(x, f[p + "post_attention_layernorm.weight"])
        g = h @ f[p + "mlp.gate_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * (h @ f[p + "mlp.up_proj.weight"].T)) @ f[p + "mlp.down_proj.weight"].T
    head = f.get("lm_head.weight", f["model.embed_tokens.weight"])
    return norm(x, f["model.norm.weight"]) @ head.T


def engine_logits(engine: Engine, ids) -> np.ndarray:
    return engine.model.forward(ids, engine.model.new_cache(dtype=np.float32), all_logits=True)


@pytest.mark.parametrize("variant", ["f32", "bf16-sharded-tied", "f16"])
def test_folder_logits_match_the_hf_forward(tmp_path, tokenizer, variant):
    dtype = {"f32": "F32", "bf16-sharded-tied": "BF16", "f16": "F16"}[variant]
    tied = variant == "bf16-sharded-tied"
    folder = write_llama_checkpoint(tmp_path / variant, tokenizer, seed=9, dtype=dtype,
                                    shards=3 if tied else 1, tied=tied, template_file=tied)
    engine = Engine.load(FolderFiles(folder))
    ids = engine.tokenizer.encode(PROMPT)
    assert ids == tokenizer.encode(PROMPT).ids and ids[0] == tokenizer.token_to_id(SPECIALS[0])
    safetensors = HFCheckpoint(FolderFiles(folder)).weights
    hf = {k: safetensors.array(k) for k in safetensors.tensors}
    if dtype == "BF16":
        hf = {k: (v.astype(np.uint32) << 16).view(np.float32) for k, v in hf.items()}
    ref = hf_reference_logits(hf, ids)
    ours = engine_logits(engine, ids)
    assert np.abs(ours - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())
    loaded_type = {"F32": 0, "BF16": 0, "F16": 1}[dtype]        # BF16 widens to F32, F16 stays
    assert engine.gguf.tensors["blk.0.attn_q.weight"].ggml_type == loaded_type
    assert engine.template.render([{"role": "user", "content": "hi"}]) == \
        f"{SPECIALS[0]}user\nhi{SPECIALS[2]}{SPECIALS[0]}assistant\n"


@pytest.mark.parametrize("qtype", ["f32", "f16", "q8_0", "q4_0", "q4_1", "q4_k"])
def test_converted_gguf_equals_the_folder(tmp_path, folder, qtype):
    out = tmp_path / f"tiny-{qtype}.gguf"
    convert(str(folder), out, qtype, log=lambda _: None)
    checkpoint = HFCheckpoint(FolderFiles(folder), "none" if qtype == "f32" else qtype)
    reader = GGUFReader(out)                                    # gguf-py reads what we wrote
    assert [t.name for t in reader.tensors] == list(checkpoint.tensors)
    for t in reader.tensors:
        info = checkpoint.tensors[t.name]
        assert tuple(int(n) for n in reversed(t.shape)) == info.shape
        assert int(t.tensor_type) == info.ggml_type
        assert np.array_equal(np.asarray(t.data).view(np.uint8).reshape(-1), checkpoint.tensor_bytes(t.name))
        floats = checkpoint.float_weights(t.name)
        if int(t.tensor_type) in (T.Q8_0, T.Q4_0, T.Q4_1):     # gguf-py quantizes these itself
            ref = gguf_quantize(floats.reshape(-1, floats.shape[-1]), T(int(t.tensor_type)))
            assert np.array_equal(np.asarray(t.data).view(np.uint8).reshape(-1), ref.reshape(-1))
        elif int(t.tensor_type) == T.F32:
            assert np.array_equal(np.asarray(t.data).reshape(floats.shape), floats)
        if t.name.endswith("_norm.weight"):
            assert int(t.tensor_type) == T.F32
        elif qtype != "f32" and t.name.endswith("ffn_down.weight"):      # rows of 256 weights
            assert T(int(t.tensor_type)).name.lower() == qtype
        elif t.name.endswith("attn_q.weight"):          # rows of 64: Q4_K falls back to F16
            assert T(int(t.tensor_type)).name.lower() == ("f16" if qtype == "q4_k" else qtype)
    fields = {f.name: f for f in reader.fields.values()}
    assert fields["general.architecture"].contents() == "llama"
    assert fields["tokenizer.ggml.pre"].contents() == "llama-bpe"
    assert fields["tokenizer.chat_template"].contents() == TEMPLATE
    assert fields["tokenizer.ggml.add_bos_token"].contents() is True
    # the file gives the folder's logits: the same tensors in the same types
    ids = Engine.load(FolderFiles(folder)).tokenizer.encode(PROMPT)
    from_file = Engine.load(FileSource(out))
    assert from_file.tokenizer.encode(PROMPT) == ids
    from_folder = Engine.load(FolderFiles(folder), quantize="none" if qtype == "f32" else qtype)
    assert np.array_equal(engine_logits(from_file, ids), engine_logits(from_folder, ids))


def test_quantized_load_stays_close_to_float(folder):
    """RMS logit error over the logits' spread, on a random (so chaotic) tiny model: measured
    f16 0.002, q8_0 0.06, q4_k 0.11, q4_1 0.54, q4_0 0.60."""
    ids = Engine.load(FolderFiles(folder)).tokenizer.encode(PROMPT)
    ref = engine_logits(Engine.load(FolderFiles(folder)), ids)
    errors = {}
    for qtype, bound in (("f16", 0.005), ("q8_0", 0.1), ("q4_k", 0.2), ("q4_1", 0.8), ("q4_0", 0.8)):
        got = engine_logits(Engine.load(FolderFiles(folder), quantize=qtype), ids)
        errors[qtype] = np.sqrt(np.mean((got - ref) ** 2)) / ref.std()
        assert errors[qtype] < bound, f"{qtype}: RMS error {errors[qtype]:.3f} x the logits' spread"
    assert errors["f16"] < errors["q8_0"] < errors["q4_k"] < min(errors["q4_1"], errors["q4_0"])


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "minfer_wasm", *args], capture_output=True, text=True,
                          input=stdin, timeout=300)


def test_cli_generate_tokenize_and_convert_take_a_folder(tmp_path, folder, tokenizer):
    result = run_cli("generate", "--model", str(folder), "--prompt", PROMPT, "--temperature", "0",
                     "--max-tokens", "5", "--ignore-eos", "--json", "--logits-out", str(tmp_path / "l.npy"))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["prompt_ids"] == tokenizer.encode(PROMPT).ids and len(out["ids"]) == 5
    logits = np.load(tmp_path / "l.npy")
    assert logits.shape == (5, tokenizer.get_vocab_size()) and out["ids"] == logits.argmax(1).tolist()
    result = run_cli("generate", "--model", str(folder), "--prompt", PROMPT, "--temperature", "0",
                     "--max-tokens", "5", "--ignore-eos", "--json", "--quantize", "q8_0")
    assert result.returncode == 0, result.stderr
    result = run_cli("tokenize", "--model", str(folder), stdin=json.dumps(PROMPT) + "\n")
    assert json.loads(result.stdout) == tokenizer.encode(PROMPT).ids
    result = run_cli("convert", "--from", str(folder), "--to", str(tmp_path / "t.gguf"), "--type", "q8_0")
    assert result.returncode == 0, result.stderr
    assert GGUFFile.open(FileSource(tmp_path / "t.gguf")).tensors["blk.1.ffn_up.weight"].ggml_type == T.Q8_0
    result = run_cli("generate", "--model", str(tmp_path / "t.gguf"), "--prompt", "x", "--quantize", "q4_0")
    assert result.returncode == 1 and "applies to Hugging Face checkpoints" in result.stderr
    result = run_cli("convert", "--from", str(tmp_path), "--to", str(tmp_path / "u.gguf"), "--type", "q8_0")
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "no config.json" in result.stderr


def test_bad_checkpoints_fail_with_one_line(tmp_path, tokenizer):
    folder = write_llama_checkpoint(tmp_path / "bad", tokenizer)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"architectures": ["GPTNeoXForCausalLM"]}))
    with pytest.raises(UnsupportedError, match="'GPTNeoXForCausalLM' is not supported"):
        Engine.load(FolderFiles(folder))
    (folder / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "hidden_size"}))
    with pytest.raises(CheckpointError, match="config.json: 'hidden_size' is missing"):
        Engine.load(FolderFiles(folder))
    (folder / "config.json").write_text(json.dumps(config))
    weights = llama_weights(tokenizer.get_vocab_size(), 1) | {"model.layers.0.mystery.weight": np.zeros(4, np.float32)}
    (folder / "model.safetensors").write_bytes(safetensors_bytes(weights))
    with pytest.raises(UnsupportedError, match="'model.layers.0.mystery.weight' has no GGUF name"):
        Engine.load(FolderFiles(folder))
    (folder / "model.safetensors").write_bytes(safetensors_bytes(llama_weights(tokenizer.get_vocab_size(), 1)))
    (folder / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="tokenizer.json is missing"):
        HFCheckpoint(FolderFiles(folder))


def test_checkpoint_behind_a_base_url_loads_like_the_folder(folder):
    server = LocalServer()          # tests/test_sources.py: honours Range, 404 for other paths
    try:
        for path in folder.iterdir():
            server.httpd.files[f"/ckpt/{path.name}"] = path.read_bytes()
        remote = Engine.load(open_model(server.url("/ckpt/")), quantize="q8_0")
        local = Engine.load(FolderFiles(folder), quantize="q8_0")
        ids = local.tokenizer.encode(PROMPT)
        assert remote.tokenizer.encode(PROMPT) == ids
        assert np.array_equal(engine_logits(remote, ids), engine_logits(local, ids))
    finally:
        server.close()


def test_compiled_kernels_run_the_quantized_folder(tmp_path, folder, kernels):
    """With the compiled kernels, the weights quantized at load are multiplied where they lie
    (KernelTensor), as the converted file's are: the same logits."""
    out = tmp_path / "k.gguf"
    convert(str(folder), out, "q8_0", log=lambda _: None)
    from_folder = Engine.load(FolderFiles(folder), kernels, "q8_0")
    from_file = Engine.load(FileSource(out), kernels)
    assert type(from_folder.model.blocks[0].ffn_down).__name__ == "KernelTensor"
    ids = from_file.tokenizer.encode(PROMPT)
    assert np.array_equal(engine_logits(from_folder, ids), engine_logits(from_file, ids))
