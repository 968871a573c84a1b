"""The real SmolLM2 through a Hugging Face folder and back.

Its GGUF's weights, dequantized (gguf-py exact), are written as a Safetensors checkpoint in HF's
layout (q/k rows un-permuted to HF's rope halves), with a tokenizer.json built by HF `tokenizers`
from the GGUF's vocabulary and merges. That folder's tokenizer must agree with HF `tokenizers`
and with the GGUF's own tokenizer on the corpus; converted to Q8_0 it must give the GGUF's
greedy text; and llama.cpp (llama-cpp-python, the `bench` extra) must run the converted file.
"""

import json

import numpy as np
import pytest
from hf_fixtures import CORPUS, safetensors_bytes
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

from minfer_wasm.context import TokenContext
from minfer_wasm.engine import Engine
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.hf import FolderFiles
from minfer_wasm.native.convert import convert
from minfer_wasm.generate import generate
from minfer_wasm.quants import dequantize
from minfer_wasm.sampling import SamplingParams
from minfer_wasm.sources import FileSource

CONTROL = 3
HF_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
PROMPT = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
N_TOKENS = 32


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """ggml's interleaved rope pairs back to HF's halves (the inverse of the converter's permute)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, -1).swapaxes(1, 2).reshape(w.shape)


def hf_tokenizer(md: dict) -> Tokenizer:
    tokens, types = md["tokenizer.ggml.tokens"], np.asarray(md["tokenizer.ggml.token_type"])
    merges = [tuple(m.split(" ", 1)) for m in md["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i in np.flatnonzero(types == CONTROL)])
    return tok


@pytest.fixture(scope="module")
def smollm2_folder(tmp_path_factory, smollm2_path):
    """SmolLM2's GGUF as an F32 Hugging Face checkpoint folder."""
    gguf = GGUFFile.open(FileSource(smollm2_path))
    md = gguf.metadata
    n_head, n_head_kv = md["llama.attention.head_count"], md["llama.attention.head_count_kv"]
    weights = {}
    for name, info in gguf.tensors.items():
        w = dequantize(gguf.tensor_bytes(name), info.ggml_type, info.shape)     # float32
        if name == "token_embd.weight":
            weights["model.embed_tokens.weight"] = w
        elif name == "output_norm.weight":
            weights["model.norm.weight"] = w
        else:
            _, layer, kind, _ = name.split(".")
            if kind == "attn_q":
                w = unpermute(w, n_head)
            elif kind == "attn_k":
                w = unpermute(w, n_head_kv)
            weights[f"model.layers.{layer}.{HF_LAYER_NAMES[kind]}.weight"] = w
    folder = tmp_path_factory.mktemp("smollm2") / "SmolLM2-135M-Instruct"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(safetensors_bytes(weights))
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": md["llama.embedding_length"], "intermediate_size": md["llama.feed_forward_length"],
              "num_hidden_layers": md["llama.block_count"], "num_attention_heads": n_head,
              "num_key_value_heads": n_head_kv, "max_position_embeddings": md["llama.context_length"],
              "rms_norm_eps": md["llama.attention.layer_norm_rms_epsilon"],
              "rope_theta": md["llama.rope.freq_base"], "vocab_size": md["llama.vocab_size"],
              "tie_word_embeddings": True, "torch_dtype": "float32"}
    (folder / "config.json").write_text(json.dumps(config))
    hf_tokenizer(md).save(str(folder / "tokenizer.json"))
    tokens = md["tokenizer.ggml.tokens"]
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": tokens[md["tokenizer.ggml.bos_token_id"]],
        "eos_token": tokens[md["tokenizer.ggml.eos_token_id"]],
        "chat_template": md["tokenizer.chat_template"]}))
    return folder


def greedy_text(engine: Engine) -> tuple[list[int], str]:
    ids = engine.encode_chat(PROMPT)
    steps = list(generate(TokenContext(engine.model), engine.tokenizer, ids, SamplingParams(temperature=0),
                          max_tokens=N_TOKENS, ignore_eos=True))
    return ids, "".join(s.text for s in steps)


def test_folder_tokenizer_matches_hf_and_the_gguf(smollm2_folder, smollm2_path):
    folder_tok = Engine.load(FolderFiles(smollm2_folder)).tokenizer
    gguf_tok = Engine.load(FileSource(smollm2_path)).tokenizer
    hf = Tokenizer.from_file(str(smollm2_folder / "tokenizer.json"))
    for text in CORPUS:
        ids = folder_tok.encode(text)
        assert ids == hf.encode(text).ids, text
        assert ids == gguf_tok.encode(text), text


def test_converted_q8_0_gives_the_gguf_greedy_text(tmp_path, smollm2_folder, smollm2_path):
    out = tmp_path / "smollm2-q8_0.gguf"
    convert(str(smollm2_folder), out, "q8_0", log=lambda _: None)
    converted = GGUFFile.open(FileSource(out))
    assert {t.ggml_type for n, t in converted.tensors.items() if not n.endswith("norm.weight")} == {8}
    original_ids, original_text = greedy_text(Engine.load(FileSource(smollm2_path)))
    converted_ids, converted_text = greedy_text(Engine.load(FileSource(out)))
    assert converted_ids == original_ids
    assert converted_text == original_text, (original_text, converted_text)
    # the folder quantized as it loads is the converted file
    folder_ids, folder_text = greedy_text(Engine.load(FolderFiles(smollm2_folder), quantize="q8_0"))
    assert (folder_ids, folder_text) == (converted_ids, converted_text)


def test_llama_cpp_runs_a_converted_file(tmp_path, smollm2_folder):
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python (the `bench` extra) is not installed")
    out = tmp_path / "smollm2-q8_0.gguf"
    convert(str(smollm2_folder), out, "q8_0", log=lambda _: None)
    engine = Engine.load(FileSource(out))
    ids = engine.encode_chat(PROMPT)
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=256, logits_all=True, verbose=False)
    ours, theirs = ids[:], ids[:]
    rendered = engine.template.render(PROMPT).encode()
    assert llm.tokenize(rendered, add_bos=False, special=True) == ids      # llama.cpp reads our vocab alike
    context = TokenContext(engine.model)
    logits = context.evaluate(ours)
    llm.eval(theirs)
    compared = 0
    for _ in range(N_TOKENS):
        reference = np.asarray(llm.scores[llm.n_tokens - 1])
        top2 = np.sort(reference)[-2:]
        if top2[1] - top2[0] < 0.1:           # a near-tie: the order may differ from here on
            break
        assert int(np.argmax(logits)) == int(np.argmax(reference)), f"step {compared}"
        compared += 1
        token = int(np.argmax(reference))
        logits = context.evaluate([token])
        llm.eval([token])
    assert compared > 0           # measured: all 32 steps agree (no near-tie)
