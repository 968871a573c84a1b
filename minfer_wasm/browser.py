"""The Pyodide-side API that web/worker.js calls: model bytes in, answers out.

The worker owns the network and the page protocol; this module owns everything Python:

  session = Session()
  inspect(buf, have, name)                parse the GGUF header from the first `have` bytes, and
                                          check the architecture while the tensors download
  inspect_files(buffers, name)            the same for a Hugging Face checkpoint: its config.json
                                          (and architecture), before its weights are read
  session.load(buf, name, n_ctx, on_progress, kernels_path)
                                          the engine, from the bytearray the worker downloaded the
                                          model into; on the kernel path its weights are views of
                                          buf. The loaded model is replaced only once the new one
                                          is ready: a failed load leaves it as it was
  session.load_files(buffers, name, n_ctx, on_progress, quantize, kernels_path)
                                          the same from a Hugging Face checkpoint's files picked in
                                          the page ({file name: bytearray}), quantized as they load
  session.unload()                        drop the loaded model (to make room for a large one)
  turn = session.chat(messages, options)  answer the last user message of a whole conversation;
                                          the KV cache keeps the longest common token prefix
  turn = session.complete(prompt, options)  plain completion (models without a chat template)
  turn.step() -> next text piece | None   one step per call, so the worker can handle `stop`
  turn.close(); turn.summary()            between tokens and report timings

Messages and options are checked by minfer_wasm.page_requests. Every error raised here is a
MinferError: the worker reports its class name as the error kind, and no raw Python exception
(MemoryError, ValueError...) reaches the page (see `_typed`).
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from typing import Callable, Iterator

from .chat import Chat
from .config import ModelConfig
from .context import TokenContext
from .engine import Engine
from .errors import CheckpointError, ContextOverflowError, MinferError, SourceError
from .generate import Timings, generate
from .gguf import GGUFFile
from .hf.arch_map import gguf_arch
from .hf.files import MemoryFiles, read_json
from .kernels import KernelError, load_kernels
from .page_requests import RequestError, parse_messages, parse_options
from .profile import CLOCK
from .sampling import SamplingParams
from .sources import BytesSource

PROGRESS_STEPS = 100
# general.sampling.* keys (llama.cpp's gguf-py, Keys.General.SAMPLING_*) -> SamplingParams fields
GGUF_SAMPLING_KEYS = {"temp": "temperature", "top_k": "top_k", "top_p": "top_p", "min_p": "min_p",
                      "penalty_repeat": "repeat_penalty"}
PAGE_SAMPLING_FIELDS = tuple(GGUF_SAMPLING_KEYS.values())
MAX_ERROR_CHARS = 200


class OutOfMemoryError(MinferError):
    """The wasm heap (or the machine) has no room for what was asked."""


class InternalError(MinferError):
    """A bug: an exception the engine did not turn into one of its own errors."""


def _typed(fn):
    """Let MinferErrors through; turn any other exception into one, so the page's error kind is
    always an engine error class and never a raw Python exception name."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MinferError:
            raise
        except MemoryError:
            raise OutOfMemoryError("out of memory: the page's memory cannot hold what this needs") from None
        except Exception as e:
            detail = f"{type(e).__name__}: {e}"
            if len(detail) > MAX_ERROR_CHARS:
                detail = detail[:MAX_ERROR_CHARS] + "…"
            raise InternalError(f"internal error ({detail})") from None
    return call


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


@_typed
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


@_typed
def inspect_files(buffers: dict, name: str) -> dict:
    """{"arch": ...} from the config.json among a checkpoint's `buffers` ({file name: bytes}).

    Raises CheckpointError when config.json is missing or not a model's config, and
    UnsupportedError for an architecture the engine does not run, so the page learns both
    before it reads the weights.
    """
    config = read_json(MemoryFiles(buffers, name), "config.json")
    if not isinstance(config, dict):
        raise CheckpointError(f"{name}/config.json: not a JSON object")
    return {"arch": gguf_arch(config, f"{name}/config.json")}


