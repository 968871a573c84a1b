"""Fuzzing the loader with the real models' headers: named cases, then generated ones.

Every case edits the header (metadata, tensor table) or truncates the file, then loads it
as `Engine.load` does and, when that succeeds, evaluates one token and samples from it.
The bar (fuzz_harness.py): a typed MinferError with a one-line message under 300
characters, or a clean run; within the time bound, the memory bound, and no warnings.
Only the header bytes are held; the tensor data is read from the real file (gguf_mutations).
"""

import functools
import struct
import zlib

import numpy as np
import pytest

from fuzz_harness import run_case
from gguf_mutations import Header, SplicedSource, array, scalar
from minfer_wasm.context import TokenContext
from minfer_wasm.engine import Engine
from minfer_wasm.generate import generate
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.native.model_store import KNOWN_MODELS, model_path
from minfer_wasm.sampling import SamplingParams

SECONDS = {"smollm2-135m": 5.0, "gemma3-270m": 10.0}    # per case, on a busy 2-core machine
MEMORY = 2 << 30                                        # address space a case may add
GENERATED = {"smollm2-135m": 100, "gemma3-270m": 16}
CORRUPTED_TENSORS = 6                                   # per model
ARCH = {"smollm2-135m": "llama", "gemma3-270m": "gemma3"}


@functools.cache
def _read(key: str):
    path = model_path(KNOWN_MODELS[key])
    if not path.exists():
        pytest.skip(f"{path} not downloaded")
    return key, path, Header.read(path)


@pytest.fixture(scope="module", params=list(KNOWN_MODELS))
def model(request):
    return _read(request.param)


@pytest.fixture(scope="module")
def first_model():
    return _read(next(iter(KNOWN_MODELS)))


def load_and_step(source) -> None:
    """The engine's whole path for a file: load, evaluate one token, sample."""
    engine = Engine.load(source)
    context = TokenContext(engine.model, 64)
    for _ in generate(context, engine.tokenizer, engine.tokenizer.encode("Hi"), SamplingParams(),
                      seed=1, max_tokens=1):
        pass


def check(name: str, model, source, expect: str | None = None, needle: str = "") -> None:
    key, path, header = model
    outcome = run_case("gguf", f"{key}/{name}", lambda: load_and_step(source),
                       seconds=SECONDS[key], memory=MEMORY)
    assert outcome.clean, str(outcome)
    if expect is not None:
        assert outcome.kind == expect and needle in outcome.message, str(outcome)


# ---- named cases: (name, edit of the header, expected error class, text the message names) --

def _type_at(h: Header, index: int, value: int) -> bytes:
    """tokenizer.ggml.token_type[index] (int32) set to value."""
    e = h.entries["tokenizer.ggml.token_type"]
    return h.with_bytes(e.vtype_at + 4 + 12 + 4 * index, struct.pack("<i", value))


def _n_tokens(h: Header) -> int:
    return struct.unpack_from("<Q", h.data, h.entries["tokenizer.ggml.tokens"].vtype_at + 8)[0]


def _etype(h: Header, key: str, code: int) -> bytes:
    return h.with_bytes(h.entries[key].vtype_at + 4, struct.pack("<I", code))


NAMED = [
    ("block_count 2^31", lambda h, a: h.with_value(f"{a}.block_count", "u32", scalar("u32", 2**31)),
     "GGUFError", "block_count' = 2147483648"),
    ("block_count 0", lambda h, a: h.with_value(f"{a}.block_count", "u32", scalar("u32", 0)),
     "GGUFError", "block_count"),
    ("head_count 0", lambda h, a: h.with_value(f"{a}.attention.head_count", "u32", scalar("u32", 0)),
     "GGUFError", "head_count"),
    ("embedding_length 2^40", lambda h, a: h.with_value(f"{a}.embedding_length", "u64",
                                                        scalar("u64", 2**40)),
     "GGUFError", "embedding_length' = 1099511627776"),
    ("context_length 2^40", lambda h, a: h.with_value(f"{a}.context_length", "u64", scalar("u64", 2**40)),
     "GGUFError", "context_length"),
    ("vocab_size 2^33", lambda h, a: h.with_added(f"{a}.vocab_size", "u64", scalar("u64", 2**33)),
     "GGUFError", "vocab_size"),
    ("epsilon inf", lambda h, a: h.with_value(f"{a}.attention.layer_norm_rms_epsilon", "f32",
                                              scalar("f32", np.inf)), "GGUFError", "not a finite"),
    ("epsilon nan", lambda h, a: h.with_value(f"{a}.attention.layer_norm_rms_epsilon", "f32",
                                              scalar("f32", np.nan)), "GGUFError", "not a finite"),
    ("epsilon -1", lambda h, a: h.with_value(f"{a}.attention.layer_norm_rms_epsilon", "f32",
                                             scalar("f32", -1.0)), "GGUFError", "out of range"),
    ("rope base 0", lambda h, a: h.with_value(f"{a}.rope.freq_base", "f32", scalar("f32", 0.0)),
     "GGUFError", "freq_base' = 0"),
    ("rope base -1", lambda h, a: h.with_value(f"{a}.rope.freq_base", "f32", scalar("f32", -1.0)),
     "GGUFError", "freq_base' = -1"),
    ("rope base inf", lambda h, a: h.with_value(f"{a}.rope.freq_base", "f32", scalar("f32", np.inf)),
     "GGUFError", "freq_base' = inf"),
    ("rope scaling -1", lambda h, a: h.with_added(f"{a}.rope.scaling.factor", "f32", scalar("f32", -1.0)),
     "GGUFError", "scaling.factor"),
    ("rope scaling 1e-30", lambda h, a: h.with_added(f"{a}.rope.scaling.factor", "f32",
                                                     scalar("f32", 1e-30)), "GGUFError", "scaling.factor"),
    ("token_type float32", lambda h, a: h.with_value(
        "tokenizer.ggml.token_type", "arr", array("f32", [1.0] * _n_tokens(h))),
     "GGUFError", "token_type must be an array"),
    ("token_type 99", lambda h, a: _type_at(h, 5, 99), "GGUFError", "token_type[5] = 99"),
    ("BYTE token not <0xNN>", lambda h, a: _type_at(h, 1000, 6), "GGUFError", "tokens[1000]"),
]

