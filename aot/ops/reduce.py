"""Reductions over axes."""
from __future__ import annotations

from ..ir import Graph, Node
from .registry import register_op
from .spec import Int8Form, OpSpec

REDUCTIONS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")


def _input_size(graph: Graph, node: Node) -> int:
    return graph.tensors[node.inputs[0]].size


# int8 ReduceMean: TFLite's MEAN (sum of the offset inputs, one multiplier for scale ratio / count).
MEAN_INT8 = Int8Form("rescale", activation_inputs=(0,))

for _op in REDUCTIONS:
    register_op(OpSpec(_op, "reduce", macs=_input_size, int8=MEAN_INT8 if _op == "ReduceMean" else None))
