"""Ops that select part of a tensor with compile-time constant positions: Slice and Split as
strided moves (copy.c.j2), Gather along one axis with a constant index table (gather.c.j2)."""
from __future__ import annotations

import numpy as np

from ....codegen.cformat import strides as dense_strides
from ....ir import Graph, Node
from .. import REF
from .data_movement import ANY_DTYPE, move, nonempty


def _const_ints(graph: Graph, node: Node, idx: int) -> list[int] | None:
    if idx >= len(node.inputs) or not node.inputs[idx]:
        return None
    return [int(v) for v in np.asarray(graph.const(node.inputs[idx])).reshape(-1)]


def slice_params(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    rank = len(x.shape)
    starts, ends = _const_ints(graph, node, 1), _const_ints(graph, node, 2)
    axes = _const_ints(graph, node, 3) or list(range(len(starts)))
    steps = _const_ints(graph, node, 4) or [1] * len(starts)
    first = [0] * rank
    step = [1] * rank
    for a, s, e, st in zip(axes, starts, ends, steps):
        a %= rank
        # Python's slice clamping is ONNX's: negative positions count from the end, then clamp
        # to [0, dim] (or [-1, dim - 1] for negative steps).
        picked = range(x.shape[a])[slice(s, e, st)]
        first[a], step[a] = (picked.start if len(picked) else 0), st
    xs = dense_strides(x.shape)
    src_off = sum(f * s for f, s in zip(first, xs))
    return {"moves": nonempty([move("X", y.shape, src_off, [st * s for st, s in zip(step, xs)], 0,
                                    dense_strides(y.shape))])}


def _slice_check(node: Node, graph: Graph) -> str | None:
    steps = _const_ints(graph, node, 4) or []
    return "Slice with a zero step" if 0 in steps else None


REF.kernel("Slice", template="ref/copy.c.j2", static_inputs=(1, 2, 3, 4), check=_slice_check, dtypes=ANY_DTYPE,
           input_names=("X",), output_names=("Y",))(slice_params)


def split_params(node: Node, graph: Graph) -> dict:
    """Each output is the next block along ``axis``; its size is already in its inferred shape, so
    the split input, the split attribute (opset < 13) and num_outputs (opset 18) all end here."""
    x = graph.tensors[node.inputs[0]]
    axis = int(node.attrs.get("axis", 0)) % len(x.shape)
    xs = dense_strides(x.shape)
    moves, offset = [], 0
    for j, name in enumerate(node.outputs):
        if not name:
            continue
        y = graph.tensors[name]
        moves.append(move("X", y.shape, offset * xs[axis], xs, 0, dense_strides(y.shape), dst=f"out{j}"))
        offset += y.shape[axis]
    return {"moves": nonempty(moves)}


def _split_check(node: Node, graph: Graph) -> str | None:
    return "Split with an omitted output" if not all(node.outputs) else None


REF.kernel("Split", template="ref/copy.c.j2", static_inputs=(1,), check=_split_check, dtypes=ANY_DTYPE,
           input_names=("X",))(split_params)


def gather_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    axis = int(node.attrs.get("axis", 0)) % len(x.shape)
    dim = x.shape[axis]
    indices = [i % dim if dim else 0 for i in _const_ints(graph, node, 1) or []]
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    # Evenly spaced indices (one index, a range, every other row...) need no table.
    step = indices[1] - indices[0] if len(indices) > 1 else 0
    progression = all(b - a == step for a, b in zip(indices, indices[1:]))
    return {"indices": indices, "count": len(indices), "outer": outer, "inner": inner, "dim": dim,
            "progression": progression, "step": step, "empty": not indices or not outer or not inner}


def _gather_check(node: Node, graph: Graph) -> str | None:
    indices = _const_ints(graph, node, 1) or []
    dim = graph.tensors[node.inputs[0]].shape[int(node.attrs.get("axis", 0))]
    bad = [i for i in indices if not -dim <= i < dim]
    return f"Gather indices {bad[:4]} out of range for a dimension of {dim}" if bad else None


REF.kernel("Gather", template="ref/gather.c.j2", static_inputs=(1,), check=_gather_check, dtypes=ANY_DTYPE,
           input_names=("X",), output_names=("Y",))(gather_params)
