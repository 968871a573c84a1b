"""Safetensors reader: tensors read back as written (F32, F16, BF16), over mmap, memory and HTTP
Range; sharded checkpoints through their index; malformed headers fail with one clear line."""

import json
import struct

import numpy as np
import pytest
from hf_fixtures import safetensors_bytes, to_bf16
from test_sources import LocalServer

from minfer_wasm.errors import CheckpointError, UnsupportedError
from minfer_wasm.hf import FolderFiles, MemoryFiles
from minfer_wasm.hf.safetensors import SafetensorsCheckpoint, SafetensorsFile
from minfer_wasm.native.http_source import HttpRangeSource, UrlFiles
from minfer_wasm.sources import BytesSource, FileSource


def sample_arrays(seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"a.weight": rng.standard_normal((5, 3)).astype(np.float32),
            "b.half": rng.standard_normal((4,)).astype(np.float16),
            "c.bf16": to_bf16(rng.standard_normal((2, 8)).astype(np.float32)),
            "d.empty": np.zeros((0, 4), np.float32)}


def check_roundtrip(st: SafetensorsFile, arrays: dict[str, np.ndarray]) -> None:
    assert list(st.tensors) == list(arrays)
    for name, want in arrays.items():
        got = st.array(name)
        assert got.shape == want.shape and got.dtype == want.dtype.newbyteorder("<")
        assert np.array_equal(got, want)


def test_reads_back_every_dtype_from_memory_and_mmap(tmp_path):
    arrays = sample_arrays()
    data = safetensors_bytes(arrays, metadata={"format": "pt"})
    check_roundtrip(SafetensorsFile.open(BytesSource(data)), arrays)
    (tmp_path / "m.safetensors").write_bytes(data)
    st = SafetensorsFile.open(FileSource(tmp_path / "m.safetensors"))
    check_roundtrip(st, arrays)
    assert st.metadata == {"format": "pt"}
    assert st.tensors["c.bf16"].dtype == "BF16"


def test_reads_over_http_range():
    arrays = sample_arrays(3)
    server = LocalServer()       # tests/test_sources.py: honours Range, 404 for other paths
    try:
        server.httpd.files["/ckpt/model.safetensors"] = safetensors_bytes(arrays)
        remote = HttpRangeSource(server.url("/ckpt/model.safetensors"), chunk_size=64)
        check_roundtrip(SafetensorsFile.open(remote), arrays)
        files = UrlFiles(server.url("/ckpt/"))
        assert files.open("config.json") is None          # a 404 is an absent file
        ckpt = SafetensorsCheckpoint(files)
        assert np.array_equal(ckpt.array("a.weight"), arrays["a.weight"])
    finally:
        server.close()


def test_sharded_checkpoint_through_its_index(tmp_path):
    arrays = sample_arrays(11)
    names = list(arrays)
    shard1, shard2 = {k: arrays[k] for k in names[:2]}, {k: arrays[k] for k in names[2:]}
    (tmp_path / "s1.safetensors").write_bytes(safetensors_bytes(shard1))
    (tmp_path / "s2.safetensors").write_bytes(safetensors_bytes(shard2))
    weight_map = {k: "s1.safetensors" for k in shard1} | {k: "s2.safetensors" for k in shard2}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    ckpt = SafetensorsCheckpoint(FolderFiles(tmp_path))
    assert sorted(ckpt.tensors) == sorted(names)
    for name in names:
        assert np.array_equal(ckpt.array(name), arrays[name])
    weight_map["a.weight"] = "s2.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(CheckpointError, match="'a.weight' is not in s2.safetensors"):
        SafetensorsCheckpoint(FolderFiles(tmp_path))
    weight_map["a.weight"] = "../s1.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(CheckpointError, match="not a plain file name"):
        SafetensorsCheckpoint(FolderFiles(tmp_path))
    weight_map["a.weight"] = "s3.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(CheckpointError, match="shard s3.safetensors named by .* is missing"):
        SafetensorsCheckpoint(FolderFiles(tmp_path))


def with_header(header: dict, data: bytes = b"\0" * 64) -> BytesSource:
    text = json.dumps(header).encode()
    return BytesSource(struct.pack("<Q", len(text)) + text + data, "bad.safetensors")


@pytest.mark.parametrize("source,error,message", [
    (BytesSource(b"\1\2\3", "bad.safetensors"), CheckpointError, "too short"),
    (BytesSource(struct.pack("<Q", 1 << 62) + b"{}", "bad.safetensors"), CheckpointError,
     "header length 4611686018427387904 at offset 0 exceeds the 2 bytes"),
    (BytesSource(struct.pack("<Q", 3) + b"{x}", "bad.safetensors"), CheckpointError, "not valid JSON"),
    (BytesSource(struct.pack("<Q", 2) + b"[]", "bad.safetensors"), CheckpointError, "not a JSON object"),
    (with_header({"t": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}}), UnsupportedError,
     "dtype 'I64' is not supported"),
    (with_header({"t": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 16]}}), CheckpointError,
     "dtype 'Q9' is unknown"),
    (with_header({"t": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 8]}}), CheckpointError,
     "not a list of non-negative integers"),
    (with_header({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}), CheckpointError,
     r"hold 8 bytes, but F32 of shape \(3,\) needs 12"),
    (with_header({"t": {"dtype": "F32", "shape": [32], "data_offsets": [0, 128]}}), CheckpointError,
     "runs past the 64 bytes of tensor data"),
    (with_header({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                  "u": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}), CheckpointError,
     "'t' and 'u' overlap"),
    (with_header({"t": {"dtype": "F32", "shape": [4]}}), CheckpointError,
     "expected an object with dtype, shape and data_offsets"),
])
def test_malformed_headers_fail_with_a_clear_message(source, error, message):
    with pytest.raises(error, match=message) as info:
        SafetensorsFile.open(source)
    assert "\n" not in str(info.value) and str(info.value).startswith("bad.safetensors")


def test_missing_weights_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="neither model.safetensors nor model.safetensors.index.json"):
        SafetensorsCheckpoint(MemoryFiles({}, "empty"))
