"""tokenizer.json + tokenizer_config.json -> the `tokenizer.*` GGUF metadata keys.

The engine's Tokenizer reads these keys (tokenizer/vocab.py) for GGUF files; a checkpoint's
tokenizer.json is mapped onto them as llama.cpp's converter does (convert_hf_to_gguf.py
`_set_vocab_gpt2` / gguf-py `SpecialVocab`), with one rule taken from tokenizers instead:
BOS and EOS are added exactly when tokenizer.json's post-processor adds them.

- Byte-level BPE (a ByteLevel pre-tokenizer): `gpt2`, its merges, and the split rule
  (tokenizer/pretokenize.py) whose patterns equal the file's Split / Digits / ByteLevel steps.
- SentencePiece-style BPE (spaces as "▁": a Metaspace pre-tokenizer, or a normalizer that
  prepends "▁" and replaces " " by it): `llama`, byte-fallback tokens `<0xNN>` typed BYTE, and
  merge ranks as scores (a piece made by an earlier merge scores higher).
- Added tokens: CONTROL when special, else USER_DEFINED; ids past the vocabulary extend it.
"""

from __future__ import annotations

import numpy as np

from ..errors import CheckpointError, UnsupportedError
from ..tokenizer.pretokenize import SUPPORTED_PRE, rule_for
from ..tokenizer.vocab import BYTE, CONTROL, NORMAL, UNUSED, USER_DEFINED
from .files import FileSet, read_json, read_text

SPACE = "\u2581"
_GPT2_PRE_CANDIDATES = ("gpt-2", "llama-bpe", "qwen2", "smollm", "gpt-4o", "tekken")


def tokenizer_metadata(files: FileSet, config: dict | None = None) -> dict:
    """The tokenizer.ggml.* keys (and tokenizer.chat_template) of a checkpoint's tokenizer files;
    config.json (`config`) gives the vocabulary size and the special ids they leave out."""
    config = config or {}
    n_vocab = config.get("vocab_size") if isinstance(config.get("vocab_size"), int) else None
    where = f"{files.name}/tokenizer.json"
    tj = read_json(files, "tokenizer.json")
    tc = read_json(files, "tokenizer_config.json", required=False) or {}
    if not isinstance(tj, dict) or not isinstance(tc, dict):
        raise CheckpointError(f"{files.name}: tokenizer.json / tokenizer_config.json must be objects")
    model = tj.get("model")
    if not isinstance(model, dict) or model.get("type") != "BPE":
        kind = model.get("type") if isinstance(model, dict) else model
        raise UnsupportedError(f"{where}: tokenizer model {kind!r} is not supported (supported: BPE)")
    tokens, types = _vocab(model, tj.get("added_tokens") or [], n_vocab, where)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    steps = _steps(tj.get("pre_tokenizer"))
    norm_steps = _steps(tj.get("normalizer"))
    md: dict = {"tokenizer.ggml.tokens": tokens}
    if any(s.get("type") == "ByteLevel" for s in steps):
        md["tokenizer.ggml.model"] = "gpt2"
        md["tokenizer.ggml.pre"] = _byte_level_pre(steps, norm_steps, model, where)
        md["tokenizer.ggml.merges"] = merges
        if rule_for(md["tokenizer.ggml.pre"]).ignore_merges != bool(model.get("ignore_merges")):
            md["minfer.tokenizer.ignore_merges"] = bool(model.get("ignore_merges"))
    else:
        md["tokenizer.ggml.model"] = "llama"
        md["tokenizer.ggml.pre"] = "default"
        md["tokenizer.ggml.add_space_prefix"] = _sentencepiece_prefix(steps, norm_steps, where)
        # where HF puts the "▁" prefix: a normalizer step runs on every text between special
        # tokens; Metaspace skips a text that starts with one, and with "first" all but the first
        metaspace = next((s for s in steps if s.get("type") == "Metaspace"), None)
        md["minfer.tokenizer.prefix_every_part"] = metaspace is None or \
            metaspace.get("prepend_scheme", "always") == "always"
        md["minfer.tokenizer.prefix_unless_space"] = metaspace is not None
        md["tokenizer.ggml.scores"] = np.array(_merge_scores(tokens, merges), np.float32)
        for i, t in enumerate(tokens):
            if types[i] == NORMAL and len(t) == 6 and t.startswith("<0x") and t.endswith(">") \
                    and model.get("byte_fallback"):
                types[i] = BYTE
    md["tokenizer.ggml.token_type"] = np.array(types, np.int32)   # as the GGUF reader gives arrays
    index = {t: i for i, t in enumerate(tokens)}
    special = {}
    for key in ("bos", "eos", "unk", "pad"):
        text = _token_text(tc.get(f"{key}_token"))
        if text is not None and text in index:
            special[key] = index[text]
    if "unk" not in special and isinstance(model.get("unk_token"), str) and model["unk_token"] in index:
        special["unk"] = index[model["unk_token"]]
    for key in ("bos", "eos", "pad"):             # gguf-py SpecialVocab: then config.json's ids
        tid = config.get(f"{key}_token_id")
        if key not in special and isinstance(tid, int) and 0 <= tid < len(tokens):
            special[key] = tid
    prefix, suffix = _post_processor_specials(tj.get("post_processor"), index, where)
    for key, added in (("bos", prefix), ("eos", suffix)):
        if len(added) > 1 or (added and key in special and special[key] != added[0]):
            raise UnsupportedError(f"{where}: the post-processor adds {added}, not just the "
                                   f"{key} token: not supported")
        if added:
            special[key] = added[0]
        md[f"tokenizer.ggml.add_{key}_token"] = bool(added)
    gguf_keys = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id",
                 "pad": "padding_token_id"}
    for key, tid in special.items():
        md["tokenizer.ggml." + gguf_keys[key]] = tid
    template = chat_template(files, tc)
    if template is not None:
        md["tokenizer.chat_template"] = template
    return md


