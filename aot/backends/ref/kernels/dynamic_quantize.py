"""DynamicQuantizeLinear: uint8 codes of x with the scale and zero point of x's own range (which always
includes 0), computed at run time as ONNX Runtime does: scale = (max - min) / 255 in float32 (1 where
max == min, so an all-zero input quantizes to the zero point instead of dividing by zero), zero point =
round half to even of clamp(0 - min / scale, 0, 255), codes as QuantizeLinear computes them. A kernel of
its own rather than the op's function body: one pass for the range and one for the codes."""
from __future__ import annotations

from ....ir import Graph, Node
from .. import REF


def _check(node: Node, graph: Graph) -> str | None:
    y = graph.tensors[node.outputs[0]]
    return None if y.dtype == "uint8" else f"{y.dtype} codes (DynamicQuantizeLinear writes uint8)"


def _params(node: Node, graph: Graph) -> dict:
    return {"size": graph.tensors[node.inputs[0]].size}


REF.kernel("DynamicQuantizeLinear", template="ref/quant_plain/dynamic_quantize_linear.c.j2", check=_check,
           dtypes=("float32", "uint8"), input_names=("X",), output_names=("Y", "YS", "YZ"))(_params)
