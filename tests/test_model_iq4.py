"""A real model in the IQ4 types: SmolLM2-135M requantized to IQ4_NL / IQ4_XS, on both paths.

No IQ4 GGUF of a supported model is at hand, so one is written here from the real one (its
Q4_1/Q8_0 matrices dequantized, then quantized by tests/iq4_quantize.py), as llama.cpp lays out
an IQ4_XS file of this model: matrices whose rows are whole 256-weight super-blocks (ffn_down,
1536 columns) in IQ4_XS, the others (576 columns) in IQ4_NL, llama.cpp's fallback for them
(src/llama-quant.cpp); the norms stay F32. Checks:
  - the file's IQ4 blocks decode bit-exactly as gguf-py decodes them, close to the weights they
    were made from;
  - the compiled kernels pick the numpy path's greedy tokens until the numpy path itself
    hesitates (top-2 logits within MARGIN, as in test_model_golden.py), and move the first
    step's top logits by less than MARGIN / 2.
Writing the whole file takes a few seconds (135M weights through the quantizer).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFValueType
from gguf.quants import dequantize as reference

from gguf_fixtures import write_gguf
from iq4_quantize import quantize_iq4_nl, quantize_iq4_xs
from minfer_wasm.engine import Engine
from minfer_wasm.gguf import GGUFFile
from minfer_wasm.model import Model
from minfer_wasm.quants import dequantize
from minfer_wasm.sources import FileSource

FIXTURES = Path(__file__).parent / "fixtures"
MARGIN = 0.1          # test_model_golden.py: top-2 gap below which two engines may pick differently
N_TOKENS = 16         # greedy steps decoded on the kernels path
MOSTLY_IQ4_XS = 30    # llama.cpp LLAMA_FTYPE_MOSTLY_IQ4_XS (general.file_type)

_SCALAR_TYPES = {bool: GGUFValueType.BOOL, int: GGUFValueType.UINT32, float: GGUFValueType.FLOAT32,
                 str: GGUFValueType.STRING}
_ARRAY_TYPES = {np.dtype(np.int32): GGUFValueType.INT32, np.dtype(np.float32): GGUFValueType.FLOAT32}


def _typed(key: str, value) -> tuple:
    """A metadata value as read by minfer_wasm.gguf -> (value, GGUF type[, element type]) for
    write_gguf; the types SmolLM2's header uses (its integers are all UINT32)."""
    if type(value) in _SCALAR_TYPES:
        return value, _SCALAR_TYPES[type(value)]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value, GGUFValueType.ARRAY, GGUFValueType.STRING
    if isinstance(value, np.ndarray) and value.dtype in _ARRAY_TYPES:
        return value.tolist(), GGUFValueType.ARRAY, _ARRAY_TYPES[value.dtype]
    raise TypeError(f"{key}: no GGUF type for {type(value).__name__}")


def _requantized(w: np.ndarray) -> tuple[np.ndarray, GGMLQuantizationType]:
    """(R, K) float32 -> (IQ4 blocks (R, row bytes) uint8, their type)."""
    if w.shape[1] % 256 == 0:
        return quantize_iq4_xs(w), GGMLQuantizationType.IQ4_XS
    return quantize_iq4_nl(w), GGMLQuantizationType.IQ4_NL


@pytest.fixture(scope="module")
def iq4_model(smollm2_path, tmp_path_factory):
    """(path of the IQ4 GGUF, {tensor name: the float32 weights it was made from})."""
    source = GGUFFile.open(FileSource(str(smollm2_path)))
    metadata = {k: _typed(k, v) for k, v in source.metadata.items() if k != "general.architecture"}
    metadata["general.file_type"] = (MOSTLY_IQ4_XS, GGUFValueType.UINT32)
    tensors, originals = {}, {}
    for name, info in source.tensors.items():
        w = dequantize(source.tensor_bytes(name), info.ggml_type, info.shape)
        tensors[name] = _requantized(w) if w.ndim == 2 else w
        if name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight"):
            originals[name] = w
    path = write_gguf(tmp_path_factory.mktemp("iq4") / "SmolLM2-135M-Instruct.IQ4_XS.gguf", metadata, tensors,
                      arch=source.metadata["general.architecture"])
    return path, originals