FORMAT = [  # the file format's own fields: the same on every model, so run on the first only
    ("tokens element type 0xFFFF", lambda h, a: _etype(h, "tokenizer.ggml.tokens", 0xFFFF),
     "GGUFError", "unknown array element type 65535"),
    ("tokens element type array", lambda h, a: _etype(h, "tokenizer.ggml.tokens", 9), "GGUFError", ""),
    ("tokens element type uint8", lambda h, a: _etype(h, "tokenizer.ggml.tokens", 0), "GGUFError", ""),
    ("merges element type float", lambda h, a: _etype(h, "tokenizer.ggml.merges", 6)
     if "tokenizer.ggml.merges" in h.entries else _etype(h, "tokenizer.ggml.scores", 8), "GGUFError", ""),
    ("magic", lambda h, a: h.with_bytes(0, b"GGUX"), "GGUFError", "magic"),
    ("version 1", lambda h, a: h.with_bytes(4, struct.pack("<I", 1)), "UnsupportedError", "version 1"),
    ("version big-endian", lambda h, a: h.with_bytes(4, struct.pack(">I", 3)), "UnsupportedError",
     "big-endian"),
    ("n_tensors 2^64-1", lambda h, a: h.with_bytes(8, struct.pack("<Q", 2**64 - 1)), "GGUFError",
     "tensor count"),
    ("n_kv 2^64-1", lambda h, a: h.with_bytes(16, struct.pack("<Q", 2**64 - 1)), "GGUFError",
     "metadata count"),
    ("key length 2^63", lambda h, a: h.with_bytes(24, struct.pack("<Q", 2**63)), "GGUFError", "length"),
    ("alignment 3", lambda h, a: h.with_added("general.alignment", "u32", scalar("u32", 3)),
     "GGUFError", "power of two"),
    ("alignment as uint64", lambda h, a: h.with_added("general.alignment", "u64", scalar("u64", 32)),
     "GGUFError", "expected uint32"),
]

TENSOR_EDITS = [   # (name, field kind, value, expected class, needle): the first tensor of the first model
    ("tensor n_dims 5", "n_dims", 5, "GGUFError", "n_dims 5"),
    ("tensor dim 2^62", "dim", 2**62, "GGUFError", ""),
    ("tensor dim 0", "dim", 0, "GGUFError", "shape"),
    ("tensor type 99", "ggml_type", 99, "UnsupportedError", ""),
    ("tensor offset misaligned", "tensor_offset", 3, "GGUFError", "alignment"),
    ("tensor offset past end", "tensor_offset", 2**40, "GGUFError", "runs past the end"),
]


@pytest.mark.parametrize("name, edit, expect, needle", NAMED, ids=[c[0] for c in NAMED])
def test_named_metadata_case(model, name, edit, expect, needle):
    key, path, header = model
    check(name, model, SplicedSource(edit(header, ARCH[key]), header, path), expect, needle)


@pytest.mark.parametrize("name, edit, expect, needle", FORMAT, ids=[c[0] for c in FORMAT])
def test_named_format_case(first_model, name, edit, expect, needle):
    key, path, header = first_model
    check(name, first_model, SplicedSource(edit(header, ARCH[key]), header, path), expect, needle)