class _Progress:
    """Counts the bytes the engine reads out of `size` and reports them in 1% steps."""

    def __init__(self, size: int, on_progress: Callable[[int, int], None]):
        self.size, self._on_progress = size, on_progress
        self._done, self._next = 0, 0

    def count(self, length: int) -> None:
        self._done += length
        if self._done >= self._next:
            self._on_progress(min(self._done, self.size), self.size)
            self._next = self._done + max(self.size // PROGRESS_STEPS, 1)


class _CountedSource:
    """A BytesSource whose reads are counted by `progress`; close() lets go of its bytes once
    the engine has copied what it keeps, and reads after it are refused."""

    def __init__(self, source: BytesSource, progress: _Progress, released: str):
        self.name, self.size = source.name, source.size
        self._source, self._progress, self._released = source, progress, released

    def close(self) -> None:
        self._source = None

    def read(self, offset: int, length: int):
        if self._source is None:
            raise SourceError(f"{self.name}: {self._released}")
        data = self._source.read(offset, length)
        self._progress.count(length)
        return data


class _FilesProgress:
    """A checkpoint's files (minfer_wasm.hf.FileSet) from the page's buffers, reporting how much
    of all of them the engine has read, in 1% steps; close() lets go of the buffers."""

    RELEASED = "the checkpoint's files were released after loading"

    def __init__(self, buffers: dict, name: str, on_progress: Callable[[int, int], None]):
        self.name = name
        self._files = MemoryFiles(buffers, name)
        self._progress = _Progress(sum(memoryview(b).nbytes for b in buffers.values()), on_progress)
        self._opened: list[_CountedSource] = []

    def open(self, file_name: str):
        if self._files is None:
            raise SourceError(f"{self.name}: {self.RELEASED}")
        source = self._files.open(file_name)
        if source is None:
            return None
        self._opened.append(_CountedSource(source, self._progress, self.RELEASED))
        return self._opened[-1]

    def close(self) -> None:
        self._files = None
        for source in self._opened:
            source.close()


class Turn:
    """One answer being generated, advanced one text piece at a time. `finished()` gives the
    timings and stop reason once it ends. With `profile`, the summary also says where the
    decoded tokens' time went (minfer_wasm/profile.py)."""

    def __init__(self, context: TokenContext, pieces: Iterator[str],
                 finished: Callable[[], tuple[Timings, str]], profile: bool = False):
        self._context, self._pieces, self._finished, self._profile = context, pieces, finished, profile
        self._positions_before = context.model.positions_evaluated
        self._steps = 0

    @_typed
    def step(self) -> str | None:
        """The next text piece, or None when the answer is complete."""
        if self._profile and self._steps == 1:      # the prompt and first token are done: decode
            CLOCK.start()
        self._steps += 1
        try:
            piece = next(self._pieces, None)
        except BaseException:
            CLOCK.stop()
            raise
        if piece is None:
            CLOCK.stop()
        return piece

    def close(self) -> None:
        """Stop early; in a chat the partial answer is what the caller keeps."""
        CLOCK.stop()
        self._pieces.close()

    def summary(self) -> dict:
        """Why it stopped, timings, how many positions the model evaluated for this turn, and
        with a profile the seconds per decoded token: in all, in the kernels, in numpy products."""
        t, stop_reason = self._finished()
        out = {
            "stop_reason": stop_reason,
            "prompt_tokens_evaluated": t.prompt_tokens,
            "positions_evaluated": self._context.model.positions_evaluated - self._positions_before,
            "n_ctx_used": len(self._context.tokens),
            "timings": t.as_dict(),
        }
        if self._profile and t.decode_tokens:
            out["profile"] = {"tokens": t.decode_tokens, "token_s": t.decode_s / t.decode_tokens,
                              "kernel_s": CLOCK.seconds["kernel"] / t.decode_tokens,
                              "numpy_matmul_s": CLOCK.seconds["numpy"] / t.decode_tokens}
        return out


def _sampling_metadata(metadata: dict) -> dict:
    """The general.sampling.* values the model's authors recommend, as SamplingParams fields;
    a value SamplingParams would refuse is left out (it is only a default)."""
    found = {}
    for key, field in GGUF_SAMPLING_KEYS.items():
        value = metadata.get(f"general.sampling.{key}")
        if value is None:
            continue
        try:
            value = int(value) if field == "top_k" else float(value)
            SamplingParams(**{field: value})
        except (TypeError, ValueError, OverflowError):
            continue
        found[field] = value
    return found


def _kernels(kernels_path: str | None):
    """The compiled kernels at kernels_path (in Pyodide's file system) and "", or None and why
    not: numpy then runs the matrix products."""
    if not kernels_path:
        return None, ""
    try:
        return load_kernels(kernels_path), ""
    except KernelError as e:
        return None, str(e)


def _warm_up(context: TokenContext, tokenizer) -> None:
    """Run two tokens through the model and forget them, as llama.cpp does at load
    (common_init_from_params: "warming up the model with an empty run"). In the page the first
    pass through each numpy and kernel function waits for V8 to compile its wasm code (lazily,
    at first call): measured for SmolLM2 in Pyodide, 0.13 s here instead of in the first answer."""
    context.evaluate([tokenizer.bos_id or 0, tokenizer.eos_id or 0])
    context.reset()


class Session:
    """The loaded engine and the token context its conversations run in."""

    def __init__(self):
        self.engine: Engine | None = None
        self.conversation: Chat | None = None  # the token context chat() and complete() run in

    def unload(self) -> None:
        """Drop the loaded model and its cache."""
        self.engine = self.conversation = None

    @_typed
    def load(self, buf, name: str, n_ctx: int | None, on_progress: Callable[[int, int], None],
             kernels_path: str | None = None) -> dict:
        """Build the engine from the downloaded bytes `buf` (a bytearray); it replaces the loaded
        one only once it is ready. The page's n_ctx is an upper limit: a model trained on a
        shorter context gets that (the KV cache is allocated for n_ctx positions, float16). With
        kernels_path (the compiled kernels in Pyodide's file system) the matrix products run
        there and the weights they cover are views of buf; without it, or when they cannot
        load, numpy."""
        kernels, note = _kernels(kernels_path)
        bytes_source = BytesSource(buf, name)
        source = _CountedSource(bytes_source, _Progress(bytes_source.size, on_progress),
                                "the model's bytes were released after loading")
        try:
            engine = Engine.load(source, kernels)
        finally:
            source.close()      # what the engine keeps, it holds itself (copies, or views of buf)
        return self._start(engine, name, n_ctx, kernels, note)

    @_typed
    def load_files(self, buffers: dict, name: str, n_ctx: int | None, on_progress: Callable[[int, int], None],
                   quantize: str = "q8_0", kernels_path: str | None = None) -> dict:
        """Build the engine from a Hugging Face checkpoint's files, {file name: bytes-like} as the
        page read them (config.json, tokenizer.json, tokenizer_config.json, *.safetensors, ...),
        its weights quantized to `quantize` as they load (minfer_wasm.hf.HFCheckpoint); the
        buffers are not kept. Otherwise as load()."""
        kernels, note = _kernels(kernels_path)
        files = _FilesProgress(buffers, name, on_progress)
        try:
            engine = Engine.load(files, kernels, quantize)
        finally:
            files.close()       # the engine holds its own (quantized) weights
        return self._start(engine, name, n_ctx, kernels, note)

    def _start(self, engine: Engine, name: str, n_ctx: int | None, kernels, note: str) -> dict:
        """Make `engine` the loaded one, with an empty conversation; what the page shows of it."""
        config = engine.model.config
        n_ctx = min(n_ctx, config.n_ctx_train) if n_ctx else None
        chat = Chat(engine, None, n_ctx)
        _warm_up(chat.context, engine.tokenizer)
        self.engine, self.conversation = engine, chat
        metadata = engine.gguf.metadata
        return {"name": metadata.get("general.name") or name, "arch": config.arch,
                "basename": metadata.get("general.basename"), "size_label": metadata.get("general.size_label"),
                "n_ctx": chat.context.n_ctx, "n_vocab": config.n_vocab, "n_layer": config.n_layer,
                "kernels": "numpy" if kernels is None else "wasm-simd" if kernels.simd else "compiled",
                "kernels_note": note, "chat_template": engine.template.name,
                "has_chat_template": engine.template.name == "tokenizer.chat_template",
                "sampling_gguf": _sampling_metadata(metadata),
                "sampling_engine": {k: v for k, v in asdict(SamplingParams()).items()
                                    if k in PAGE_SAMPLING_FIELDS}}

    def _loaded(self) -> Chat:
        if self.conversation is None:
            raise RequestError("no model is loaded: load a model first")
        return self.conversation

    @_typed
    def chat(self, messages, options) -> Turn:
        """Begin answering the last (user) message of `messages`, the whole conversation
        [{role, content}]. Its rendering shares a token prefix with what the cache holds (the
        previous turns, an edited or regenerated one up to the change), which is not evaluated
        again. Old turns are dropped from the prompt when it does not fit; options: see
        minfer_wasm.page_requests (enable_thinking goes to the chat template)."""
        chat = self._loaded()
        messages, opts = parse_messages(messages), parse_options(options)
        has_system = messages[0]["role"] == "system"
        chat.system_prompt = messages[0]["content"] if has_system else None
        chat.messages = messages[:-1]
        chat.template_vars = {} if opts.enable_thinking is None else {"enable_thinking": opts.enable_thinking}
        pieces = chat.send(messages[-1]["content"], opts.sampling, max_tokens=opts.max_tokens,
                           seed=opts.seed, stop=opts.stop)
        return Turn(chat.context, pieces, lambda: (chat.last_timings, chat.last_stop_reason), opts.profile)

    @_typed
    def complete(self, prompt, options) -> Turn:
        """Begin continuing the text `prompt` (tokenized as the CLI's `generate` does, BOS as the
        model asks); the answer stops at the end of the context at the latest."""
        chat = self._loaded()
        opts = parse_options(options)
        if opts.enable_thinking is not None:
            raise RequestError("option enable_thinking goes with chat (it is a chat template switch)")
        if not isinstance(prompt, str):
            raise RequestError(f"the prompt must be a string, got {type(prompt).__name__}")
        ids = chat.engine.tokenizer.encode(prompt)
        room = chat.context.n_ctx - len(ids)
        if room < 1:
            raise ContextOverflowError(f"the prompt needs {len(ids)} tokens; the context holds {chat.context.n_ctx}")
        generation = generate(chat.context, chat.engine.tokenizer, ids, opts.sampling, seed=opts.seed,
                              max_tokens=min(opts.max_tokens, room), stop_strings=opts.stop)

        def pieces() -> Iterator[str]:
            try:
                for step in generation:
                    if step.text:
                        yield step.text
            finally:
                generation.close()

        return Turn(chat.context, pieces(), lambda: (generation.timings, generation.stop_reason or "interrupted"),
                    opts.profile)
