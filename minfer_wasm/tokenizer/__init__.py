"""Tokenizers read from GGUF metadata: byte-level BPE (gpt2) and SentencePiece BPE (llama)."""

from .stream import StreamDecoder
from .tokenizer import Tokenizer

__all__ = ["StreamDecoder", "Tokenizer"]
