"""Tokenizers read from GGUF metadata: byte-level BPE (gpt2) and SentencePiece BPE (llama)."""

from .stream import StreamDecoder
from .tokenizer import Tokenizer, check_text

__all__ = ["StreamDecoder", "Tokenizer", "check_text"]
