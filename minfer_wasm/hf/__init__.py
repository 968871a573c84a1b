"""Hugging Face checkpoints: Safetensors weights, config.json and tokenizer.json, presented to the
engine as a GGUF file would be (the metadata keys and tensor names llama.cpp's converter writes)."""

from .checkpoint import HFCheckpoint, is_checkpoint
from .files import FileSet, FolderFiles, MemoryFiles

__all__ = ["HFCheckpoint", "is_checkpoint", "FileSet", "FolderFiles", "MemoryFiles"]
