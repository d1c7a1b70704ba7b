"""Small helpers the family modules share: MAC counts and constant operands."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node


def output_size(graph: Graph, node: Node) -> int:
    """One operation per output element (elementwise maps, data movement that computes)."""
    return graph.tensors[node.outputs[0]].size


def scalar_constant(graph: Graph, name: str) -> float | None:
    value = graph.const(name)
    return None if value is None else float(np.asarray(value).reshape(-1)[0])


def constant_operands(graph: Graph, node: Node, activations: tuple[int, ...] | None) -> bool:
    """The int8 quantizability rule most ops share: the activation inputs are computed at run time and
    every other present input (shapes, axes, bounds) is a compile-time constant."""
    for idx, name in enumerate(node.inputs):
        if not name:
            continue
        is_activation = idx in activations if activations is not None else not graph.tensors[name].is_constant
        if is_activation == graph.tensors[name].is_constant:
            return False
    return True
