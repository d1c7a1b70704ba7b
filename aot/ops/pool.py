"""Pooling over spatial windows and whole planes."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .registry import register_op
from .spec import Int8Form, OpSpec


def window_macs(graph: Graph, node: Node) -> int:
    return graph.tensors[node.outputs[0]].size * int(np.prod(node.attrs.get("kernel_shape", [1])))


def input_size(graph: Graph, node: Node) -> int:
    return graph.tensors[node.inputs[0]].size


# MaxPool picks input values: its output keeps the input's scale (a Requantize follows if the file differs).
register_op(OpSpec("MaxPool", "pool", layout="sensitive", macs=window_macs,
                   int8=Int8Form("same_scale", activation_inputs=(0,))))
register_op(OpSpec("AveragePool", "pool", layout="sensitive", macs=window_macs,
                   int8=Int8Form("rescale", activation_inputs=(0,))))
register_op(OpSpec("GlobalAveragePool", "pool", layout="sensitive", macs=input_size,
                   int8=Int8Form("rescale", activation_inputs=(0,))))
register_op(OpSpec("GlobalMaxPool", "pool", layout="sensitive", macs=input_size))
