"""Safetensors reader over a ByteSource, and sharded checkpoints through their index.

Layout (https://github.com/huggingface/safetensors, README "Format"):

    u64 n (little-endian) | n bytes of UTF-8 JSON header | tensor data
    header = {"__metadata__": {str: str}?, NAME: {"dtype": "F32"|"F16"|"BF16"|...,
              "shape": [int, ...], "data_offsets": [begin, end]}, ...}

Offsets are relative to the first byte after the header, in row-major order; tensors may not
overlap. Like the GGUF reader, only the header is read at open, every number is checked against
the bytes the source has before anything is allocated, and tensor bytes are read when asked for.
A sharded checkpoint's `model.safetensors.index.json` maps each tensor to its shard file.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import CheckpointError, UnsupportedError
from ..sources import ByteSource
from .files import FileSet, check_file_name, read_json

MAX_HEADER_BYTES = 100_000_000     # the safetensors library's own limit on the JSON header
INDEX_FILE, SINGLE_FILE = "model.safetensors.index.json", "model.safetensors"

# dtype name -> numpy dtype the bytes are viewed as (BF16 as its uint16 bit patterns)
DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}
_ALL_DTYPES = ("F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL",
               "F8_E4M3", "F8_E5M2")


@dataclass(frozen=True)
class SafeTensor:
    name: str
    dtype: str                 # "F32" | "F16" | "BF16"
    shape: tuple[int, ...]     # numpy (row-major) order, e.g. (49152, 576)
    offset: int                # absolute byte offset in the source
    nbytes: int


class SafetensorsFile:
    """One .safetensors file: its header parsed, tensor bytes read on demand."""

    def __init__(self, source: ByteSource, tensors: dict[str, SafeTensor], metadata: dict):
        self.source = source
        self.tensors = tensors         # in header order
        self.metadata = metadata       # "__metadata__" (str -> str), {} when absent

    @classmethod
    def open(cls, source: ByteSource) -> "SafetensorsFile":
        name = source.name
        if source.size < 8:
            raise CheckpointError(f"{name}: {source.size} bytes is too short for a safetensors file")
        (n,) = struct.unpack("<Q", bytes(source.read(0, 8)))
        if n > min(MAX_HEADER_BYTES, source.size - 8):
            raise CheckpointError(f"{name}: header length {n} at offset 0 exceeds the "
                                  f"{min(MAX_HEADER_BYTES, source.size - 8)} bytes available "
                                  "(not a safetensors file, or truncated)")
        try:
            header = json.loads(bytes(source.read(8, n)).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise CheckpointError(f"{name}: the header is not valid JSON ({getattr(e, 'msg', e)})") \
                from None
        if not isinstance(header, dict):
            raise CheckpointError(f"{name}: the header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict):
            raise CheckpointError(f"{name}: '__metadata__' is not an object")
        data_start, data_size = 8 + n, source.size - 8 - n
        tensors = {key: _tensor(name, key, entry, data_start, data_size)
                   for key, entry in header.items()}
        _check_no_overlap(name, tensors.values())
        return cls(source, tensors, metadata)

    def tensor_bytes(self, name: str):
        info = self.tensors[name]
        return self.source.read(info.offset, info.nbytes)

    def array(self, name: str) -> np.ndarray:
        """A read-only view (a copy for unaligned bytes) of the tensor, in its dtype (BF16: uint16)."""
        info = self.tensors[name]
        raw = self.tensor_bytes(name)
        return np.frombuffer(raw, DTYPES[info.dtype]).reshape(info.shape)

    def release(self, name: str) -> None:
        release = getattr(self.source, "release", None)
        if release is not None:
            info = self.tensors[name]
            release(info.offset, info.nbytes)


def _tensor(file: str, key: str, entry, data_start: int, data_size: int) -> SafeTensor:
    where = f"{file}: tensor {key!r}"
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise CheckpointError(f"{where}: expected an object with dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        known = dtype in _ALL_DTYPES
        raise (UnsupportedError if known else CheckpointError)(
            f"{where}: dtype {dtype!r} is {'not supported' if known else 'unknown'} "
            f"(supported: {', '.join(DTYPES)})")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise CheckpointError(f"{where}: shape {shape!r} is not a list of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        raise CheckpointError(f"{where}: data_offsets {offsets!r} is not [begin, end]")
    begin, end = offsets
    nbytes = math.prod(shape) * DTYPES[dtype].itemsize
    if end - begin != nbytes:
        raise CheckpointError(f"{where}: data_offsets [{begin}, {end}) hold {end - begin} bytes, "
                              f"but {dtype} of shape {tuple(shape)} needs {nbytes}")
    if end > data_size:
        raise CheckpointError(f"{where}: data [{begin}, {end}) runs past the {data_size} bytes of "
                              "tensor data (truncated file?)")
    return SafeTensor(key, dtype, tuple(shape), data_start + begin, nbytes)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_no_overlap(file: str, tensors) -> None:
    ordered = sorted((t for t in tensors if t.nbytes), key=lambda t: t.offset)
    for a, b in zip(ordered, ordered[1:]):
        if b.offset < a.offset + a.nbytes:
            raise CheckpointError(f"{file}: tensors {a.name!r} and {b.name!r} overlap")


class SafetensorsCheckpoint:
    """All the weights of a checkpoint: one model.safetensors, or the shards its index names."""

    def __init__(self, files: FileSet):
        self.name = files.name
        index = read_json(files, INDEX_FILE, required=False)
        if index is None:
            if files.open(SINGLE_FILE) is None:
                raise CheckpointError(f"{files.name}: neither {SINGLE_FILE} nor {INDEX_FILE} "
                                      "is there")
            shard_of = None
            shard_names = [SINGLE_FILE]
        else:
            weight_map = index.get("weight_map") if isinstance(index, dict) else None
            if not isinstance(weight_map, dict) or not all(isinstance(v, str)
                                                           for v in weight_map.values()):
                raise CheckpointError(f"{files.name}/{INDEX_FILE}: 'weight_map' is not an object "
                                      "of tensor name -> file name")
            shard_of = {k: check_file_name(v, f"{files.name}/{INDEX_FILE}")
                        for k, v in weight_map.items()}
            shard_names = list(dict.fromkeys(shard_of.values()))
        self.shards: dict[str, SafetensorsFile] = {}
        for shard in shard_names:
            source = files.open(shard)
            if source is None:
                raise CheckpointError(f"{files.name}: shard {shard} named by {INDEX_FILE} is missing")
            self.shards[shard] = SafetensorsFile.open(source)
        self.tensors: dict[str, tuple[SafetensorsFile, SafeTensor]] = {}
        for shard, st in self.shards.items():
            for key, info in st.tensors.items():
                if shard_of is not None and shard_of.get(key) != shard:
                    continue      # the index says where each tensor lives
                if key in self.tensors:
                    raise CheckpointError(f"{files.name}: tensor {key!r} is in two shards")
                self.tensors[key] = (st, info)
        if shard_of is not None:
            missing = sorted(k for k in shard_of if k not in self.tensors)
            if missing:
                raise CheckpointError(f"{files.name}: tensor {missing[0]!r} is not in "
                                      f"{shard_of[missing[0]]}, where {INDEX_FILE} puts it")

    def info(self, name: str) -> SafeTensor:
        return self.tensors[name][1]

    def array(self, name: str) -> np.ndarray:
        st, _ = self.tensors[name]
        return st.array(name)

    def release(self, name: str) -> None:
        st, _ = self.tensors[name]
        st.release(name)
