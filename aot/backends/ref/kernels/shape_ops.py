"""Shape ops with a static output: Expand, Tile, DepthToSpace and SpaceToDepth are each one strided
move of the copy template (a broadcast axis reads with stride 0, a tiled axis is an extra loop that
reads the same rows again, depth/space rearrangements are a transpose of a 6-D view). Range,
ConstantOfShape and NonZero of constant inputs are constant tables (the importer folds them
already; the kernel serves graphs built after import)."""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from ....codegen.cformat import c_array_body
from ....codegen.cformat import strides as dense_strides
from ....ir import Graph, Node
from ....ops.ctyping import ALL as ALL_DTYPES  # every type these ops move: bool is uint8_t in C
from .. import REF
from .data_movement import move, nonempty


def expand_params(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    lead = len(y.shape) - len(x.shape)
    xs = dense_strides(x.shape)
    # Right-aligned broadcasting: a size-1 (or missing) input axis is read again for every index.
    src = [0 if a < lead or x.shape[a - lead] == 1 else xs[a - lead] for a in range(len(y.shape))]
    return {"moves": nonempty([move("X", y.shape, 0, src, 0, dense_strides(y.shape))])}


REF.kernel("Expand", template="ref/copy.c.j2", static_inputs=(1,), dtypes=ALL_DTYPES, input_names=("X",),
           output_names=("Y",), name="expand")(expand_params)


def tile_params(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    reps = [int(r) for r in np.asarray(graph.const(node.inputs[1])).reshape(-1)]
    xs, ys = dense_strides(x.shape), dense_strides(y.shape)
    dims, src, dst = [], [], []
    for a, (d, r) in enumerate(zip(x.shape, reps)):
        # Output axis a is [r copies] x [d rows]: the copy index reads the same rows (stride 0).
        dims += [r, d]
        src += [0, xs[a]]
        dst += [d * ys[a], ys[a]]
    return {"moves": nonempty([move("X", dims, 0, src, 0, dst)])}


REF.kernel("Tile", template="ref/copy.c.j2", static_inputs=(1,), dtypes=ALL_DTYPES, input_names=("X",),
           output_names=("Y",), name="tile")(tile_params)


def _permuted(view: list[int], perm: list[int]) -> tuple[list[int], list[int], list[int]]:
    """Dims, source strides and destination strides of transposing ``view`` by ``perm``."""
    vs = dense_strides(tuple(view))
    dims = [view[p] for p in perm]
    return dims, [vs[p] for p in perm], list(dense_strides(tuple(dims)))


def depth_space_params(node: Node, graph: Graph) -> dict:
    n, c, h, w = graph.tensors[node.inputs[0]].shape
    b = int(node.attrs["blocksize"])
    if node.op_type == "DepthToSpace":
        if node.attrs.get("mode", "DCR") == "DCR":
            view, perm = [n, b, b, c // (b * b), h, w], [0, 3, 4, 1, 5, 2]
        else:
            view, perm = [n, c // (b * b), b, b, h, w], [0, 1, 4, 2, 5, 3]
    else:
        view, perm = [n, c, h // b, b, w // b, b], [0, 3, 5, 1, 2, 4]
    dims, src, dst = _permuted(view, perm)
    return {"moves": nonempty([move("X", dims, 0, src, 0, dst)])}


REF.kernel("DepthToSpace", "SpaceToDepth", template="ref/copy.c.j2", dtypes=ALL_DTYPES, input_names=("X",),
           output_names=("Y",), name="depth_space")(depth_space_params)


def constant_values(node: Node, graph: Graph) -> np.ndarray:
    """The output of Range, ConstantOfShape or NonZero from their constant inputs."""
    y = graph.tensors[node.outputs[0]]
    if node.op_type == "Range":
        start, _, delta = (np.asarray(graph.const(n)).reshape(()) for n in node.inputs[:3])
        # ONNX Runtime adds delta repeatedly (in the output type), not start + i * delta
        values, v = [], start.astype(y.dtype)
        for _ in range(y.size):
            values.append(v)
            v = (v + delta).astype(y.dtype)
        return np.asarray(values, y.dtype)
    if node.op_type == "ConstantOfShape":
        value = node.attrs.get("value")
        fill = numpy_helper.to_array(value).reshape(-1)[0] if value is not None else 0
        return np.full(y.shape, fill, y.dtype)
    return np.asarray(np.nonzero(np.asarray(graph.const(node.inputs[0]))), np.int64).reshape(y.shape)


def constant_params(node: Node, graph: Graph) -> dict:
    y = graph.tensors[node.outputs[0]]
    return {"table": c_array_body(constant_values(node, graph)), "size": y.size}


def _constant_check(node: Node, graph: Graph) -> str | None:
    if node.op_type == "ConstantOfShape" and graph.const(node.inputs[0]) is None:
        return "the shape input must be a compile-time constant"
    return None


REF.kernel("Range", template="ref/constant.c.j2", static_inputs=(0, 1, 2), dtypes=ALL_DTYPES,
           output_names=("Y",), name="range")(constant_params)
REF.kernel("ConstantOfShape", template="ref/constant.c.j2", static_inputs=(0,), check=_constant_check,
           dtypes=ALL_DTYPES, output_names=("Y",), name="constant_of_shape")(constant_params)
REF.kernel("NonZero", template="ref/constant.c.j2", static_inputs=(0,), dtypes=ALL_DTYPES,
           output_names=("Y",), name="nonzero")(constant_params)
