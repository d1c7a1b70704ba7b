"""Ops that move or select values without arithmetic."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .registry import register_op
from .spec import Int8Form, OpSpec

MOVES_INT8 = Int8Form("data_movement", activation_inputs=(0,))
# Concat: every input is an int8 activation (requantized to the output's scale where it differs).
# PTQ does not choose it (its inputs may come from float layers); QDQ files that quantize it import.
CONCAT_INT8 = Int8Form("data_movement", quantizable=lambda graph, node: False)
# A Pad on int8 takes its pad value quantized with the output's scale; PTQ leaves standalone Pads in
# float (fuse_pad folds the usual ones into the next Conv first).
PAD_INT8 = Int8Form("pad", quantizable=lambda graph, node: False, activation_inputs=(0,))


def _no_macs(graph: Graph, node: Node) -> int:
    return 0


def validate_reshape(graph: Graph, node: Node) -> str | None:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    if x.size != y.size:
        return f"reshapes {list(x.shape)} ({x.size} elements) into {list(y.shape)} ({y.size} elements)"
    return None


def validate_pad(graph: Graph, node: Node) -> str | None:
    mode = node.attrs.get("mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        return f"mode '{mode}' is not constant, reflect, edge or wrap"
    pads = graph.const(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else None
    x = graph.tensors[node.inputs[0]]
    if pads is None or mode == "constant" or (len(node.inputs) > 3 and node.inputs[3]):
        return None
    pads = [int(p) for p in pads.reshape(-1)]
    rank = len(x.shape)
    if len(pads) != 2 * rank:
        return None
    for axis, dim in enumerate(x.shape):
        widest = max(pads[axis], pads[axis + rank])
        if mode == "reflect" and widest > dim - 1:
            return f"reflect pads {pads} reach past axis {axis} of size {dim} (at most {dim - 1} there)"
        if mode in ("edge", "wrap") and widest > 0 and dim == 0:
            return f"{mode} padding of the empty axis {axis}"
    return None


def validate_gather(graph: Graph, node: Node) -> str | None:
    indices = graph.const(node.inputs[1])
    if indices is None:
        return None  # runtime indices: the kernel clamps them
    x = graph.tensors[node.inputs[0]]
    axis = int(node.attrs.get("axis", 0))
    if not -len(x.shape) <= axis < len(x.shape):
        return f"axis {axis} is outside the input's rank {len(x.shape)}"
    dim = x.shape[axis]
    flat = np.asarray(indices).reshape(-1)
    bad = flat[(flat < -dim) | (flat >= dim)]
    if bad.size:
        return (f"indices {sorted({int(i) for i in bad})[:8]} are out of range for axis {axis} of size {dim} "
                f"(valid: {-dim} to {dim - 1})")
    return None


for _op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"):
    register_op(OpSpec(_op, "data_movement", int8=MOVES_INT8, macs=_no_macs,
                       validate=validate_reshape if _op != "Transpose" else None))
register_op(OpSpec("Concat", "data_movement", int8=CONCAT_INT8, macs=_no_macs))
register_op(OpSpec("Pad", "data_movement", layout="preserving", int8=PAD_INT8, macs=_no_macs, validate=validate_pad))
# Slice and Gather pick int8 values (Gather's indices, constant or computed at run time, are not
# quantized); Split has several outputs, each with its own QuantizeLinear, so it stays float in QDQ form.
register_op(OpSpec("Slice", "data_movement", int8=MOVES_INT8, macs=_no_macs))
register_op(OpSpec("Split", "data_movement", macs=_no_macs))
register_op(OpSpec("Gather", "data_movement", int8=MOVES_INT8, macs=_no_macs, validate=validate_gather))
