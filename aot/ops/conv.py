"""Convolution: the op whose layout, weights and fusions matter most."""
from __future__ import annotations

from ..ir import Graph, Node
from .common import constant_operands
from .registry import register_op
from .spec import Int8Form, OpSpec


def conv_macs(graph: Graph, node: Node) -> int:
    """Output elements x (input channels per group x kernel taps): the weight's size per output channel."""
    w = graph.tensors[node.inputs[1]]
    return graph.tensors[node.outputs[0]].size * (w.size // max(w.shape[0], 1))


register_op(OpSpec(
    "Conv", "conv", layout="sensitive", weight_input=1, fuses_activation=True, absorbs_bias_add=True,
    folds_batchnorm=True, macs=conv_macs,
    int8=Int8Form("conv", quantizable=lambda g, n: constant_operands(g, n, (0,)), activation_inputs=(0,),
                  weight_axis=lambda node: 0)))
