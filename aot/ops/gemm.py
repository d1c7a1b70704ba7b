"""Matrix products: Gemm and MatMul (fully connected layers when the weights are constant)."""
from __future__ import annotations

from ..ir import Graph, Node
from .registry import register_op
from .spec import Int8Form, OpSpec


def _reduction(graph: Graph, node: Node) -> int:
    a = graph.tensors[node.inputs[0]].shape
    if node.op_type == "Gemm" and node.attrs.get("transA", 0):
        return a[0]
    return a[-1] if a else 1


def matmul_macs(graph: Graph, node: Node) -> int:
    return graph.tensors[node.outputs[0]].size * _reduction(graph, node)


def plain_gemm(node: Node) -> bool:
    """A Gemm that is a fully connected layer: A not transposed, alpha = beta = 1 (the int8 form)."""
    return (not node.attrs.get("transA", 0) and node.attrs.get("alpha", 1.0) == 1.0
            and node.attrs.get("beta", 1.0) == 1.0)


def _gemm_quantizable(graph: Graph, node: Node) -> bool:
    consts = [graph.tensors[i].is_constant for i in node.present_inputs]
    return not consts[0] and all(consts[1:]) and len(graph.tensors[node.inputs[0]].shape) == 2 and plain_gemm(node)


def _matmul_quantizable(graph: Graph, node: Node) -> bool:
    a, b = (graph.tensors[i] for i in node.inputs[:2])
    return not a.is_constant and b.is_constant and len(a.shape) == 2 and len(b.shape) == 2


register_op(OpSpec("Gemm", "gemm", fuses_activation=True, folds_batchnorm=True, macs=matmul_macs,
                   int8=Int8Form("fully_connected", quantizable=_gemm_quantizable, activation_inputs=(0,),
                                 weight_axis=lambda node: 0 if node.attrs.get("transB", 0) else 1)))
# MatMul [K, N] weights: one scale per output column.
register_op(OpSpec("MatMul", "gemm", fuses_activation=True, absorbs_bias_add=True, macs=matmul_macs,
                   int8=Int8Form("fully_connected", quantizable=_matmul_quantizable, activation_inputs=(0,),
                                 weight_axis=lambda node: 1, lowers_to="Gemm")))