def chat_template(files: FileSet, tokenizer_config: dict) -> str | None:
    """tokenizer_config.json's chat_template (a string, or a list whose "default" entry is used),
    else a chat_template.jinja file beside it."""
    value = tokenizer_config.get("chat_template")
    if isinstance(value, list):
        named = {e.get("name"): e.get("template") for e in value if isinstance(e, dict)}
        value = named.get("default")
    if isinstance(value, str):
        return value
    return read_text(files, "chat_template.jinja")


def _vocab(model: dict, added: list, n_vocab: int | None, where: str) -> tuple[list[str], list[int]]:
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise CheckpointError(f"{where}: model.vocab is missing or empty")
    entries = [(i, t, None) for t, i in vocab.items()]
    for e in added:
        if not isinstance(e, dict) or not isinstance(e.get("id"), int) or not isinstance(e.get("content"), str):
            raise CheckpointError(f"{where}: an added_tokens entry lacks an integer id or a content")
        entries.append((e["id"], e["content"], bool(e.get("special"))))
    size = max(i for i, _, _ in entries) + 1
    if not all(isinstance(i, int) and 0 <= i < 1 << 24 for i, _, _ in entries):
        raise CheckpointError(f"{where}: token ids must be integers in [0, 2^24)")
    size = max(size, n_vocab or 0)
    tokens: list[str | None] = [None] * size
    types = [UNUSED] * size
    for i, text, special in entries:
        tokens[i] = text
        types[i] = NORMAL if special is None else (CONTROL if special else USER_DEFINED)
    tokens = [t if t is not None else f"[PAD{i}]" for i, t in enumerate(tokens)]   # the converter's filler
    return tokens, types


def _steps(component) -> list[dict]:
    """A normalizer / pre-tokenizer / post-processor as a flat list of its steps."""
    if component is None:
        return []
    if not isinstance(component, dict):
        raise CheckpointError(f"tokenizer.json: expected an object, got {component!r:.60}")
    if component.get("type") == "Sequence":
        inner = component.get("pretokenizers") or component.get("normalizers") \
            or component.get("processors") or []
        return [s for c in inner for s in _steps(c)]
    return [component]


def _regex(step: dict) -> str | None:
    pattern = step.get("pattern")
    return pattern.get("Regex") if isinstance(pattern, dict) else None


