"""MatMulInteger / ConvInteger with their zero points read at run time (ONNX Runtime's dynamic
quantization feeds DynamicQuantizeLinear's zero point into them) or given per row / per output channel
where the compile-time rewrite of aot/quant/expand_qlinear.py does not apply. int32 accumulation of
(a - a_zero_point) * (b - b_zero_point), as ONNX defines them."""
from __future__ import annotations

from dataclasses import replace

from ....ir import Graph, Node
from .. import REF
from .conv import conv_params
from .int8 import batched_matrices
from .spatial import spatial_check

CODES = ("int8", "uint8")


def _operands_problem(node: Node, graph: Graph) -> str | None:
    for idx, name in enumerate(node.inputs[:4]):
        if not name:
            continue
        code = graph.tensors[node.inputs[idx % 2]].dtype
        t = graph.tensors[name]
        if t.dtype not in CODES:
            return f"{t.dtype} operand '{name}' ({node.op_type} takes int8 or uint8)"
        if idx >= 2 and t.dtype != code:
            return f"zero point '{name}' is {t.dtype} for {code} data"
    if graph.tensors[node.outputs[0]].dtype != "int32":
        return f"{node.op_type} writes int32"
    return None


def _zero_point_size(node: Node, graph: Graph, idx: int) -> int:
    name = node.inputs[idx] if len(node.inputs) > idx else ""
    return graph.tensors[name].size if name else 0


# -- MatMulInteger ---------------------------------------------------------------------------------
def _matmul_check(node: Node, graph: Graph) -> str | None:
    problem = _operands_problem(node, graph)
    if problem:
        return problem
    a, b = (graph.tensors[i] for i in node.inputs[:2])
    if len(a.shape) < 2 or len(b.shape) < 2:
        return "MatMulInteger of a 1-D operand"
    if _zero_point_size(node, graph, 2) not in (0, 1, a.shape[-2]):
        return f"a_zero_point of {_zero_point_size(node, graph, 2)} values (one, or one per row of A)"
    if _zero_point_size(node, graph, 3) not in (0, 1, b.shape[-1]):
        return f"b_zero_point of {_zero_point_size(node, graph, 3)} values (one, or one per column of B)"
    return None


def _matmul_params(node: Node, graph: Graph) -> dict:
    a_zp, b_zp = _zero_point_size(node, graph, 2), _zero_point_size(node, graph, 3)
    return {**batched_matrices(node, graph),
            "a_zp": "" if not a_zp else (" - (int32_t)AZ[m]" if a_zp > 1 else " - (int32_t)AZ[0]"),
            "b_zp": "" if not b_zp else (" - (int32_t)BZ[n]" if b_zp > 1 else " - (int32_t)BZ[0]")}


REF.kernel("MatMulInteger", template="ref/integer/matmul_integer.c.j2", check=_matmul_check, dtypes=CODES + ("int32",),
           input_names=("A", "B", "AZ", "BZ"), output_names=("Y",))(_matmul_params)


# -- ConvInteger -----------------------------------------------------------------------------------
def _conv_check(node: Node, graph: Graph) -> str | None:
    problem = _operands_problem(node, graph) or spatial_check(node, graph)
    if problem:
        return problem
    if _zero_point_size(node, graph, 2) > 1:
        return "x_zero_point must be one value (ONNX: per-tensor)"
    channels = graph.tensors[node.inputs[1]].shape[0]
    if _zero_point_size(node, graph, 3) not in (0, 1, channels):
        return f"w_zero_point of {_zero_point_size(node, graph, 3)} values (one, or one per output channel)"
    return None


def _conv_params(node: Node, graph: Graph) -> dict:
    geometry = conv_params(replace(node, inputs=node.inputs[:2]), graph)  # input 2 is a zero point, no bias
    w_zp = _zero_point_size(node, graph, 3)
    return {**geometry, "x_zp": " - x_zp" if _zero_point_size(node, graph, 2) else "",
            "w_zp": "" if not w_zp else (" - (int32_t)WZ[oc]" if w_zp > 1 else " - (int32_t)WZ[0]")}


REF.kernel("ConvInteger", template="ref/integer/conv_integer.c.j2", check=_conv_check, dtypes=CODES + ("int32",),
           input_names=("X", "W", "XZ", "WZ"), output_names=("Y",))(_conv_params)
