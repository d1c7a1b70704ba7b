"""Reductions over axes."""
from __future__ import annotations

from ..ir import Graph, Node
from .registry import register_op
from .spec import OpSpec

REDUCTIONS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")


def _input_size(graph: Graph, node: Node) -> int:
    return graph.tensors[node.inputs[0]].size


for _op in REDUCTIONS:
    register_op(OpSpec(_op, "reduce", macs=_input_size))
