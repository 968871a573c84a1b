"""The Pyodide-side API that web/worker.js calls: model bytes in, a chat session out.

The worker owns the network and the UI protocol; this module owns everything Python:

  session = Session()
  session.unload()                        drop the loaded model; then the worker makes one
                                          bytearray(size) in the wasm heap and writes the model's
                                          bytes straight into it (PyProxy.getBuffer), chunk by chunk
  inspect(buf, have, name)                parse the GGUF header from the first `have` bytes, and
                                          check the architecture while the tensors download
  session.load(buf, name, system_prompt, n_ctx, on_progress, kernels_path)
                                          the engine; on the kernel path its weights are views of buf
  session.load_files(buffers, name, system_prompt, n_ctx, on_progress, quantize, kernels_path)
                                          the same from a Hugging Face checkpoint's files picked in
                                          the page ({file name: bytearray}), quantized as they load
  turn = session.start(text, params, max_tokens, seed)
  turn.step() -> next text piece | None   one step per call, so the worker can handle `stop`
  turn.close(); turn.summary()            between tokens and report timings

Errors are the engine's typed errors; the worker reports their class name as the error kind.
"""

from __future__ import annotations

from typing import Callable, Iterator

from .chat import Chat
from .config import ModelConfig
from .engine import Engine
from .errors import MinferError, SourceError
from .gguf import GGUFFile
from .hf.files import MemoryFiles
from .kernels import KernelError, load_kernels
from .profile import CLOCK
from .sampling import SamplingParams
from .sources import BytesSource

SAMPLING_FIELDS = ("temperature", "top_k", "top_p", "min_p", "repeat_penalty")
PROGRESS_STEPS = 100


class _NeedMore(Exception):
    """The header reader asked for bytes the worker has not fetched yet."""

    def __init__(self, end: int):
        self.end = end


class _Prefix:
    """ByteSource over the first `have` bytes of a `size`-byte model."""

    def __init__(self, buf, have: int, name: str):
        self.name, self.size, self.have = name, len(buf), have
        self._view = memoryview(buf)

    def read(self, offset: int, length: int) -> memoryview:
        if offset + length > self.have:
            raise _NeedMore(offset + length)
        return self._view[offset:offset + length]


def inspect(buf, have: int, name: str) -> dict:
    """{"need": end} when the header runs past the first `have` bytes, else a short summary.

    Raises GGUFError for a file that is not GGUF and UnsupportedError for an architecture the
    engine does not run, so the page learns both before the tensors are downloaded.
    """
    try:
        gguf = GGUFFile.open(_Prefix(buf, have, name))
    except _NeedMore as more:
        return {"need": more.end}
    config = ModelConfig.from_metadata(gguf.metadata)
    return {"arch": config.arch, "name": gguf.metadata.get("general.name") or name,
            "data_offset": gguf.data_offset, "n_tensors": len(gguf.tensors)}