def _byte_level_pre(steps: list[dict], norm_steps: list[dict], model: dict, where: str) -> str:
    """The tokenizer.ggml.pre whose rule splits as these pre-tokenizer steps do."""
    patterns = []
    for s in steps:
        kind = s.get("type")
        if kind == "Split" and _regex(s) and s.get("behavior") == "Isolated" and not s.get("invert"):
            patterns.append(_regex(s))
        elif kind == "Digits":
            patterns.append(r"\p{N}" if s.get("individual_digits") else r"\p{N}+")
        elif kind == "ByteLevel":
            if s.get("use_regex", True):
                patterns.append(rule_for("gpt2").patterns[0])
            if s.get("add_prefix_space"):
                raise UnsupportedError(f"{where}: ByteLevel add_prefix_space is not supported")
        else:
            raise UnsupportedError(f"{where}: pre-tokenizer step {kind!r} is not supported")
    normalize = None
    for n in norm_steps:
        if n.get("type") in ("NFC", "NFD", "NFKC", "NFKD") and normalize is None:
            normalize = n["type"]
        else:
            raise UnsupportedError(f"{where}: normalizer {n.get('type')!r} is not supported "
                                   "with a byte-level tokenizer")
    for name in _GPT2_PRE_CANDIDATES:
        rule = rule_for(name)
        if rule.patterns == tuple(patterns) and rule.normalize == normalize:
            return name
    raise UnsupportedError(f"{where}: its pre-tokenizer (patterns {patterns}, normalizer {normalize}) "
                           f"matches none of the supported ones ({', '.join(SUPPORTED_PRE)})")


def _sentencepiece_prefix(steps: list[dict], norm_steps: list[dict], where: str) -> bool:
    """add_space_prefix for a "▁" tokenizer: Metaspace's prepend_scheme, or a Prepend normalizer."""
    for s in steps:
        if s.get("type") == "Metaspace" and s.get("replacement", SPACE) == SPACE \
                and s.get("split", True) is False:
            return s.get("prepend_scheme", "always") in ("always", "first")
        raise UnsupportedError(f"{where}: pre-tokenizer step {s.get('type')!r} is not supported "
                               "with a SentencePiece-style vocabulary (supported: Metaspace "
                               "without split, or none)")
    kinds = [n.get("type") for n in norm_steps]
    replaces = any(n.get("type") == "Replace" and n.get("content") == SPACE for n in norm_steps)
    if steps:
        return False
    if not replaces or any(k not in ("Prepend", "Replace") for k in kinds):
        raise UnsupportedError(f"{where}: normalizer steps {kinds} are not supported (a "
                               "SentencePiece-style tokenizer replaces ' ' by '▁')")
    return "Prepend" in kinds


def _merge_scores(tokens: list[str], merges: list[str]) -> list[float]:
    """A piece made by merge number r scores -r (earlier merges first); other pieces score lower."""
    rank = {}
    for r, m in enumerate(merges):
        rank.setdefault(m.replace(" ", "", 1), r)
    floor = -float(len(merges) + 1)
    return [-float(rank[t]) if t in rank else floor for t in tokens]


def _token_text(value) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _post_processor_specials(post, index: dict, where: str) -> tuple[list[int], list[int]]:
    """Ids of the special tokens the post-processor puts before and after a single sequence."""
    for step in _steps(post):
        if step.get("type") == "TemplateProcessing":
            single = step.get("single") or []
            at = next((k for k, e in enumerate(single) if "Sequence" in e), None)
            if at is None:
                raise UnsupportedError(f"{where}: post-processor template without the sequence")

            def ids(items):
                out = []
                for e in items:
                    name = (e.get("SpecialToken") or {}).get("id")
                    spec = (step.get("special_tokens") or {}).get(name) or {}
                    out += spec.get("ids") or ([index[name]] if name in index else [])
                return out
            return ids(single[:at]), ids(single[at + 1:])
        if step.get("type") in ("BertProcessing", "RobertaProcessing"):
            raise UnsupportedError(f"{where}: post-processor {step['type']} is not supported")
    return [], []
