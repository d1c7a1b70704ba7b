"""ONNX element types <-> numpy dtype names <-> C types."""
import numpy as np
from onnx import TensorProto

from .formats import FORMATS

_ONNX_TO_NP = {
    TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64", TensorProto.FLOAT16: "float16",
    TensorProto.INT8: "int8", TensorProto.UINT8: "uint8", TensorProto.INT16: "int16",
    TensorProto.UINT16: "uint16", TensorProto.INT32: "int32", TensorProto.UINT32: "uint32",
    TensorProto.INT64: "int64", TensorProto.UINT64: "uint64", TensorProto.BOOL: "bool",
}
# Narrow formats (float16, bfloat16, float8, float4, int4, int2): computed widened, see formats.py
_ONNX_TO_NP.update({f.elem_type: f.name for f in FORMATS.values()})
_NP_TO_ONNX = {v: k for k, v in _ONNX_TO_NP.items()}

C_TYPES = {
    "float32": "float", "float64": "double", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t",
    "uint16": "uint16_t", "int32": "int32_t", "uint32": "uint32_t", "int64": "int64_t",
    "uint64": "uint64_t", "bool": "uint8_t",
}
# The C buffer of a graph input/output in a narrow format: its bits, one value per element
C_TYPES.update({f.name: C_TYPES[f.storage] for f in FORMATS.values()})


def np_dtype_of(elem_type: int) -> str:
    try:
        return _ONNX_TO_NP[elem_type]
    except KeyError:
        # onnx.helper.tensor_dtype_to_string raises KeyError on UNDEFINED (0) and on numbers no ONNX version
        # defines (a corrupt file)
        known = elem_type in TensorProto.DataType.values()
        name = TensorProto.DataType.Name(elem_type) if known else f"{elem_type} (not an ONNX element type)"
        raise ValueError(f"unsupported ONNX element type {name}") from None


def onnx_elem_type(dtype: str) -> int:
    return _NP_TO_ONNX[str(np.dtype(dtype))]


def c_type(dtype: str) -> str:
    return C_TYPES[str(np.dtype(dtype))]