class _ProgressSource:
    """A BytesSource that reports how much of the model the engine has read, in 1% steps, and
    lets go of the bytes once the engine has copied what it keeps."""

    def __init__(self, source: BytesSource, on_progress: Callable[[int, int], None]):
        self.name, self.size = source.name, source.size
        self._source, self._on_progress = source, on_progress
        self._done, self._next = 0, 0

    def close(self) -> None:
        self._source = None

    def read(self, offset: int, length: int):
        if self._source is None:
            raise SourceError(f"{self.name}: the model's bytes were released after loading")
        data = self._source.read(offset, length)
        self._done += length
        if self._done >= self._next:
            self._on_progress(min(self._done, self.size), self.size)
            self._next = self._done + max(self.size // PROGRESS_STEPS, 1)
        return data


class _FilesProgress:
    """A checkpoint's files (minfer_wasm.hf.FileSet) from the page's buffers, reporting how much
    of all of them the engine has read, in 1% steps; close() lets go of the buffers."""

    def __init__(self, buffers: dict, name: str, on_progress: Callable[[int, int], None]):
        self.name = name
        self._files = MemoryFiles(buffers, name)
        self.size = sum(memoryview(b).nbytes for b in buffers.values())
        self._on_progress, self._done, self._next = on_progress, 0, 0
        self._opened: list[_CountedSource] = []

    def open(self, file_name: str):
        if self._files is None:
            raise SourceError(f"{self.name}: the checkpoint's files were released after loading")
        source = self._files.open(file_name)
        if source is None:
            return None
        self._opened.append(_CountedSource(source, self))
        return self._opened[-1]

    def count(self, length: int) -> None:
        self._done += length
        if self._done >= self._next:
            self._on_progress(min(self._done, self.size), self.size)
            self._next = self._done + max(self.size // PROGRESS_STEPS, 1)

    def close(self) -> None:
        self._files = None
        for source in self._opened:
            source.close()


class _CountedSource:
    """One file of a _FilesProgress: reads are counted, and refused once its files are closed."""

    def __init__(self, source: BytesSource, files: _FilesProgress):
        self.name, self.size = source.name, source.size
        self._source, self._files = source, files

    def close(self) -> None:
        self._source = None

    def read(self, offset: int, length: int):
        if self._source is None:
            raise SourceError(f"{self.name}: the checkpoint's files were released after loading")
        data = self._source.read(offset, length)
        self._files.count(length)
        return data


class Turn:
    """One answer being generated, advanced one text piece at a time. With `profile`, the
    summary also says where the decoded tokens' time went (minfer_wasm/profile.py)."""

    def __init__(self, chat: Chat, pieces: Iterator[str], profile: bool = False):
        self._chat, self._pieces, self._profile = chat, pieces, profile
        self._positions_before = chat.engine.model.positions_evaluated
        self._steps = 0

    def step(self) -> str | None:
        """The next text piece, or None when the answer is complete."""
        if self._profile and self._steps == 1:      # the prompt and first token are done: decode
            CLOCK.start()
        self._steps += 1
        piece = next(self._pieces, None)
        if piece is None:
            CLOCK.stop()
        return piece

    def close(self) -> None:
        """Stop early; the partial answer stays in the conversation."""
        CLOCK.stop()
        self._pieces.close()

    def summary(self) -> dict:
        """Why it stopped, timings, how many positions the model evaluated for this turn, and
        with a profile the seconds per decoded token: in all, in the kernels, in numpy products."""
        t = self._chat.last_timings
        out = {
            "stop_reason": self._chat.last_stop_reason,
            "prompt_tokens_evaluated": t.prompt_tokens,
            "positions_evaluated": self._chat.engine.model.positions_evaluated - self._positions_before,
            "n_ctx_used": len(self._chat.context.tokens),
            "timings": t.as_dict(),
        }
        if self._profile and t.decode_tokens:
            out["profile"] = {"tokens": t.decode_tokens, "token_s": t.decode_s / t.decode_tokens,
                              "kernel_s": CLOCK.seconds["kernel"] / t.decode_tokens,
                              "numpy_matmul_s": CLOCK.seconds["numpy"] / t.decode_tokens}
        return out


class Session:
    """The loaded engine and the current conversation."""

    def __init__(self):
        self.engine: Engine | None = None
        self.chat: Chat | None = None

    def unload(self) -> None:
        """Drop the loaded model and conversation (before the next model's bytes arrive)."""
        self.engine = self.chat = None

    def load(self, buf, name: str, system_prompt: str | None, n_ctx: int | None,
             on_progress: Callable[[int, int], None], kernels_path: str | None = None) -> dict:
        """Build the engine from the downloaded bytes `buf` (a bytearray) and start an empty
        conversation. The page's n_ctx is an upper limit: a model trained on a shorter context
        gets that (the KV cache is allocated for n_ctx positions, float16). With kernels_path
        (the compiled kernels in Pyodide's file system) the matrix products run there and the
        weights they cover are views of buf; without it, or when they cannot load, numpy."""
        kernels, note = None, ""
        if kernels_path:
            try:
                kernels = load_kernels(kernels_path)
            except KernelError as e:
                note = str(e)
        source = _ProgressSource(BytesSource(buf, name), on_progress)
        try:
            engine = Engine.load(source, kernels)
        finally:
            source.close()      # what the engine keeps, it holds itself (copies, or views of buf)
        return self._start(engine, name, system_prompt, n_ctx, kernels, note)

    def load_files(self, buffers: dict, name: str, system_prompt: str | None, n_ctx: int | None,
                   on_progress: Callable[[int, int], None], quantize: str = "q8_0",
                   kernels_path: str | None = None) -> dict:
        """Build the engine from a Hugging Face checkpoint's files, {file name: bytes-like} as the
        page read them (config.json, tokenizer.json, tokenizer_config.json, *.safetensors, ...),
        its weights quantized to `quantize` as they load (minfer_wasm.hf.HFCheckpoint); the
        buffers are not kept. Otherwise as load()."""
        kernels, note = None, ""
        if kernels_path:
            try:
                kernels = load_kernels(kernels_path)
            except KernelError as e:
                note = str(e)
        files = _FilesProgress(buffers, name, on_progress)
        try:
            engine = Engine.load(files, kernels, quantize)
        finally:
            files.close()       # the engine holds its own (quantized) weights
        return self._start(engine, name, system_prompt, n_ctx, kernels, note)

    def _start(self, engine: Engine, name: str, system_prompt: str | None, n_ctx: int | None,
               kernels, note: str) -> dict:
        config = engine.model.config
        n_ctx = min(n_ctx, config.n_ctx_train) if n_ctx else None
        self.engine, self.chat = engine, Chat(engine, system_prompt or None, n_ctx)
        return {"name": engine.gguf.metadata.get("general.name") or name, "arch": config.arch,
                "n_ctx": self.chat.context.n_ctx, "n_vocab": config.n_vocab, "n_layer": config.n_layer,
                "kernels": "numpy" if kernels is None else "wasm-simd" if kernels.simd else "compiled",
                "kernels_note": note}

    def reset(self, system_prompt: str | None) -> None:
        """A new conversation (with this system prompt); the cache is emptied."""
        if self.chat is not None:
            self.chat.system_prompt = system_prompt or None
            self.chat.reset()

    def start(self, text: str, params: dict, max_tokens: int, seed: int | None, profile: bool = False) -> Turn:
        """Begin answering `text`; params holds the SAMPLING_FIELDS the page sends; profile: time
        the decoded tokens' matrix products (Turn.summary)."""
        if self.chat is None:
            raise MinferError("no model is loaded: choose a model first")
        sampling = SamplingParams(**{k: (int(params[k]) if k == "top_k" else float(params[k]))
                                     for k in SAMPLING_FIELDS if k in params})
        pieces = self.chat.send(text, sampling, max_tokens=int(max_tokens),
                                seed=None if seed is None else int(seed))
        return Turn(self.chat, pieces, bool(profile))
