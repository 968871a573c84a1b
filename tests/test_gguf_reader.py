"""GGUF reader against gguf-py: its writer makes the files, its GGUFReader is the reference.

Small files cover every value type, versions, alignment and header growth; malformed
copies (truncated at every byte, corrupted fields) must raise GGUFError fast; the two
real models must match GGUFReader key for key and tensor for tensor.
"""

import random
import struct
import time

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType
from gguf.constants import GGML_QUANT_SIZES

from gguf_fixtures import EVERY_VALUE_TYPE, random_blocks, write_gguf
from minfer_wasm import gguf as gguf_module
from minfer_wasm.errors import GGUFError, UnsupportedError
from minfer_wasm.ggml_types import GGML_TYPE_INFO
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.native.model_store import KNOWN_MODELS, model_path
from minfer_wasm.sources import BytesSource, FileSource

NUMPY_OF = {
    GGUFValueType.UINT8: np.uint8, GGUFValueType.INT8: np.int8,
    GGUFValueType.UINT16: np.uint16, GGUFValueType.INT16: np.int16,
    GGUFValueType.UINT32: np.uint32, GGUFValueType.INT32: np.int32,
    GGUFValueType.UINT64: np.uint64, GGUFValueType.INT64: np.int64,
    GGUFValueType.FLOAT32: np.float32, GGUFValueType.FLOAT64: np.float64,
    GGUFValueType.BOOL: np.bool_,
}


class PlainReader(GGUFReader):
    """GGUFReader over a plain ndarray view of its memmap: same bytes, same parse, ~4x
    faster (slicing an np.memmap subclass per field dominates its time on 262k-token vocabs)."""

    def __setattr__(self, name, value):
        super().__setattr__(name, value.view(np.ndarray) if name == "data" else value)


def expected(value, vtype, sub=None):
    """What the reader must return for a value written by GGUFWriter."""
    if vtype == GGUFValueType.ARRAY:
        if sub == GGUFValueType.STRING:
            return list(value)
        if sub == GGUFValueType.ARRAY:  # inner types inferred by gguf-py (int -> int32)
            return [expected(v, GGUFValueType.ARRAY, GGUFValueType.get_type(v[0])) for v in value]
        return np.array(value, dtype=NUMPY_OF[sub])
    if vtype == GGUFValueType.FLOAT32:
        return float(np.float32(value))
    if vtype == GGUFValueType.STRING:
        return value.decode() if isinstance(value, bytes) else value
    return value


