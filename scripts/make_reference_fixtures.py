"""Regenerate tests/fixtures/reference_<model>.json from an independent reference: transformers.

For each known model (the same GGUF files the tests pull), transformers loads the GGUF
itself (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...): its own GGUF parser,
dequantization through gguf-py, its own Llama / Gemma3 modules) in float32 on the CPU,
and its tokenizer (built from the same GGUF) turns a few prompts into ids. For every
prompt the fixture stores:

  prompt_ids      the ids fed to both engines
  continuation    greedy tokens (CONTINUATION, fewer for long prompts), each from a full
                  recompute of the sequence
  margins         the reference's top-1 minus top-2 logit at each of those steps
  first_top_ids / first_top_logits   the TOP_K largest logits after the prompt
  first_logits_mean / first_logits_std   a summary of the whole first-step logit vector

Models whose GGUF carries a chat template also get `chat_cases`: a conversation rendered
and tokenized by transformers' own apply_chat_template (the reference for `generate --chat`).

Needs: pip install torch transformers accelerate gguf. Takes a few minutes on a CPU.
Usage: python scripts/make_reference_fixtures.py [smollm2-135m gemma3-270m]
"""

import json
import sys
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from minfer_wasm.native import model_store

CONTINUATION = 32
TOP_K = 100
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"

PROMPTS = {  # model name -> (prompt, greedy steps), chosen so the reference is confident for most steps
    "smollm2-135m": [
        ("<|im_start|>user\nList the first ten prime numbers.<|im_end|>\n<|im_start|>assistant\n", CONTINUATION),
        ("def fibonacci(n):", CONTINUATION),
    ],
    "gemma3-270m": [
        ("<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n", CONTINUATION),
        ("def fibonacci(n):", CONTINUATION),
        # longer than the 512-position sliding window (~540 tokens): local layers must mask the start
        (", ".join(str(i) for i in range(1, 131)) + ",", 8),
    ],
}

CHATS = {  # model name -> (messages, greedy steps) for models whose GGUF has a chat template
    "smollm2-135m": [
        ([{"role": "user", "content": "Translate \"good morning\" into French."}], 16),
        ([{"role": "system", "content": "You are a terse assistant."},
          {"role": "user", "content": "Name three primary colours."}], 16),
    ],
}


@torch.no_grad()
def reference(model, prompt_ids: list[int], steps: int) -> dict:
    """Greedy continuation with a full forward per step (no KV cache involved)."""
    ids = list(prompt_ids)
    out = {"prompt_ids": list(prompt_ids), "continuation": [], "margins": []}
    for step in range(steps):
        logits = model(torch.tensor([ids])).logits[0, -1].float()   # (vocab,)
        top2 = torch.topk(logits, 2)
        if step == 0:
            top = torch.topk(logits, TOP_K)
            out["first_top_ids"] = top.indices.tolist()
            out["first_top_logits"] = [round(v, 5) for v in top.values.tolist()]
            out["first_logits_mean"] = round(logits.mean().item(), 6)
            out["first_logits_std"] = round(logits.std().item(), 6)
        out["margins"].append(round((top2.values[0] - top2.values[1]).item(), 5))
        token = int(top2.indices[0])
        out["continuation"].append(token)
        ids.append(token)
    return out


def make(name: str) -> Path:
    path = model_store.pull(name)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    model.eval()
    cases = []
    for text, steps in PROMPTS[name]:
        ids = tokenizer(text)["input_ids"]
        case = {"text": text, **reference(model, ids, steps)}
        print(f"{name}: {text!r} -> {tokenizer.decode(case['continuation'])!r}", flush=True)
        cases.append(case)
    chat_cases = []
    for messages, steps in CHATS.get(name, []):
        ids = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                 return_dict=True)["input_ids"])
        chat_cases.append({"messages": messages, **reference(model, ids, steps)})
        print(f"{name}: chat {messages[-1]['content']!r} -> "
              f"{tokenizer.decode(chat_cases[-1]['continuation'])!r}", flush=True)
    fixture = {
        "model": name, "gguf": path.name, "sha256": model_store.file_sha256(path),
        "reference": f"transformers {transformers.__version__}, torch {torch.__version__}, float32",
        "cases": cases,
    }
    if chat_cases:
        fixture["chat_cases"] = chat_cases
    out = FIXTURES / f"reference_{name.split('-')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fixture, indent=1) + "\n")
    return out


if __name__ == "__main__":
    torch.manual_seed(0)
    for model_name in sys.argv[1:] or list(PROMPTS):
        print("wrote", make(model_name))
