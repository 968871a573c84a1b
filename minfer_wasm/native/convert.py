"""`minfer-wasm convert`: a Hugging Face checkpoint folder -> one GGUF file of a chosen type.

The tensors, names and metadata are the ones the engine loads the checkpoint with
(minfer_wasm/hf/checkpoint.py, following llama.cpp's convert_hf_to_gguf.py), so the GGUF and
the folder give the same logits, and llama.cpp reads the file as one its converter wrote.
"""

from __future__ import annotations

import os
from typing import Callable

from ..errors import SourceError
from ..hf import HFCheckpoint, is_checkpoint
from .gguf_writer import write_gguf
from .model_store import open_model


def convert(source: str, out, qtype: str, log: Callable[[str], None] = print) -> None:
    files = open_model(source, log)
    if not is_checkpoint(files):
        raise SourceError(f"{source}: not a Hugging Face checkpoint folder (no config.json)")
    checkpoint = HFCheckpoint(files, qtype)
    metadata = {"general.architecture": checkpoint.metadata["general.architecture"],
                "general.name": os.path.basename(os.path.normpath(os.fspath(source)))}
    metadata |= checkpoint.metadata
    if qtype not in ("f32", "f16"):
        metadata["general.quantization_version"] = 2     # GGML_QNT_VERSION
    write_gguf(out, metadata, checkpoint.tensors.values(), checkpoint.tensor_bytes, log)
    log(f"wrote {out} ({len(checkpoint.tensors)} tensors, {qtype})")
