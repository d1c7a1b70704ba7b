"""Pad (constant, edge, reflect, wrap; negative pads crop) through per-axis index tables."""
from __future__ import annotations

import numpy as np

from ....codegen.cformat import c_float, c_int, strides
from ....ir import Graph, Node
from .. import REF
from .data_movement import ANY_DTYPE


def _source_index(o: int, begin: int, size: int, mode: str) -> int:
    i = o - begin
    if 0 <= i < size:
        return i
    if mode == "constant":
        return -1
    if mode == "edge":
        return min(max(i, 0), size - 1)
    if mode == "wrap":  # opset 19: the input repeats periodically
        return i % size
    period = 2 * (size - 1) if size > 1 else 1  # reflect: mirror without repeating the edge
    i = abs(i) % period
    return period - i if i >= size else i


def pad_params(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    rank = len(x.shape)
    pads = [int(p) for p in np.asarray(graph.const(node.inputs[1])).reshape(-1)]
    axes = list(range(rank))
    if len(node.inputs) > 3 and node.inputs[3]:
        axes = [int(a) % rank for a in np.asarray(graph.const(node.inputs[3])).reshape(-1)]
    begin = [0] * rank
    for k, a in enumerate(axes):
        begin[a] = pads[k]
    mode = node.attrs.get("mode", "constant")
    value = 0.0
    if len(node.inputs) > 2 and node.inputs[2]:
        value = float(np.asarray(graph.const(node.inputs[2])).reshape(-1)[0])
    tables = [[_source_index(o, begin[a], x.shape[a], mode) for o in range(y.shape[a])] for a in range(rank)]
    fill = c_float(value) if x.dtype == "float32" else c_int(int(value))
    return {"tables": tables, "x_strides": strides(x.shape), "y_shape": y.shape, "fill": fill}


def _pad_check(node: Node, graph: Graph) -> str | None:
    mode = node.attrs.get("mode", "constant")
    return None if mode in ("constant", "edge", "reflect", "wrap") else f"Pad mode '{mode}'"


REF.kernel("Pad", template="ref/pad.c.j2", static_inputs=(1, 2, 3), check=_pad_check, dtypes=ANY_DTYPE,
           input_names=("X",), output_names=("Y",))(pad_params)
