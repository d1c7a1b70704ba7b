"""Ops that work along one axis of a tensor: Hardmax (a one-hot of the first maximum), CumProd (the
running product, CumSum's sibling), ReverseSequence (reverses the first sequence_lens[b] steps of
every batch entry) and TensorScatter (writes an update into a cache along one axis, at a position per
batch entry: a KV cache)."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import output_size
from .registry import register_op
from .spec import OpSpec


def _rank(graph: Graph, node: Node) -> int:
    return len(graph.tensors[node.inputs[0]].shape)


def _axis_problem(axis: int, rank: int, what: str = "axis") -> str | None:
    if not -rank <= axis < max(rank, 1):
        return f"{what} {axis} is outside the input's rank {rank} (valid: {-rank} to {rank - 1})"
    return None


def validate_hardmax(graph: Graph, node: Node) -> str | None:
    return _axis_problem(int(node.attrs.get("axis", -1)), _rank(graph, node))


def validate_cumprod(graph: Graph, node: Node) -> str | None:
    if len(node.inputs) < 2 or not node.inputs[1]:
        return "axis input is missing"
    axis = graph.const(node.inputs[1])
    if axis is None:
        return "axis is a runtime input; aot needs it constant"
    axis = np.asarray(axis)
    if axis.size != 1:
        return f"axis must be a scalar, it has {axis.size} values"
    return _axis_problem(int(axis.reshape(-1)[0]), _rank(graph, node))


def validate_reverse_sequence(graph: Graph, node: Node) -> str | None:
    rank = _rank(graph, node)
    if rank < 2:
        return f"input of rank {rank}; ReverseSequence needs rank 2 or more"
    batch, time = int(node.attrs.get("batch_axis", 1)), int(node.attrs.get("time_axis", 0))
    if sorted((batch, time)) != [0, 1]:
        return f"batch_axis {batch} and time_axis {time} must be 0 and 1, one each"
    lens = graph.tensors[node.inputs[1]]
    x = graph.tensors[node.inputs[0]]
    if lens.shape != (x.shape[batch],):
        return f"sequence_lens of shape {list(lens.shape)}; the batch axis holds {x.shape[batch]} entries"
    if lens.dtype != "int64":
        return f"sequence_lens of dtype {lens.dtype}; ONNX takes int64"
    return None


register_op(OpSpec("Hardmax", "along_axis", macs=output_size, validate=validate_hardmax))
register_op(OpSpec("CumProd", "along_axis", macs=output_size, validate=validate_cumprod, min_opset=26))
register_op(OpSpec("ReverseSequence", "along_axis", validate=validate_reverse_sequence))


def validate_tensor_scatter(graph: Graph, node: Node) -> str | None:
    cache, update = (graph.tensors[n].shape for n in node.inputs[:2])
    rank = len(cache)
    if rank < 2 or len(update) != rank:
        return f"past_cache {list(cache)} and update {list(update)} need one rank of 2 or more"
    axis = int(node.attrs.get("axis", -2))
    problem = _axis_problem(axis, rank)
    if problem:
        return problem
    axis %= rank
    if axis == 0:
        return "axis 0 is the batch axis; TensorScatter writes along a later axis"
    if any(c != u for a, (c, u) in enumerate(zip(cache, update)) if a != axis) or update[axis] > cache[axis]:
        return f"update {list(update)} must match past_cache {list(cache)} except for a shorter axis {axis}"
    mode = node.attrs.get("mode", "linear")
    if mode not in ("linear", "circular"):
        return f"mode '{mode}' is not linear or circular"
    if len(node.inputs) > 2 and node.inputs[2]:
        idx = graph.tensors[node.inputs[2]]
        if idx.shape != (cache[0],) or idx.dtype != "int64":
            return f"write_indices {idx.dtype}{list(idx.shape)}; expected int64[{cache[0]}]"
    return None


register_op(OpSpec("TensorScatter", "along_axis", macs=lambda graph, node: graph.tensors[node.inputs[1]].size,
                   validate=validate_tensor_scatter, min_opset=24))
