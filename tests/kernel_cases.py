"""Inputs of the kernel tests: GGUF blocks of every kernel type and the real models' tensors."""

import zlib

import numpy as np

from kernel_reference import TYPE_IDS
from minfer_wasm.ggml_types import GGML_TYPE_INFO, row_nbytes
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.sources import FileSource
from quant_blocks import random_raw

ROWS = 37          # odd: the last group of four rows is short
FLOAT_COLS = 83    # not a multiple of 8: the SIMD float loop leaves a tail
REAL_ROWS = 64


def cols_of(name: str) -> int:
    block = GGML_TYPE_INFO[TYPE_IDS[name]].block_size
    return FLOAT_COLS if block == 1 else 3 * block if block == 32 else 2 * block


def as_blocks(raw: np.ndarray, name: str, rows: int) -> np.ndarray:
    """raw bytes of `rows` rows -> (rows, NB, type_size) uint8."""
    return np.ascontiguousarray(raw).reshape(rows, -1, GGML_TYPE_INFO[TYPE_IDS[name]].type_size)


def random_case(name: str, n: int, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Random codes with finite random scales (quant_blocks.random_raw), and n gaussian tokens."""
    rng = np.random.default_rng(zlib.crc32(f"{name} {n} {rows}".encode()))
    cols = cols_of(name)
    blocks = as_blocks(random_raw(name, (rows, cols), rng), name, rows)
    return blocks, rng.standard_normal((n, cols), dtype=np.float32)


def real_cases(paths, n: int = 5) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(tensor name, type name, blocks of its first REAL_ROWS rows, n gaussian tokens) for one
    matrix of each type in each model, plus the classifier's last rows."""
    rng = np.random.default_rng(11)
    cases = []
    for path in paths:
        gguf = GGUFFile.open(FileSource(str(path)))
        seen = set()
        for info in gguf.tensors.values():
            if len(info.shape) != 2 or info.ggml_type in seen and info.name != "token_embd.weight":
                continue
            seen.add(info.ggml_type)
            name = GGML_TYPE_INFO[info.ggml_type].name
            rows, cols = min(REAL_ROWS, info.shape[0]), info.shape[1]
            first = info.shape[0] - rows if info.name == "token_embd.weight" else 0
            row_bytes = row_nbytes(info.ggml_type, cols)
            raw = np.frombuffer(gguf.source.read(info.offset + first * row_bytes, rows * row_bytes), np.uint8)
            cases.append((f"{path.name}:{info.name}", name, as_blocks(raw, name, rows),
                          rng.standard_normal((n, cols), dtype=np.float32)))
    return cases
