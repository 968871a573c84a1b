"""Compile minfer_wasm/kernels/*.c into one Pyodide side module and one native library.

    python -m minfer_wasm.native.kernel_build --wasm site/quant_kernels.so --native build/kernels.so

wasm: Debian's clang (14) compiles for wasm32-unknown-emscripten with SIMD128, freestanding,
against clang's own headers only; wasm-ld links a position-independent shared library whose
`dylink.0` section Pyodide's loader reads (`ctypes.CDLL` once the file is in its file system).
native: the system C compiler ($CC, else cc) builds the scalar path of the same sources.
The sources: quant_kernels.c (matrix products) and glue_kernels.c (activation, attention).
Every failure is one line: the missing tool, or the compiler's first error.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import MinferError

_KERNELS = Path(__file__).resolve().parent.parent / "kernels"
SOURCES = (_KERNELS / "quant_kernels.c", _KERNELS / "glue_kernels.c")
WASM_CFLAGS = ["--target=wasm32-unknown-emscripten", "-msimd128", "-O3", "-fPIC", "-ffreestanding",
               "-nostdinc", "-fvisibility=hidden"]
WASM_LDFLAGS = ["--experimental-pic", "-shared", "--no-entry"]
NATIVE_CFLAGS = ["-O3", "-shared", "-fPIC", "-fvisibility=hidden", "-ffp-contract=off"]   # no FMA: bit-equal to wasm
APT_HINT = "install Debian's toolchain: apt-get install -y clang lld"


class KernelBuildError(MinferError):
    """A compiler or linker failed."""


class ToolMissingError(KernelBuildError):
    """No compiler or linker of the needed kind is installed."""


def find_tool(names: tuple[str, ...]) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise ToolMissingError(f"none of {', '.join(names)} is on PATH; {APT_HINT}")


def _run(cmd: list, what: str) -> str:
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    except OSError as e:
        raise ToolMissingError(f"{what}: cannot run {cmd[0]}: {e}") from None
    if proc.returncode:
        lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        first = next((line for line in lines if "error" in line.lower()), None)
        raise KernelBuildError(f"{what} failed: {first or (lines[0] if lines else f'exit status {proc.returncode}')}")
    return proc.stdout


def build_wasm(out, sources=SOURCES) -> Path:
    """The Pyodide side module (SIMD128) of `sources` at `out`."""
    clang = find_tool(("clang", "clang-14"))
    wasm_ld = find_tool(("wasm-ld", "wasm-ld-14"))
    include = Path(_run([clang, "-print-resource-dir"], "asking clang for its headers").strip()) / "include"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        objs = []
        for i, source in enumerate(sources):
            objs.append(Path(tmp) / f"{i}_{Path(source).stem}.o")
            _run([clang, *WASM_CFLAGS, "-isystem", include, "-c", source, "-o", objs[-1]],
                 f"compiling {source} for wasm")
        _run([wasm_ld, *WASM_LDFLAGS, "-o", out, *objs], f"linking {out}")
    return out


def build_native(out, sources=SOURCES) -> Path:
    """A shared library of `sources` for this machine (the portable scalar path) at `out`."""
    cc = os.environ.get("CC") or find_tool(("cc", "gcc", "clang"))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = ", ".join(Path(s).name for s in sources)
    _run([cc, *NATIVE_CFLAGS, "-o", out, *sources], f"compiling {names} with {cc}")
    return out


def cached_native(cache: Path, sources=SOURCES) -> Path:
    """The native library built from `sources`, kept in `cache` under the sources' hash (built
    on first use, written whole or not at all)."""
    code = b"".join(Path(s).read_bytes() for s in sources)
    digest = hashlib.sha256(code + " ".join(NATIVE_CFLAGS).encode()).hexdigest()[:16]
    out = Path(cache) / f"quant_kernels-{digest}.so"
    if not out.is_file():
        partial = out.with_suffix(f".{os.getpid()}.tmp")
        build_native(partial, sources)
        partial.replace(out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wasm", metavar="OUT.so", help="write the Pyodide side module here")
    p.add_argument("--native", metavar="OUT.so", help="write the native shared library here")
    args = p.parse_args(argv)
    if not (args.wasm or args.native):
        p.error("give --wasm and/or --native")
    try:
        for out, build in ((args.wasm, build_wasm), (args.native, build_native)):
            if out:
                print(build(out))
    except KernelBuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