def assert_same(ours, want, where):
    if isinstance(want, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.dtype == want.dtype, where
        np.testing.assert_array_equal(ours, want, err_msg=where)
    elif isinstance(want, list):
        assert isinstance(ours, list) and len(ours) == len(want), where
        for i, (a, b) in enumerate(zip(ours, want)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert type(ours) is type(want) and ours == want, (where, ours, want)


def assert_matches_reference(g: GGUFFile, path, n_bytes_checked=None):
    """Compare metadata, tensor table and tensor bytes with gguf-py's GGUFReader."""
    ref = PlainReader(path)
    keys = [k for k in ref.fields if not k.startswith("GGUF.")]
    assert list(g.metadata) == keys
    for key in keys:
        field = ref.fields[key]
        if field.types[:2] == [GGUFValueType.ARRAY, GGUFValueType.ARRAY]:
            continue  # GGUFReader.contents() flattens nested arrays; covered by test_every_value_type
        want = field.contents()
        if field.types[0] == GGUFValueType.ARRAY and field.types[-1] != GGUFValueType.STRING:
            want = np.array(want, dtype=NUMPY_OF[field.types[-1]])
        assert_same(g.metadata[key], want, key)
    assert g.alignment == ref.alignment and g.data_offset == ref.data_offset
    assert list(g.tensors) == [t.name for t in ref.tensors]
    for i, t in enumerate(ref.tensors):
        info = g.tensors[t.name]
        assert info.ggml_type == int(t.tensor_type)
        assert info.shape == tuple(int(d) for d in reversed(t.shape))
        assert (info.offset, info.nbytes) == (t.data_offset, t.n_bytes)
        if n_bytes_checked is None or i < n_bytes_checked or i == len(ref.tensors) - 1:
            assert bytes(g.tensor_bytes(t.name)) == t.data.tobytes(), t.name


def small_tensors(rng):
    return {
        "ta": rng.standard_normal((3, 8)).astype(np.float32),
        "tb": rng.standard_normal((2, 4, 8)).astype(np.float16),
        "tq8": (random_blocks(rng, GGMLQuantizationType.Q8_0, 4, 64), GGMLQuantizationType.Q8_0),
        "tq4k": (random_blocks(rng, GGMLQuantizationType.Q4_K, 2, 256), GGMLQuantizationType.Q4_K),
        "tc": np.arange(5, dtype=np.int32),
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "small.gguf"
    return write_gguf(path, EVERY_VALUE_TYPE, small_tensors(np.random.default_rng(0)))


def test_ggml_type_table_matches_gguf_py():
    assert {t: (i.block_size, i.type_size) for t, i in GGML_TYPE_INFO.items()} == \
        {int(t): s for t, s in GGML_QUANT_SIZES.items()}
    assert all(GGML_TYPE_INFO[int(t)].name == t.name for t in GGML_QUANT_SIZES)


def test_every_value_type(small):
    g = GGUFFile.open(FileSource(small))
    assert g.version == 3 and g.alignment == 32
    assert set(g.metadata) == set(EVERY_VALUE_TYPE) | {"general.architecture"}
    assert g.metadata["general.architecture"] == "llama"
    for key, spec in EVERY_VALUE_TYPE.items():
        assert_same(g.metadata[key], expected(*spec), key)


def test_small_file_matches_reference(small):
    g = GGUFFile.open(FileSource(small))
    assert_matches_reference(g, small)
    assert g.tensors["tb"].shape == (2, 4, 8) and g.tensors["tq8"].shape == (4, 64)


def test_bytes_source_agrees_with_file_source(small):
    a = GGUFFile.open(FileSource(small))
    b = GGUFFile.open(BytesSource(small.read_bytes(), name="mem"))
    assert b.tensors == a.tensors and b.data_offset == a.data_offset
    for key in a.metadata:
        assert_same(b.metadata[key], a.metadata[key], key)
    assert bytes(b.tensor_bytes("tq4k")) == bytes(a.tensor_bytes("tq4k"))


class CountingSource(BytesSource):
    def __init__(self, data):
        super().__init__(data, name="counted.gguf")
        self.reads = []

    def read(self, offset, length):
        self.reads.append((offset, length))
        return super().read(offset, length)


@pytest.mark.parametrize("first_read", [1, 16, 100, 1000])
def test_header_grows_by_doubling(small, monkeypatch, first_read):
    reference = GGUFFile.open(FileSource(small))
    monkeypatch.setattr(gguf_module, "FIRST_READ", first_read)
    source = CountingSource(small.read_bytes())
    g = GGUFFile.open(source)
    assert source.reads[0] == (0, first_read)
    ends = [o + n for o, n in source.reads]
    assert ends == sorted(ends) and ends[-1] <= max(first_read, 2 * g.data_offset)
    assert sum(n for _, n in source.reads) == ends[-1]  # no byte fetched twice
    assert g.tensors == reference.tensors
    for key in reference.metadata:
        assert_same(g.metadata[key], reference.metadata[key], key)


def test_header_longer_than_first_read(tmp_path):
    tokens = [f"tok{i}\u00e9" for i in range(120_000)]  # ~1.9 MB of strings
    scores = [float(i) for i in range(70_000)]
    path = write_gguf(tmp_path / "big.gguf", {
        "tokenizer.ggml.tokens": (tokens, GGUFValueType.ARRAY, GGUFValueType.STRING),
        "tokenizer.ggml.scores": (scores, GGUFValueType.ARRAY, GGUFValueType.FLOAT32),
    }, {"w": np.ones((2, 32), np.float32)})
    source = CountingSource(path.read_bytes())
    g = GGUFFile.open(source)
    assert len(source.reads) > 1 and g.data_offset > gguf_module.FIRST_READ
    assert g.metadata["tokenizer.ggml.tokens"] == tokens
    np.testing.assert_array_equal(g.metadata["tokenizer.ggml.scores"], np.float32(scores))
    assert bytes(g.tensor_bytes("w")) == np.ones((2, 32), np.float32).tobytes()


def test_version_2_and_custom_alignment(tmp_path):
    rng = np.random.default_rng(1)
    path = write_gguf(tmp_path / "a.gguf", {"k": "v"}, small_tensors(rng), alignment=64)
    g = GGUFFile.open(FileSource(path))
    assert g.alignment == 64 and g.metadata["general.alignment"] == 64
    assert g.data_offset % 64 == 0 and all(t.offset % 64 == 0 for t in g.tensors.values())
    assert_matches_reference(g, path)
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", 2)  # v2 and v3 share the layout on little-endian files
    g2 = GGUFFile.open(BytesSource(data))
    assert g2.version == 2 and g2.tensors == g.tensors


def test_no_tensors(tmp_path):
    g = GGUFFile.open(FileSource(write_gguf(tmp_path / "e.gguf")))
    assert g.tensors == {} and g.metadata == {"general.architecture": "llama"}


@pytest.mark.parametrize("version, error", [
    (b"\x01\x00\x00\x00", UnsupportedError), (b"\x00\x00\x00\x03", UnsupportedError),
    (b"\x00\x00\x00\x00", GGUFError), (b"\x04\x00\x00\x00", GGUFError), (b"\xef\xbe\xad\xde", GGUFError),
])
def test_unsupported_versions(small, version, error):
    data = bytearray(small.read_bytes())
    data[4:8] = version
    with pytest.raises(error, match="x.gguf.*version|x.gguf.*big-endian"):
        GGUFFile.open(BytesSource(data, name="x.gguf"))


def test_tensor_bytes_errors(small):
    g = GGUFFile.open(FileSource(small))
    with pytest.raises(GGUFError, match="no tensor named 'nope'"):
        g.tensor_bytes("nope")


# ---- malformed files ------------------------------------------------------------------

def string_at(data: bytes, text: str) -> int:
    """Offset of the u64 length prefix of the GGUF string `text` (which occurs once)."""
    needle = struct.pack("<Q", len(text.encode())) + text.encode()
    assert data.count(needle) == 1, text
    return data.index(needle)


def after_string(data, text):
    return string_at(data, text) + 8 + len(text.encode())


def put(data, offset, fmt, value):
    data[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, value)


def open_fast(data, name="bad.gguf") -> float:
    start = time.perf_counter()
    GGUFFile.open(BytesSource(bytes(data), name=name))
    return time.perf_counter() - start


def test_truncated_at_every_header_byte_and_in_the_data(small):
    data = small.read_bytes()
    g = GGUFFile.open(FileSource(small))
    data_end = max(t.offset + t.nbytes for t in g.tensors.values())  # padding after it is optional
    cuts = list(range(g.data_offset + 1)) + list(range(g.data_offset + 1, data_end, 7))
    slowest = 0.0
    for cut in cuts:
        start = time.perf_counter()
        with pytest.raises(GGUFError, match=r"^cut\.gguf: .* at offset \d+"):
            GGUFFile.open(BytesSource(data[:cut], name="cut.gguf"))
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 0.5
    assert GGUFFile.open(BytesSource(data[:data_end])).tensors == g.tensors


def tensor_field(data, name, n_dims, field):
    """Offset of a tensor-info field: 'n_dims', 'ne', 'type' or 'offset'."""
    at = after_string(data, name)
    return {"n_dims": at, "ne": at + 4, "type": at + 4 + 8 * n_dims, "offset": at + 8 + 8 * n_dims}[field]


CORRUPTIONS = {
    # name: (mutate(data), message pattern)
    "wrong magic": (lambda d: d.__setitem__(slice(0, 4), b"GGML"), "not a GGUF file: magic"),
    "n_tensors 2^62": (lambda d: put(d, 8, "<Q", 2**62), "count 4611686018427387904 .* tensor count"),
    "n_kv 2^62": (lambda d: put(d, 16, "<Q", 2**62), "metadata count"),
    "key length 2^60": (lambda d: put(d, string_at(d, "t.int8"), "<Q", 2**60), "key of metadata entry #2"),
    "string length 2^60": (lambda d: put(d, after_string(d, "t.string") + 4, "<Q", 2**60),
                           "'t.string'"),
    "array count 2^62": (lambda d: put(d, after_string(d, "t.arr_uint32") + 8, "<Q", 2**62),
                         "'t.arr_uint32'"),
    "string array count 2^62": (lambda d: put(d, after_string(d, "t.arr_string") + 8, "<Q", 2**62),
                                "'t.arr_string'"),
    "nested array count 2^62": (lambda d: put(d, after_string(d, "t.arr_nested") + 8, "<Q", 2**62),
                                "'t.arr_nested'"),
    "inner array count 2^62": (lambda d: put(d, after_string(d, "t.arr_nested") + 20, "<Q", 2**62),
                               r"'t.arr_nested'\[0\]"),
    "string length 2^60 inside an array": (
        lambda d: put(d, after_string(d, "t.arr_string") + 16, "<Q", 2**60), r"'t.arr_string'\[0\]"),
    "unknown value type": (lambda d: put(d, after_string(d, "t.int16"), "<I", 13),
                           "unknown value type 13 in metadata 't.int16'"),
    "unknown array element type": (lambda d: put(d, after_string(d, "t.arr_int8") + 4, "<I", 99),
                                   "unknown array element type 99 in metadata 't.arr_int8'"),
    "invalid utf-8 in key": (lambda d: d.__setitem__(string_at(d, "t.uint16") + 8, 0xFF), "UTF-8"),
    "invalid utf-8 in string array": (
        lambda d: d.__setitem__(after_string(d, "t.arr_string") + 24, 0xC3), r"UTF-8.*'t.arr_string'\[0\]"),
    "duplicate key": (lambda d: d.__setitem__(slice(string_at(d, "t.int16") + 8, after_string(d, "t.int16")),
                                              b"t.uint8"), "duplicate key in metadata 't.uint8'"),
    "duplicate tensor name": (lambda d: d.__setitem__(string_at(d, "tb") + 9, ord("a")),
                              "duplicate tensor name in tensor 'ta'"),
    "n_dims 1000": (lambda d: put(d, tensor_field(d, "ta", 2, "n_dims"), "<I", 1000),
                    "n_dims 1000 exceeds 4 in tensor 'ta'"),
    "dims overflow int64": (lambda d: put(d, tensor_field(d, "tb", 3, "ne") + 8, "<Q", 2**62),
                            "overflow int64 in tensor 'tb'"),
    "row not a multiple of the block": (lambda d: put(d, tensor_field(d, "tq8", 2, "ne"), "<Q", 33),
                                        "not a multiple of the Q8_0 block size 32 in tensor 'tq8'"),
    "tensor data past EOF (dims)": (lambda d: put(d, tensor_field(d, "tc", 1, "ne"), "<Q", 10**9),
                                    "runs past the end .* in tensor 'tc'"),
    "tensor data past EOF (offset)": (lambda d: put(d, tensor_field(d, "ta", 2, "offset"), "<Q", 2**40),
                                      "runs past the end .* in tensor 'ta'"),
    "unaligned tensor offset": (lambda d: put(d, tensor_field(d, "tb", 3, "offset"), "<Q", 100),
                                "not a multiple of the alignment 32 in tensor 'tb'"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupt_fields(small, case):
    mutate, pattern = CORRUPTIONS[case]
    data = bytearray(small.read_bytes())
    mutate(data)
    with pytest.raises(GGUFError, match=rf"^bad\.gguf: .*{pattern}.* at offset \d+"):
        took = open_fast(data)
        pytest.fail(f"parsed in {took:.3f}s")


@pytest.mark.parametrize("value, vtype, pattern", [
    (0, GGUFValueType.UINT32, "alignment 0 is not a power of two"),
    (48, GGUFValueType.UINT32, "alignment 48 is not a power of two"),
    (64, GGUFValueType.UINT64, r"value type 10 \(expected uint32\)"),
])
def test_bad_alignment(tmp_path, value, vtype, pattern):
    path = write_gguf(tmp_path / "al.gguf", {"general.alignment": (value, vtype)})
    with pytest.raises(GGUFError, match=rf"al\.gguf: {pattern} in metadata 'general.alignment' at offset"):
        GGUFFile.open(FileSource(path))


def test_arrays_nested_too_deep():
    # one key whose value is 100 arrays nested inside each other
    body = struct.pack("<Q", 1) + b"k" + struct.pack("<I", 9)
    body += struct.pack("<IQ", 9, 1) * 100 + struct.pack("<IQ", 0, 0)
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + body
    with pytest.raises(GGUFError, match=r"nested deeper than 8 in metadata 'k'"):
        GGUFFile.open(BytesSource(data, name="deep.gguf"))


def test_unknown_ggml_type_parses_but_does_not_load(small):
    data = bytearray(small.read_bytes())
    put(data, tensor_field(data, "tq8", 2, "type"), "<I", 99)
    g = GGUFFile.open(BytesSource(data, name="u.gguf"))
    assert g.tensors["tq8"].ggml_type == 99 and g.tensors["tq8"].nbytes == 0
    assert bytes(g.tensor_bytes("ta")) == bytes(GGUFFile.open(FileSource(small)).tensor_bytes("ta"))
    with pytest.raises(UnsupportedError, match="u.gguf: tensor 'tq8' has unknown type 99"):
        g.tensor_bytes("tq8")


# ---- real models ------------------------------------------------------------------------

@pytest.fixture(scope="module", params=sorted(KNOWN_MODELS))
def real_model(request):
    path = model_path(KNOWN_MODELS[request.param])
    if not path.exists():
        pytest.skip(f"{path} not downloaded (minfer-wasm models pull {request.param})")
    return path


def test_real_model_matches_gguf_reader(real_model):
    """GGUFReader takes ~2 s (SmolLM2) and ~10 s (gemma-3, 262k tokens) to parse: the
    slowest test here, and the only independent check of a real vocabulary."""
    g = GGUFFile.open(FileSource(real_model))
    assert_matches_reference(g, real_model, n_bytes_checked=3)


def test_real_model_header_opens_fast(real_model):
    start = time.perf_counter()
    g = GGUFFile.open(FileSource(real_model))
    took = time.perf_counter() - start
    assert took < 2.0, f"{real_model.name}: header took {took:.2f}s"  # typically 0.05-0.25 s
    assert len(g.metadata["tokenizer.ggml.tokens"]) >= 49152


def test_random_corruptions_raise_only_typed_errors(small):
    """2000 seeded random mutations of the header: each either parses (and its tensors
    read or raise UnsupportedError) or raises GGUFError/UnsupportedError; never anything else."""
    data = small.read_bytes()
    header_end = GGUFFile.open(FileSource(small)).data_offset
    rng = random.Random(2)
    outcomes = {"ok": 0, "GGUFError": 0, "UnsupportedError": 0}
    for _ in range(2000):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(header_end)
            word = rng.choice([0, 1, 2**32 - 1, 2**60, 2**63, 2**64 - 1, rng.randrange(2**64)])
            bad[at:at + 8] = word.to_bytes(8, "little") if rng.random() < 0.5 else bytes([word & 0xFF])
        try:
            g = GGUFFile.open(BytesSource(bytes(bad[:len(data)]), name="fuzz.gguf"))
            for name in g.tensors:
                try:
                    g.tensor_bytes(name)
                except UnsupportedError:
                    pass
            outcomes["ok"] += 1
        except (GGUFError, UnsupportedError) as e:
            assert str(e).startswith("fuzz.gguf: ")
            outcomes[type(e).__name__] += 1
    assert outcomes["GGUFError"] > 1000 and outcomes["ok"] > 0, outcomes
