"""Normalisations: BatchNormalization (folded into the producer where possible), Softmax."""
from __future__ import annotations

from ..ir import Graph, Node
from .common import output_size
from .registry import register_op
from .spec import Int8Form, OpSpec

# TFLite's and ONNX Runtime's int8 Softmax output: [0, 1) in 256 steps.
SOFTMAX_OUTPUT_QUANT = (1.0 / 256.0, -128)


def _last_axis(graph: Graph, node: Node) -> bool:
    rank = len(graph.tensors[node.inputs[0]].shape)
    return int(node.attrs.get("axis", -1)) % rank == rank - 1


def _softmax_macs(graph: Graph, node: Node) -> int:
    return 3 * output_size(graph, node)  # max, exp and sum, divide


register_op(OpSpec("BatchNormalization", "normalization", layout="sensitive",
                   macs=lambda g, n: 2 * output_size(g, n)))
register_op(OpSpec("Softmax", "normalization", macs=_softmax_macs,
                   int8=Int8Form("rescale", quantizable=_last_axis, activation_inputs=(0,),
                                 output_quant=SOFTMAX_OUTPUT_QUANT)))
register_op(OpSpec("LogSoftmax", "normalization", macs=_softmax_macs))