@pytest.mark.parametrize("name, kind, value, expect, needle", TENSOR_EDITS, ids=[c[0] for c in TENSOR_EDITS])
def test_named_tensor_table_case(first_model, name, kind, value, expect, needle):
    key, path, header = first_model
    field = next(f for f in header.fields if f.kind == kind)
    check(name, first_model, SplicedSource(header.with_field(field, value), header, path), expect, needle)


def test_truncated_files(model):
    key, path, header = model
    n_vocab = _n_tokens(header)
    tokens_at = header.entries["tokenizer.ggml.tokens"].vtype_at
    cuts = [0, 3, 7, 15, 23, 40, tokens_at + 100, tokens_at + n_vocab * 3,
            len(header.data) - 20, header.data_offset + 1000, header.file_size - 1]
    for cut in cuts:
        source = SplicedSource(header.data, header, path)
        source.size = min(source.size, cut)
        check(f"truncated at {cut}", model, source, "GGUFError", "")


def test_nan_weights_end_in_logits_not_finite(model):
    """NaN in the final norm's weights: the load succeeds; sampling reports the logits, and no
    numpy RuntimeWarning is printed on the way."""
    key, path, header = model
    source = SplicedSource(header.data, header, path)
    info = GGUFFile.open(source).tensors["output_norm.weight"]     # F32 in both models
    source.patch(info.offset, np.full(8, np.nan, np.float32).tobytes())
    check("NaN output_norm", model, source, "SamplingError", "logits are not finite")


# ---- generated cases ------------------------------------------------------------------------

EDGES = [0, 1, 2, 7, 255, 2**16 - 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1]


def generated_cases(key: str, header: Header, count: int):
    """(name, header bytes, size) per case, from a seeded generator: a structural field set to an
    edge value or a near neighbour of its own, a flipped byte, or a truncation."""
    rng = np.random.default_rng(zlib.crc32(f"fuzz-gguf {key}".encode()))
    by_kind: dict[str, list] = {}
    for f in header.fields:
        by_kind.setdefault(f.kind, []).append(f)
    kinds = sorted(by_kind)
    for i in range(count):
        roll = rng.random()
        if roll < 0.7:      # a structural field
            f = by_kind[kinds[rng.integers(len(kinds))]]
            f = f[rng.integers(len(f))]
            own = int.from_bytes(header.data[f.offset:f.offset + f.size], "little")
            value = int(rng.choice(EDGES)) if rng.random() < 0.6 else own + int(rng.integers(-3, 4))
            yield (f"#{i} {f.kind} of {f.owner[:30]!r} = {value}", header.with_field(f, value),
                   None)
        elif roll < 0.85:   # a flipped byte in the metadata or the tensor table
            offset = int(rng.integers(24, len(header.data)))
            flipped = bytes([header.data[offset] ^ (1 << int(rng.integers(8)))])
            yield f"#{i} byte {offset} flipped", header.with_bytes(offset, flipped), None
        else:               # a truncation
            cut = int(rng.integers(0, header.data_offset + 4096))
            yield f"#{i} truncated at {cut}", header.data, cut


def test_generated_cases(model):
    key, path, header = model
    failures = []
    for name, data, cut in generated_cases(key, header, GENERATED[key]):
        source = SplicedSource(data, header, path)
        if cut is not None:
            source.size = min(source.size, cut)
        outcome = run_case("gguf", f"{key}/{name}", lambda: load_and_step(source),
                           seconds=SECONDS[key], memory=MEMORY)
        if not outcome.clean:
            failures.append(str(outcome))
    assert not failures, "\n".join(failures)


def test_corrupted_weights(model):
    """Tensor data overwritten (NaN, inf and random bytes over scales and values) in tensors
    chosen by a seeded generator: the model loads and steps, or reports non-finite logits;
    numpy never warns on the way."""
    key, path, header = model
    rng = np.random.default_rng(zlib.crc32(f"fuzz-weights {key}".encode()))
    tensors = GGUFFile.open(SplicedSource(header.data, header, path)).tensors
    names = sorted(tensors)
    fills = {"NaN": b"\xff" * 512, "inf": struct.pack("<H", 0x7C00) * 256,
             "random": lambda: rng.integers(0, 256, 512, dtype=np.uint8).tobytes()}
    failures = []
    for i in range(CORRUPTED_TENSORS):
        name = names[rng.integers(len(names))]
        kind = list(fills)[i % len(fills)]
        fill = fills[kind]() if callable(fills[kind]) else fills[kind]
        source = SplicedSource(header.data, header, path)
        info = tensors[name]
        source.patch(info.offset, fill[:info.nbytes])
        outcome = run_case("gguf", f"{key}/{kind} over {name}", lambda: load_and_step(source),
                           seconds=SECONDS[key], memory=MEMORY)
        if not outcome.clean:
            failures.append(str(outcome))
    assert not failures, "\n".join(failures)
