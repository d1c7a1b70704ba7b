"""Integer kernels without requantization, the targets of ``recast``: Conv / Gemm / MatMul reading
int8 or int16 and writing int32 accumulators, and Cast / CastLike between float32, float64, the integer
types and bool."""
from __future__ import annotations

import numpy as np

from ....codegen.cformat import c_int
from ....ir import Graph, Node
from ....ir.dtypes import c_type
from ....ops.ctyping import ALL, FLOATS, INTS
from .. import REF
from .conv import conv_params
from .spatial import spatial_check

NARROW = ("int8", "uint8", "int16")
CAST_TYPES = ALL


def _accumulating(node: Node, graph: Graph) -> str | None:
    ins = [graph.tensors[i] for i in node.inputs[:2]]
    if any(t.dtype not in NARROW for t in ins):
        return "integer kernel takes int8, uint8 or int16 operands"
    if any(t.quant is not None for t in ins):
        return "quantized operands go to the requantizing int8 kernels"
    if graph.tensors[node.outputs[0]].dtype != "int32":
        return "integer accumulation writes int32"
    if len(node.inputs) > 2 and node.inputs[2] and graph.tensors[node.inputs[2]].dtype != "int32":
        return "the bias of an int32 accumulation must be int32"
    return None


def _conv_check(node: Node, graph: Graph) -> str | None:
    return _accumulating(node, graph) or spatial_check(node, graph)


def _conv_params(node: Node, graph: Graph) -> dict:
    # ConvInteger's input zero point (aot/quant/expand_qlinear.py): padding taps then add nothing.
    return {**conv_params(node, graph), "in_offset": int(node.attrs.get("_input_offset", 0))}


REF.kernel("Conv", template="ref/integer/conv.c.j2", check=_conv_check, dtypes=NARROW + ("int32",),
           input_names=("X", "W", "B"), output_names=("Y",))(_conv_params)


def _matmul_params(node: Node, graph: Graph) -> dict:
    a, b = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    trans_a, trans_b = int(node.attrs.get("transA", 0)), int(node.attrs.get("transB", 0))
    M = a.shape[1] if trans_a else a.shape[0]
    K = a.shape[0] if trans_a else a.shape[1]
    N = b.shape[0] if trans_b else b.shape[1]
    bias = graph.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
    return {"M": M, "K": K, "N": N, "trans_a": trans_a, "trans_b": trans_b,
            "in_offset": int(node.attrs.get("_input_offset", 0)),
            "bias_per_column": bias is not None and bias.size == N, "has_bias": bias is not None}


def _matmul_check(node: Node, graph: Graph) -> str | None:
    if any(len(graph.tensors[i].shape) != 2 for i in node.inputs[:2]):
        return "integer MatMul/Gemm takes 2-D operands"
    if node.op_type == "Gemm" and (node.attrs.get("alpha", 1.0) != 1.0 or node.attrs.get("beta", 1.0) != 1.0):
        return "integer Gemm with alpha/beta != 1"
    if len(node.inputs) > 2 and node.inputs[2]:
        n = graph.tensors[node.outputs[0]].shape[1]
        if graph.tensors[node.inputs[2]].size not in (1, n):
            return "integer Gemm bias must be per column"
    return _accumulating(node, graph)


REF.kernel("MatMul", "Gemm", template="ref/integer/matmul.c.j2", check=_matmul_check, dtypes=NARROW + ("int32",),
           input_names=("A", "B", "C"), output_names=("Y",))(_matmul_params)


# ONNX Runtime's result for NaN on x86 (its conversions compile to cvttss2si and friends, whose
# "integer indefinite" value is truncated to the narrow types): measured with onnxruntime 1.32.
CAST_NAN = {"int8": 0, "uint8": 0, "int16": 0, "uint16": 0, "int32": -2 ** 31, "uint32": 2 ** 31,
            "int64": -2 ** 63, "uint64": 2 ** 63}


def _real_literal(value: int, dtype: str) -> str:
    """An integral bound as an exact literal of the float type ``dtype`` (all are powers of two or 0)."""
    return f"{float(value):.1f}" + ("f" if dtype == "float32" else "")


def _cast_params(node: Node, graph: Graph) -> dict:
    src, dst = graph.tensors[node.inputs[0]].dtype, graph.tensors[node.outputs[0]].dtype
    if dst == "bool":  # any non-zero value is true, NaN too (NaN != 0)
        return {"saturate": False, "expr": "(X[i] != 0)"}
    if src in FLOATS and dst in INTS:
        info = np.iinfo(dst)
        # In-range values truncate toward zero; out-of-range values and infinities saturate (C leaves the
        # conversion undefined there, ONNX Runtime wraps on x86); NaN gives ONNX Runtime's value.
        return {"saturate": True, "lo": c_int(info.min), "hi": c_int(info.max), "nan_value": c_int(CAST_NAN[dst]),
                "lo_real": _real_literal(int(info.min), src), "hi_real": _real_literal(int(info.max) + 1, src)}
    # Integer to integer wraps modulo 2^bits (two's complement, as ONNX Runtime); integers to floats
    # round to nearest; float64 to float32 rounds to nearest and overflows to infinity.
    return {"saturate": False, "expr": f"({c_type(dst)})X[i]"}


def _cast_check(node: Node, graph: Graph) -> str | None:
    dtypes = {graph.tensors[node.inputs[0]].dtype, graph.tensors[node.outputs[0]].dtype}
    return None if dtypes <= set(CAST_TYPES) else f"Cast between {sorted(dtypes)}"


REF.kernel("Cast", "CastLike", template="ref/integer/cast.c.j2", check=_cast_check, dtypes=CAST_TYPES, plain=True,
           input_names=("X", "Like"), output_names=("Y",))(_cast_params)
