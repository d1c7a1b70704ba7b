"""Dropout with its mask output at inference (or in training mode with ratio 0): the data pass through
unchanged and the mask is all true. The single-output Dropout is an elementwise identity
(elementwise.py)."""
from __future__ import annotations

from ....ir import Graph, Node
from .. import REF
from .elementwise import dropout_training_problem


def _mask_check(node: Node, graph: Graph) -> str | None:
    if len(node.outputs) < 2 or not node.outputs[1]:
        return "Dropout without a mask output"
    if graph.tensors[node.inputs[0]].dtype not in ("float32", "float64"):
        return f"Dropout on {graph.tensors[node.inputs[0]].dtype}"
    return dropout_training_problem(node, graph)


REF.kernel("Dropout", template="ref/misc/dropout_mask.c.j2", static_inputs=(1, 2), check=_mask_check,
           dtypes=("float32", "float64", "bool"), plain=True, input_names=("X",), output_names=("Y", "M"),
           name="dropout_mask")(lambda node, graph: {})
