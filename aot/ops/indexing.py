"""Data-dependent, indexing and shape ops: gathers and scatters with runtime indices, selections
(TopK, ArgMax/ArgMin), scans (CumSum), masks (Trilu, OneHot), shape ops whose output shape is static
(Expand, Tile, Range, ConstantOfShape, NonZero of a constant, DepthToSpace/SpaceToDepth) and Einsum.

Runtime indices are never trusted: a negative index wraps once (ONNX), and an index still outside
its axis is clamped to the nearest valid position (first or last), so the generated C never reads or
writes outside a buffer. ONNX Runtime reports an error there instead; a microcontroller has no one
to report to, and clamping keeps the output deterministic.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .registry import register_op
from .spec import OpSpec


def _shape(graph: Graph, name: str) -> tuple[int, ...]:
    return tuple(graph.tensors[name].shape)


def _axis_problem(axis: int, rank: int, what: str = "axis") -> str | None:
    if not -rank <= axis < max(rank, 1):
        return f"{what} {axis} is outside the input's rank {rank} (valid: {-rank} to {rank - 1})"
    return None


def _const(graph: Graph, node: Node, idx: int) -> np.ndarray | None:
    if idx >= len(node.inputs) or not node.inputs[idx]:
        return None
    value = graph.const(node.inputs[idx])
    return None if value is None else np.asarray(value)


def _index_dtype(graph: Graph, node: Node, idx: int) -> str | None:
    dtype = graph.tensors[node.inputs[idx]].dtype
    return None if dtype in ("int32", "int64") else f"indices are {dtype}; ONNX indices are int32 or int64"


def _reduction_problem(node: Node) -> str | None:
    reduction = node.attrs.get("reduction", "none")
    if reduction not in ("none", "add", "mul", "max", "min"):
        return f"reduction '{reduction}' is not none, add, mul, max or min"
    return None


def validate_gather_elements(graph: Graph, node: Node) -> str | None:
    x, i = _shape(graph, node.inputs[0]), _shape(graph, node.inputs[1])
    axis = int(node.attrs.get("axis", 0))
    if len(x) != len(i):
        return f"indices of rank {len(i)} for data of rank {len(x)} (GatherElements needs equal ranks)"
    problem = _axis_problem(axis, len(x)) or _index_dtype(graph, node, 1)
    if problem:
        return problem
    axis %= len(x)
    for a, (dx, di) in enumerate(zip(x, i)):
        if a != axis and di > dx:
            return f"indices shape {list(i)} is larger than the data shape {list(x)} on axis {a}"
    return None


def validate_gather_nd(graph: Graph, node: Node) -> str | None:
    x, i = _shape(graph, node.inputs[0]), _shape(graph, node.inputs[1])
    b = int(node.attrs.get("batch_dims", 0))
    if not i:
        return "indices must have rank 1 or more"
    if b < 0 or b >= min(len(x), len(i)):
        return f"batch_dims {b} must be below both ranks (data {len(x)}, indices {len(i)})"
    if x[:b] != i[:b]:
        return f"the first batch_dims={b} dimensions differ: data {list(x[:b])}, indices {list(i[:b])}"
    if i[-1] > len(x) - b:
        return f"index tuples of length {i[-1]} address more than the {len(x) - b} non-batch axes of the data"
    return _index_dtype(graph, node, 1)


def validate_scatter_nd(graph: Graph, node: Node) -> str | None:
    x, i, u = (_shape(graph, n) for n in node.inputs[:3])
    if not i:
        return "indices must have rank 1 or more"
    k = i[-1]
    if k > len(x):
        return f"index tuples of length {k} address more than the data's {len(x)} axes"
    want = i[:-1] + x[k:]
    if u != want:
        return f"updates shape {list(u)}, expected {list(want)} (indices {list(i)}, data {list(x)})"
    return _reduction_problem(node) or _index_dtype(graph, node, 1)


def validate_scatter_elements(graph: Graph, node: Node) -> str | None:
    x, i, u = (_shape(graph, n) for n in node.inputs[:3])
    axis = int(node.attrs.get("axis", 0))
    if len(i) != len(x) or u != i:
        return f"indices {list(i)} and updates {list(u)} must have one shape and the data's rank {len(x)}"
    problem = _axis_problem(axis, len(x)) or _reduction_problem(node) or _index_dtype(graph, node, 1)
    if problem:
        return problem
    for a, (dx, di) in enumerate(zip(x, i)):
        if a != axis % len(x) and di > dx:
            return f"indices shape {list(i)} is larger than the data shape {list(x)} on axis {a}"
    return None


def validate_topk(graph: Graph, node: Node) -> str | None:
    x = _shape(graph, node.inputs[0])
    axis = int(node.attrs.get("axis", -1))
    problem = _axis_problem(axis, len(x))
    if problem:
        return problem
    k = _const(graph, node, 1)
    if k is None:
        return "K is a runtime input; aot needs it constant (the output shape depends on it)"
    k = int(k.reshape(-1)[0])
    if not 0 <= k <= x[axis]:
        return f"K={k} is outside 0..{x[axis]} (the size of axis {axis})"
    return None


def validate_arg(graph: Graph, node: Node) -> str | None:
    return _axis_problem(int(node.attrs.get("axis", 0)), len(_shape(graph, node.inputs[0])))


def validate_cumsum(graph: Graph, node: Node) -> str | None:
    axis = _const(graph, node, 1)
    if axis is None:
        return "axis is a runtime input; aot needs it constant"
    if axis.size != 1:
        return f"axis must be a scalar, it has {axis.size} values"
    return _axis_problem(int(axis.reshape(-1)[0]), len(_shape(graph, node.inputs[0])))


def validate_trilu(graph: Graph, node: Node) -> str | None:
    if len(_shape(graph, node.inputs[0])) < 2:
        return "Trilu needs an input of rank 2 or more"
    if len(node.inputs) > 1 and node.inputs[1] and _const(graph, node, 1) is None:
        return "k is a runtime input; aot needs it constant"
    return None


def validate_onehot(graph: Graph, node: Node) -> str | None:
    depth = _const(graph, node, 1)
    if depth is None:
        return "depth is a runtime input; aot needs it constant (the output shape depends on it)"
    if depth.size != 1 or float(depth.reshape(-1)[0]) < 1:
        return f"depth must be one positive value, got {depth.reshape(-1)[:4].tolist()}"
    if graph.tensors[node.inputs[2]].size != 2:
        return f"values must hold [off_value, on_value], it has {graph.tensors[node.inputs[2]].size} elements"
    return _axis_problem(int(node.attrs.get("axis", -1)), len(_shape(graph, node.inputs[0])) + 1)


def validate_static_shape(graph: Graph, node: Node) -> str | None:
    """Range, ConstantOfShape, NonZero: their output shape is data-dependent; it is static only when
    their inputs are constants (and then the importer already folded them)."""
    runtime = [n for n in node.inputs if n and graph.const(n) is None]
    if runtime:
        return (f"its output shape depends on the values of the runtime input(s) {runtime}; aot compiles "
                f"static shapes only (with constant inputs the node folds at import)")
    return None


def validate_expand(graph: Graph, node: Node) -> str | None:
    if _const(graph, node, 1) is None:
        return "the shape is a runtime input; aot needs it constant"
    return None


def validate_tile(graph: Graph, node: Node) -> str | None:
    repeats = _const(graph, node, 1)
    if repeats is None:
        return "repeats is a runtime input; aot needs it constant"
    rank = len(_shape(graph, node.inputs[0]))
    if repeats.size != rank:
        return f"repeats has {repeats.size} values for an input of rank {rank}"
    if (repeats < 0).any():
        return f"repeats {repeats.tolist()} has negative values"
    return None


def validate_depth_space(graph: Graph, node: Node) -> str | None:
    x = _shape(graph, node.inputs[0])
    b = int(node.attrs.get("blocksize", 0))
    if len(x) != 4:
        return f"input of rank {len(x)}; {node.op_type} takes [N, C, H, W]"
    if b < 1:
        return f"blocksize {b} must be positive"
    if node.op_type == "DepthToSpace":
        mode = node.attrs.get("mode", "DCR")
        if mode not in ("DCR", "CRD"):
            return f"mode '{mode}' is not DCR or CRD"
        if x[1] % (b * b):
            return f"{x[1]} channels are not a multiple of blocksize^2 = {b * b}"
    elif x[2] % b or x[3] % b:
        return f"height {x[2]} and width {x[3]} must be multiples of blocksize {b}"
    return None


def validate_einsum(graph: Graph, node: Node) -> str | None:
    from .einsum import parse_einsum  # the parser's errors are the reasons
    try:
        parse_einsum(str(node.attrs.get("equation", "")), [_shape(graph, n) for n in node.inputs])
    except ValueError as exc:
        return str(exc)
    return None


def _input_size(graph: Graph, node: Node) -> int:
    return graph.tensors[node.inputs[0]].size


def _einsum_macs(graph: Graph, node: Node) -> int:
    from .einsum import parse_einsum
    try:
        spec = parse_einsum(str(node.attrs.get("equation", "")), [_shape(graph, n) for n in node.inputs])
    except ValueError:
        return 0
    return int(np.prod(list(spec.sizes.values()), dtype=np.int64))


for _op, _validate in (("GatherElements", validate_gather_elements), ("GatherND", validate_gather_nd),
                       ("ScatterND", validate_scatter_nd), ("ScatterElements", validate_scatter_elements),
                       # Scatter: ScatterElements' name before opset 11 (the importer's upgrade renames it)
                       ("Scatter", validate_scatter_elements),
                       ("OneHot", validate_onehot), ("Expand", validate_expand), ("Tile", validate_tile),
                       ("Range", validate_static_shape), ("ConstantOfShape", validate_static_shape),
                       ("NonZero", validate_static_shape), ("DepthToSpace", validate_depth_space),
                       ("SpaceToDepth", validate_depth_space), ("Trilu", validate_trilu)):
    register_op(OpSpec(_op, "indexing", macs=lambda graph, node: 0, validate=_validate,
                       min_opset=14 if _op == "Trilu" else None))
register_op(OpSpec("TopK", "indexing", macs=_input_size, validate=validate_topk))
register_op(OpSpec("ArgMax", "indexing", macs=_input_size, validate=validate_arg))
register_op(OpSpec("ArgMin", "indexing", macs=_input_size, validate=validate_arg))
register_op(OpSpec("CumSum", "indexing", macs=_input_size, validate=validate_cumsum))
register_op(OpSpec("Einsum", "indexing", macs=_einsum_macs, validate=validate_einsum))