def test_iq4_blocks_bit_exact_and_close_to_their_weights(iq4_model):
    path, originals = iq4_model
    gguf = GGUFFile.open(FileSource(str(path)))
    types = {info.ggml_type for info in gguf.tensors.values() if len(info.shape) == 2}
    assert types == {GGMLQuantizationType.IQ4_NL, GGMLQuantizationType.IQ4_XS}
    for name, original in originals.items():
        info = gguf.tensors[name]
        raw = np.frombuffer(gguf.tensor_bytes(name), np.uint8).reshape(info.shape[0], -1)
        w = dequantize(raw.tobytes(), info.ggml_type, info.shape)
        assert np.array_equal(w, reference(raw, GGMLQuantizationType(info.ggml_type)).reshape(info.shape)), name
        err = np.linalg.norm(w - original) / np.linalg.norm(original)
        assert err < 0.1, (name, err)   # measured 0.076-0.091 (gguf-py Q4_0 of the same weights: 0.087-0.111)


def _greedy(model: Model, prompt: list[int]) -> tuple[list[int], np.ndarray]:
    """N_TOKENS greedy tokens after prompt, decoded one at a time, and the first step's logits."""
    cache = model.new_cache(len(prompt) + N_TOKENS)
    logits = first = model.forward(prompt, cache)
    tokens = []
    for step in range(N_TOKENS):
        tokens.append(int(np.argmax(logits)))
        if step < N_TOKENS - 1:
            logits = model.forward([tokens[-1]], cache)
    return tokens, first


def test_kernels_pick_the_numpy_paths_greedy_tokens(iq4_model, kernels):
    """The kernels decode greedily; the numpy path, given the same tokens in one batch, must
    pick each of them itself (so both greedy runs agree) until its top-2 logits come within
    MARGIN. Prompts whose numpy run does not hesitate within 8 steps on this file (measured:
    none within N_TOKENS; the other fixture prompts hesitate at their first or second step)."""
    path = str(iq4_model[0])
    engine = Engine.load(FileSource(path), kernels=kernels)
    assert engine.model.blocks[0].ffn_down.path == "kernel" and engine.model.blocks[0].ffn_down.qtype.name == "IQ4_XS"
    numpy_model = Model.from_gguf(GGUFFile.open(FileSource(path)))
    fixture = json.loads((FIXTURES / "reference_smollm2.json").read_text())
    prompts = [fixture["cases"][1]["prompt_ids"],                                 # def fibonacci(n):
               engine.encode_chat([{"role": "user", "content": "Why is the sky blue?"}])]
    for prompt in prompts:
        tokens, first = _greedy(engine.model, prompt)
        seq = prompt + tokens[:-1]                          # step i predicts tokens[i] from seq[:len(prompt) + i]
        logits = numpy_model.forward(seq, numpy_model.new_cache(len(seq)), all_logits=True)[len(prompt) - 1:]
        top2 = np.sort(logits, axis=1)[:, -2:]                                   # (N_TOKENS, 2)
        near_ties = np.flatnonzero(top2[:, 1] - top2[:, 0] < MARGIN)
        n_compared = int(near_ties[0]) if len(near_ties) else N_TOKENS
        assert n_compared >= 8, f"the numpy path hesitates at step {n_compared}: too little to compare"
        assert [int(np.argmax(row)) for row in logits[:n_compared]] == tokens[:n_compared]
        top = np.argsort(logits[0])[-10:]
        assert np.abs(first[top] - logits[0][top]).max() < MARGIN / 2    # measured about 0.01
