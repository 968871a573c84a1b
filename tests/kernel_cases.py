"""Inputs of the kernel tests: GGUF blocks of every kernel type, the real models' tensors, and
the activations the real models feed them."""

import functools
import zlib
from typing import NamedTuple

import numpy as np
import pytest

from kernel_reference import TYPE_IDS
from minfer_wasm.engine import Engine
from minfer_wasm.ggml_types import GGML_TYPE_INFO, row_nbytes
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.quants import QuantTensor
from minfer_wasm.sources import FileSource
from quant_blocks import random_raw

ROWS = 37          # odd: the last group of four rows is short
FLOAT_COLS = 83    # not a multiple of 8: the SIMD float loop leaves a tail
REAL_ROWS = 64
CHAT = ({"role": "user", "content": "What is the capital of France?"},)


def cols_of(name: str) -> int:
    block = GGML_TYPE_INFO[TYPE_IDS[name]].block_size
    return FLOAT_COLS if block == 1 else 3 * block if block == 32 else 2 * block


def as_blocks(raw: np.ndarray, name: str, rows: int) -> np.ndarray:
    """raw bytes of `rows` rows -> (rows, NB, type_size) uint8."""
    return np.ascontiguousarray(raw).reshape(rows, -1, GGML_TYPE_INFO[TYPE_IDS[name]].type_size)


def random_case(name: str, n: int, rows: int = ROWS, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Random codes with finite random scales (quant_blocks.random_raw), and n gaussian tokens
    times `scale`."""
    rng = np.random.default_rng(zlib.crc32(f"{name} {n} {rows}".encode()))
    cols = cols_of(name)
    blocks = as_blocks(random_raw(name, (rows, cols), rng), name, rows)
    return blocks, (rng.standard_normal((n, cols), dtype=np.float32) * np.float32(scale)).astype(np.float32)


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


class ModelProduct(NamedTuple):
    """One weight product of the numpy model's forward pass: what the kernels would be given."""
    tensors: tuple[str, ...]   # the GGUF tensors whose rows W holds, in order (several when fused)
    weights: QuantTensor       # W as the numpy path holds it
    x: np.ndarray              # (n, K) float32: the input the model gave W
    y: np.ndarray              # (n, R) float32: numpy's x @ W.T (QuantTensor.matvec/matmul)


@functools.lru_cache(maxsize=2)
def model_products(path) -> tuple[list[ModelProduct], list[int]]:
    """Every weight product of the numpy model over the CHAT prompt and one greedily decoded
    token (calls of several tokens, then of one), and the tokens. The models' own activations:
    SmolLM2's carry outliers (single values up to ~240x their token's rms)."""
    fused: dict[str, tuple[str, ...]] = {}     # concatenated tensor's name -> its parts' names
    products = []
    concat_rows, matmul, matvec = QuantTensor.concat_rows.__func__, QuantTensor.matmul, QuantTensor.matvec

    def record_concat(cls, tensors, name):
        fused[name] = tuple(t.name for t in tensors)
        return concat_rows(cls, tensors, name)

    def record(w, x, y):
        # copies: the model's work buffers are written again by later layers
        products.append(ModelProduct(fused.get(w.name, (w.name,)), w, np.array(x, np.float32), np.array(y)))
        return y

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(QuantTensor, "concat_rows", classmethod(record_concat))
        engine = Engine.load(FileSource(str(path)))
        mp.setattr(QuantTensor, "matmul", lambda w, x, out=None: record(w, x, matmul(w, x, out)))
        mp.setattr(QuantTensor, "matvec",
                   lambda w, x, out=None: record(w, np.reshape(x, (1, -1)), matvec(w, x, out)[None])[0])
        ids = engine.encode_chat(list(CHAT))
        cache = engine.model.new_cache(len(ids) + 1)
        first = int(np.argmax(engine.model.forward(ids, cache)))
        engine.model.forward([first], cache)
    return products, ids + [first]


def product_blocks(gguf: GGUFFile, product: ModelProduct, rows: int | None = None) -> np.ndarray:
    """The GGUF blocks of a product's weights, its first `rows` rows (all by default):
    (rows, NB, type_size) uint8, read from the file."""
    w = product.weights
    rows = w.rows if rows is None else min(rows, w.rows)
    row_bytes, raw = row_nbytes(w.ggml_type, w.cols), []
    for name in product.tensors:
        info = gguf.tensors[name]
        take = min(rows - sum(len(r) for r in raw) // row_bytes, info.shape[0])
        raw.append(bytes(gguf.source.read(info.offset, take * row_bytes)))
    return as_blocks(np.frombuffer(b"".join(raw), np.uint8), GGML_TYPE_INFO[w.ggml_type].name, rows)


def activation_cases(path) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(label, type name, blocks of the first REAL_ROWS rows, the model's own inputs) for the
    prompt's products in the layer whose input has the largest outlier (|x| over its token's
    rms), and the classifier's for the decoded token."""
    products, _ = model_products(path)
    gguf = GGUFFile.open(FileSource(str(path)))

    def outlier(p: ModelProduct) -> float:
        return float(np.max(np.abs(p.x) / np.sqrt(np.mean(np.square(p.x, dtype=np.float64), axis=1, keepdims=True))))

    def layer(p: ModelProduct) -> str:
        return p.tensors[0].split(".")[1]

    prompt_layers = [p for p in products if p.tensors[0].startswith("blk.") and p.x.shape[0] > 1]
    worst = layer(max(prompt_layers, key=outlier))
    chosen = [p for p in prompt_layers if layer(p) == worst] + products[-1:]
    return [(f"{path.name}:{'|'.join(p.tensors)} x{p.x.shape[0]}", GGML_TYPE_INFO[p.weights.ggml_type].name,
             product_blocks(gguf, p, REAL_ROWS), p.x) for p in chosen]
