"""KernelTensor: the file's own bytes as weights (no copy), products by the compiled kernels,
rows decoded bit-exactly as gguf-py does; and the CLI's --kernels compiled."""

import json
import subprocess
import sys

import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize as reference

from minfer_wasm.context import TokenContext
from minfer_wasm.engine import Engine
from minfer_wasm.generate import generate
from minfer_wasm.gguf import TensorInfo
from minfer_wasm.quants import QuantTensor, load_tensor
from minfer_wasm.quants.kernel_tensor import KernelTensor
from minfer_wasm.sampling import SamplingParams
from minfer_wasm.sources import BytesSource, FileSource
from quant_blocks import FLOATS, QUANTS, random_raw, type_id

ROWS = 37


def _raw(name: str, rows: int, seed: int) -> tuple[np.ndarray, tuple[int, int]]:
    cols = 256 if GGML_QUANT_SIZES[GGMLQuantizationType[name]][0] == 256 else 96
    shape = (rows, cols)
    return random_raw(name, shape, np.random.default_rng(seed)), shape


@pytest.mark.parametrize("name", FLOATS + QUANTS)
def test_weights_are_the_files_bytes_and_products_are_the_kernels(kernels, name):
    raw, shape = _raw(name, ROWS, 11)
    buf = bytearray(raw.tobytes())
    t = load_tensor(TensorInfo(f"t.{name}", type_id(name), shape, 0, len(buf)), memoryview(buf), kernels)
    if not kernels.supports(type_id(name)):
        assert not isinstance(t, KernelTensor)       # this type goes through numpy on its own
        return
    assert isinstance(t, KernelTensor) and t.views_source
    assert np.shares_memory(t.blocks[0], np.frombuffer(buf, np.uint8)) and t.nbytes == len(buf)
    x = np.random.default_rng(12).standard_normal((3, shape[1])).astype(np.float32)
    want = kernels.matmul_arrays(type_id(name), t.blocks[0], x)                # (3, ROWS)
    assert np.array_equal(t.matmul(x), want)
    assert np.array_equal(t.matvec(x[1]), want[1])
    w = reference(raw, GGMLQuantizationType[name]).reshape(shape)
    assert np.array_equal(t.dequantize(), w)
    ids = np.array([ROWS - 1, 0, 5, 5])
    assert np.array_equal(t.take_rows(ids), w[ids])


def test_concatenated_rows_keep_their_places(kernels):
    """q|k|v fused: one tensor over the parts' own bytes, each part's rows where they were."""
    parts, raws = [], []
    for i, rows in enumerate((16, 8, 8)):
        raw, shape = _raw("Q4_1", rows, 20 + i)
        raws.append(raw)
        parts.append(load_tensor(TensorInfo(f"p{i}", type_id("Q4_1"), shape, 0, raw.nbytes), raw, kernels))
    fused = QuantTensor.concat_rows(parts, "qkv")
    assert fused.shape == (32, 96) and fused.nbytes == sum(r.nbytes for r in raws)
    x = np.random.default_rng(23).standard_normal((5, 96)).astype(np.float32)
    want = np.concatenate([p.matmul(x) for p in parts], axis=1)                 # (5, 32)
    assert np.array_equal(fused.matmul(x), want)
    assert np.array_equal(fused.matvec(x[4]), want[4])
    w = np.concatenate([reference(r, GGMLQuantizationType.Q4_1).reshape(-1, 96) for r in raws])
    ids = np.array([31, 0, 16, 24])
    assert np.array_equal(fused.take_rows(ids), w[ids])


def test_the_model_runs_on_the_downloaded_bytes(kernels, smollm2_path):
    """The page's kernel path: every matrix of the model is a view of the one buffer the model
    was downloaded into (its weights cost the file's size once), and it answers."""
    buf = bytearray(smollm2_path.read_bytes())
    engine = Engine.load(BytesSource(buf, "m.gguf"), kernels)
    m = engine.model
    matrices = [m.token_embd, m.output] + [w for b in m.blocks for w, _ in b.attn_qkv.parts + b.ffn_gate_up.parts]
    matrices += [b.attn_output for b in m.blocks] + [b.ffn_down for b in m.blocks]
    whole = np.frombuffer(buf, np.uint8)
    assert all(isinstance(t, KernelTensor) for t in matrices)
    assert all(np.shares_memory(b, whole) for t in matrices for b in t.blocks)
    ids = engine.encode_chat([{"role": "user", "content": "Hi"}])
    assert np.isfinite(m.forward(ids, m.new_cache(64))).all()


def test_cli_kernels_compiled_is_the_compiled_path(kernels, smollm2_path, tmp_path):
    """--kernels compiled: the same greedy ids as the engine on these kernels in this process
    (same C, same machine), built into the cache on first use."""
    prompt = "The capital of France is"
    run = subprocess.run([sys.executable, "-m", "minfer_wasm", "generate", "--model", str(smollm2_path),
                          "--prompt", prompt, "--temperature", "0", "--max-tokens", "8", "--json",
                          "--kernels", "compiled"], capture_output=True, text=True,
                         env={"MINFER_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert list(tmp_path.joinpath("kernels").glob("quant_kernels-*.so"))
    engine = Engine.load(FileSource(str(smollm2_path)), kernels)
    steps = generate(TokenContext(engine.model), engine.tokenizer, engine.tokenizer.encode(prompt),
                     SamplingParams(temperature=0.0), max_tokens=8)
    assert got["ids"] == [s.token_id for s in steps if s.token_id is not None]
