"""A Hugging Face checkpoint presented to the engine as a GGUFFile.

HFCheckpoint has what Engine, Model and the tokenizer read from a GGUFFile: `metadata` with the
GGUF keys llama.cpp's converter writes (arch_map.py, tokenizer_json.py), `tensors` with GGUF
names, shapes and the type each tensor is loaded as, and `tensor_bytes(name)`, which reads the
Safetensors weights, applies the converter's changes (rope permutation, gemma's 1 + w norms) and
quantizes them to that type (quants/quantize.py) one tensor at a time. So a float checkpoint
takes the memory of a GGUF of the chosen type, and `convert` writes these very tensors.

Tensor types follow convert_hf_to_gguf.py `prepare_tensors`: vectors, norms and biases stay F32;
every other matrix gets the chosen type, or F16 when its rows are not whole blocks of it.
`none` keeps F32 and F16 weights as they are and widens BF16 to F32 (exact; F16 could not hold
BF16's range).
"""

from __future__ import annotations

import numpy as np

from ..errors import CheckpointError
from ..gguf import TensorInfo
from ..ggml_types import row_nbytes
from ..quants.floats import F16, F32
from ..quants.quantize import QUANTIZE_TYPES, quantize, type_for
from ..quants.registry import lookup
from .arch_map import extra_tensors, gguf_arch, model_metadata, tensor_plans
from .files import FileSet, read_json
from .safetensors import SafetensorsCheckpoint
from .tokenizer_json import tokenizer_metadata

QUANTIZE_CHOICES = ("none",) + QUANTIZE_TYPES
SLAB_WEIGHTS = 1 << 22       # weights converted at a time (16 MiB of float32)
# llama_ftype of a file whose matrices have the type (general.file_type)
_FILE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q4_k": 15}


def is_checkpoint(obj) -> bool:
    """True for a FileSet (a checkpoint's files), False for a ByteSource (one GGUF file)."""
    return callable(getattr(obj, "open", None)) and not hasattr(obj, "read")


class _Name:
    """What GGUFFile.source offers to error messages: a name."""

    def __init__(self, name: str):
        self.name = name


class HFCheckpoint:
    """config.json + tokenizer files + Safetensors weights, read as a GGUFFile would be."""

    def __init__(self, files: FileSet, quantize_to: str = "none"):
        if quantize_to not in QUANTIZE_CHOICES:
            raise CheckpointError(f"unknown quantization {quantize_to!r} "
                                  f"(supported: {', '.join(QUANTIZE_CHOICES)})")
        self.source = _Name(files.name)
        where = f"{files.name}/config.json"
        config = read_json(files, "config.json")
        if not isinstance(config, dict):
            raise CheckpointError(f"{where}: not a JSON object")
        arch = gguf_arch(config, where)
        metadata = model_metadata(config, arch, where)
        self.weights = SafetensorsCheckpoint(files)
        plans = tensor_plans(self.weights.tensors, metadata, files.name)
        self._plans = {p.gguf_name: p for p in plans}
        if len(self._plans) != len(plans):
            raise CheckpointError(f"{files.name}: two tensors map to the same GGUF name")
        self._extra = extra_tensors(config, metadata)      # name -> (head_dim/2,) f32
        metadata |= tokenizer_metadata(files, config)
        dtypes = {self.weights.info(p.hf_name).dtype for p in plans}
        file_type = quantize_to if quantize_to != "none" else ("f16" if dtypes == {"F16"} else "f32")
        metadata["general.file_type"] = _FILE_TYPES[file_type]
        self.metadata = metadata
        self.tensors: dict[str, TensorInfo] = {}
        for p in plans:
            info = self.weights.info(p.hf_name)
            self._add(p.gguf_name, info.shape, self._type_of(p.gguf_name, info, quantize_to))
        for name, values in self._extra.items():
            self._add(name, values.shape, F32)

    def _add(self, name: str, shape: tuple[int, ...], qtype) -> None:
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        nbytes = rows * row_nbytes(qtype.type_id, shape[-1])
        self.tensors[name] = TensorInfo(name, qtype.type_id, tuple(shape), 0, nbytes)

    @staticmethod
    def _type_of(name: str, info, quantize_to: str):
        if len(info.shape) < 2 or name.endswith("_norm.weight") or not name.endswith(".weight"):
            return F32
        if quantize_to == "none":
            return F16 if info.dtype == "F16" else F32
        qtype = type_for(quantize_to)
        return qtype if info.shape[-1] % qtype.block_size == 0 else F16

    def float_weights(self, name: str, rows: slice = slice(None)) -> np.ndarray:
        """The tensor (or some of its rows) as float32 after the converter's changes."""
        if name in self._extra:
            return self._extra[name]
        plan = self._plans.get(name)
        if plan is None:
            raise CheckpointError(f"{self.source.name}: no tensor named {name!r}")
        values = self.weights.array(plan.hf_name)
        values = values[rows] if values.ndim > 1 else values
        if self.weights.info(plan.hf_name).dtype == "BF16":     # widened by a 16-bit shift (exact)
            values = (values.astype(np.uint32) << 16).view(np.float32)
        values = values.astype(np.float32)
        return plan.transform(values) if plan.transform else values

    def tensor_bytes(self, name: str) -> np.ndarray:
        """The tensor in its loaded type, as GGUF bytes: (nbytes,) uint8. Matrices without a
        transform are converted a slab of rows at a time, so a float32 copy of a large
        embedding never exists at once."""
        info = self.tensors.get(name)
        if info is None:
            raise CheckpointError(f"{self.source.name}: no tensor named {name!r}")
        qtype = lookup(info.ggml_type)
        plan = self._plans.get(name)
        if len(info.shape) < 2 or plan is None or plan.transform is not None:
            values = self.float_weights(name)
            return quantize(values.reshape(-1, info.shape[-1]), qtype).reshape(-1)
        out = np.empty(info.nbytes, np.uint8)
        n_rows, row_bytes = int(np.prod(info.shape[:-1])), info.nbytes // int(np.prod(info.shape[:-1]))
        step = max(1, SLAB_WEIGHTS // info.shape[-1])
        for r0 in range(0, n_rows, step):
            slab = self.float_weights(name, slice(r0, r0 + step))          # (step, cols) f32
            out[r0 * row_bytes:(r0 + len(slab)) * row_bytes] = quantize(slab, qtype).reshape(-1)
        return out

    def release_tensor(self, name: str) -> None:
        plan = self._plans.get(name)
        if plan is not None:
            self.weights.release(plan.hf_name)

    def release_all(self) -> None:
        for name in self._plans:
            self.release_tensor(name)
