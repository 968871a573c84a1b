"""Everything one model needs, loaded from one GGUF: weights, tokenizer, chat template."""

from __future__ import annotations

from dataclasses import dataclass

from .chat_template import ChatTemplate
from .config import ModelConfig
from .errors import UnsupportedError
from .gguf import GGUFFile
from .model import Model
from .sources import ByteSource
from .tokenizer import Tokenizer


def open_weights(source, quantize: str = "none"):
    """A GGUFFile for a GGUF byte source; an HFCheckpoint (read like one) for a checkpoint's files."""
    from .hf import HFCheckpoint, is_checkpoint

    if is_checkpoint(source):
        return HFCheckpoint(source, quantize)
    if quantize != "none":
        raise UnsupportedError(f"{source.name}: quantizing at load applies to Hugging Face "
                               f"checkpoints; a GGUF file keeps its own types (convert it instead)")
    return GGUFFile.open(source)


@dataclass
class Engine:
    """A loaded model with its tokenizer and chat template."""

    gguf: GGUFFile
    model: Model
    tokenizer: Tokenizer
    template: ChatTemplate

    @classmethod
    def load(cls, source: ByteSource, kernels=None, quantize: str = "none") -> "Engine":
        """Load from a byte source (natively, minfer_wasm.native.model_store.open_model makes one
        from a model name, path or URL; in the page, the downloaded bytes), or from the files of
        a Hugging Face checkpoint (minfer_wasm.hf.FileSet), its weights quantized to `quantize`.
        With `kernels` (minfer_wasm.kernels.Kernels) the weights they cover stay views of the
        source's bytes."""
        gguf = open_weights(source, quantize)
        # Check the architecture, tokenizer and template before any weight is read: a bad file fails fast.
        config = ModelConfig.from_metadata(gguf.metadata)
        tokenizer = Tokenizer.from_metadata(gguf.metadata)
        template = ChatTemplate.from_metadata(gguf.metadata)
        model = Model.from_gguf(gguf, config, kernels)
        if kernels is None:         # every weight is a copy: the source's pages can go
            gguf.release_all()
        return cls(gguf, model, tokenizer, template)

    def encode_chat(self, messages: list[dict], add_generation_prompt: bool = True,
                    **variables) -> list[int]:
        """Render `messages` with the chat template (`variables`: more template variables, e.g.
        enable_thinking) and tokenize; BOS added once, as the model asks."""
        text = self.template.render(messages, add_generation_prompt=add_generation_prompt, **variables)
        ids = self.tokenizer.encode(text, add_special=False, parse_special=True)
        bos = self.tokenizer.bos_id
        if self.tokenizer.add_bos and bos is not None and (not ids or ids[0] != bos):
            ids.insert(0, bos)
        return ids
