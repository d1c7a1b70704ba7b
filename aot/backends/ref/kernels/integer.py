"""Integer kernels without requantization, the targets of ``recast``: Conv / Gemm / MatMul reading
int8 or int16 and writing int32 accumulators, and Cast between float32 and integer types."""
from __future__ import annotations

from ....ir import Graph, Node
from .. import REF
from .conv import conv_params
from .spatial import spatial_check

NARROW = ("int8", "uint8", "int16")
CAST_TYPES = ("float32", "int8", "int16", "int32")
INT_LIMITS = {"int8": (-128, 127), "int16": (-32768, 32767), "int32": (-2147483648, 2147483647)}


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


def _cast_params(node: Node, graph: Graph) -> dict:
    src, dst = graph.tensors[node.inputs[0]].dtype, graph.tensors[node.outputs[0]].dtype
    lo, hi = INT_LIMITS.get(dst, (None, None))
    bits = dst[3:] if dst.startswith("int") else ""
    # NaN: what ONNX Runtime gives on x86 (the int32 conversion's INT32_MIN, truncated to the narrower types)
    return {"to_int_from_float": src == "float32" and dst != "float32", "lo": lo, "hi": hi,
            "lo_name": f"INT{bits}_MIN", "hi_name": f"INT{bits}_MAX", "nan_value": "INT32_MIN" if bits == "32" else 0}


def _cast_check(node: Node, graph: Graph) -> str | None:
    dtypes = {graph.tensors[node.inputs[0]].dtype, graph.tensors[node.outputs[0]].dtype}
    return None if dtypes <= set(CAST_TYPES) else f"Cast between {sorted(dtypes)}"


REF.kernel("Cast", template="ref/integer/cast.c.j2", check=_cast_check, dtypes=CAST_TYPES, input_names=("X",),
           output_names=("Y",))(_cast_params)
