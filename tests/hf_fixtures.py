"""Tiny Hugging Face checkpoints built in a test's temp folder: Safetensors files written byte by
byte from the format's README, random llama weights from seeded numpy, and tokenizer.json files
trained by HF `tokenizers` with each pre-tokenizer the converter maps (no torch, no transformers).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

CORPUS = [t["text"] for t in json.loads(
    (Path(__file__).parent / "fixtures" / "tokenizer_corpus.json").read_text())["texts"]]

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]


def safetensors_bytes(arrays: dict[str, np.ndarray], dtypes: dict[str, str] | None = None,
                      metadata: dict | None = None) -> bytes:
    """A .safetensors file: u64 header length, JSON header, the arrays' bytes in order.
    dtypes names each array's dtype (default from numpy: F32 / F16; uint16 arrays are BF16)."""
    names = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("uint16"): "BF16"}
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for key, a in arrays.items():
        data = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        dtype = (dtypes or {}).get(key) or names[a.dtype]
        header[key] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def to_bf16(a: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bit patterns (uint16), rounded to nearest even as torch does."""
    bits = a.astype(np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def train_tokenizer(style: str, vocab_size: int = 500) -> Tokenizer:
    """A byte-level BPE ("llama3", "qwen2", "gpt2", "smollm") or SentencePiece-style BPE
    ("metaspace") tokenizer trained on the project's corpus, with the style's pre-tokenizer."""
    byte_level = not style.startswith("metaspace")
    model = models.BPE(ignore_merges=style == "llama3",
                       byte_fallback=not byte_level, unk_token=None if byte_level else "<unk>")
    tok = Tokenizer(model)
    no_regex = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if style == "llama3":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_REGEX), "isolated"), no_regex])
    elif style == "qwen2":
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_REGEX), "isolated"), no_regex])
    elif style == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    elif style == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False)])
    elif style in ("metaspace", "metaspace-always"):
        scheme = "always" if style == "metaspace-always" else "first"
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme=scheme, split=False)
    else:
        raise ValueError(style)
    tok.decoder = decoders.ByteLevel() if byte_level else decoders.Metaspace()
    specials = SPECIALS + ([] if byte_level else ["<unk>"])
    alphabet = pre_tokenizers.ByteLevel.alphabet() if byte_level else []
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet,
                                  show_progress=False)
    tok.train_from_iterator(CORPUS * 2, trainer)
    if byte_level:
        return tok
    # byte-fallback pieces <0xNN> in the model's own vocabulary, as SentencePiece ones have them
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    spec["model"]["vocab"] = vocab
    return Tokenizer.from_str(json.dumps(spec))


def with_bos(tok: Tokenizer) -> Tokenizer:
    """tok whose post-processor puts <|begin_of_text|> before every sequence (Llama 3 style)."""
    bos = tok.token_to_id(SPECIALS[0])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{SPECIALS[0]} $A", pair=f"{SPECIALS[0]} $A {SPECIALS[0]} $B",
        special_tokens=[(SPECIALS[0], bos)])
    return tok


TEMPLATE = ("{% for m in messages %}<|begin_of_text|>{{ m['role'] }}\n{{ m['content'] }}<|eot_id|>"
            "{% endfor %}{% if add_generation_prompt %}<|begin_of_text|>assistant\n{% endif %}")


def llama_weights(n_vocab: int, seed: int, n_embd=64, n_ff=256, n_layer=2, n_head=4, n_head_kv=2,
                  tied=False) -> dict[str, np.ndarray]:
    """Random HF llama weights (HF names and layout), seeded."""
    rng = np.random.default_rng(seed)
    hd = n_embd // n_head

    def w(*shape, scale=0.3):
        return (rng.standard_normal(shape) * scale).astype(np.float32)
    out = {"model.embed_tokens.weight": w(n_vocab, n_embd)}
    for i in range(n_layer):
        p = f"model.layers.{i}."
        out |= {p + "input_layernorm.weight": 1 + w(n_embd, scale=0.1),
                p + "self_attn.q_proj.weight": w(n_head * hd, n_embd),
                p + "self_attn.k_proj.weight": w(n_head_kv * hd, n_embd),
                p + "self_attn.v_proj.weight": w(n_head_kv * hd, n_embd),
                p + "self_attn.o_proj.weight": w(n_embd, n_head * hd),
                p + "post_attention_layernorm.weight": 1 + w(n_embd, scale=0.1),
                p + "mlp.gate_proj.weight": w(n_ff, n_embd),
                p + "mlp.up_proj.weight": w(n_ff, n_embd),
                p + "mlp.down_proj.weight": w(n_embd, n_ff)}
    out["model.norm.weight"] = 1 + w(n_embd, scale=0.1)
    if not tied:
        out["lm_head.weight"] = w(n_vocab, n_embd)
    return out


def write_llama_checkpoint(folder: Path, tok: Tokenizer, seed: int = 1, dtype: str = "F32",
                           shards: int = 1, tied: bool = False, template_file: bool = False) -> Path:
    """config.json, tokenizer files and model.safetensors (or `shards` shards and their index)."""
    folder.mkdir(parents=True, exist_ok=True)
    n_vocab = tok.get_vocab_size()
    weights = llama_weights(n_vocab, seed, tied=tied)
    if dtype == "F16":
        weights = {k: v.astype(np.float16) for k, v in weights.items()}
    elif dtype == "BF16":
        weights = {k: to_bf16(v) for k, v in weights.items()}
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": n_vocab,
              "hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": tied,
              "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]}
    (folder / "config.json").write_text(json.dumps(config))
    tok.save(str(folder / "tokenizer.json"))
    tc = {"bos_token": SPECIALS[0], "eos_token": SPECIALS[2]}
    if template_file:
        (folder / "chat_template.jinja").write_text(TEMPLATE)
    else:
        tc["chat_template"] = TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(tc))
    names = list(weights)
    if shards == 1:
        (folder / "model.safetensors").write_bytes(safetensors_bytes(weights))
        return folder
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        (folder / file).write_bytes(safetensors_bytes({k: weights[k] for k in part}))
        weight_map |= {k: file for k in part}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder
