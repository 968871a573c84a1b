"""Tensor types by ggml type id, bit-exact dequantization, and QuantTensor.

registry.py   GGML_TYPES, the one table (floats.py, legacy.py, kquants.py, iquants.py: one section
              per type)
load.py       load_tensor(info, raw) -> QuantTensor; dequantize(raw, ggml_type, shape) -> float32
tensor.py     QuantTensor: weights kept in their file's type, multiplied without materializing them
              (float_tensor.py: F32/F16/BF16; block_tensor.py: block formats as bit planes + scales)
"""

from .codes import QuantType
from .floats import FloatType
from .load import dequantize, load_tensor
from .registry import GGML_TYPES, lookup
from .tensor import QuantTensor

__all__ = ["GGML_TYPES", "QuantType", "FloatType", "QuantTensor", "dequantize", "load_tensor", "lookup"]
