"""Resize (opsets 11-19; opset-10 models arrive upgraded to 13) and Upsample (what an opset < 10
model holds; the importer's upgrade turns it into Resize, the kernel reads either form).

Scales, sizes and roi must be compile-time constants: they fix the output shape and the per-axis
sampling tables the kernel is made of."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .registry import register_op
from .spec import Int8Form, OpSpec

MODES = ("nearest", "linear", "cubic")
TRANSFORMS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
              "tf_half_pixel_for_nn", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
POLICIES = ("stretch", "not_larger", "not_smaller")


def _operand(graph: Graph, node: Node, idx: int) -> tuple[bool, np.ndarray | None]:
    """(given, constant value): an omitted input, and an empty tensor (opset 11-12's way to omit
    scales), count as not given."""
    if idx >= len(node.inputs) or not node.inputs[idx]:
        return False, None
    value = graph.const(node.inputs[idx])
    if value is not None and np.asarray(value).size == 0:
        return False, None
    return True, None if value is None else np.asarray(value)


def validate_resize(graph: Graph, node: Node) -> str | None:
    a = node.attrs
    mode = a.get("mode", "nearest")
    if mode not in MODES:
        return f"mode '{mode}' is not {', '.join(MODES)}"
    rank = len(graph.tensors[node.inputs[0]].shape)
    if node.op_type == "Upsample":
        _, scales = _operand(graph, node, 1)
        if scales is None and "scales" in a:
            scales = np.asarray(a["scales"], np.float32)
        if scales is None:
            return "scales must be a compile-time constant"
        if scales.size != rank or (scales <= 0).any():
            return f"scales {scales.tolist()} must be {rank} positive values"
        return None
    transform = a.get("coordinate_transformation_mode", "half_pixel")
    if transform not in TRANSFORMS:
        return f"coordinate_transformation_mode '{transform}' is not one of {', '.join(TRANSFORMS)}"
    if a.get("nearest_mode", "round_prefer_floor") not in NEAREST_MODES:
        return f"nearest_mode '{a['nearest_mode']}' is not one of {', '.join(NEAREST_MODES)}"
    policy = a.get("keep_aspect_ratio_policy", "stretch")
    if policy not in POLICIES:
        return f"keep_aspect_ratio_policy '{policy}' is not one of {', '.join(POLICIES)}"
    if int(a.get("antialias", 0)) not in (0, 1):
        return f"antialias {a['antialias']} is not 0 or 1"
    axes = [int(x) for x in a.get("axes", range(rank))]
    if any(not -rank <= x < rank for x in axes) or len({x % rank for x in axes}) != len(axes):
        return f"axes {axes} must be distinct axes of the rank-{rank} input"
    has_scales, scales = _operand(graph, node, 2)
    has_sizes, sizes = _operand(graph, node, 3)
    if has_scales == has_sizes:
        return "exactly one of scales and sizes must be given"
    given = scales if has_scales else sizes
    if given is None:
        return f"{'scales' if has_scales else 'sizes'} must be a compile-time constant (they fix the output shape)"
    if given.size != len(axes):
        return f"{'scales' if has_scales else 'sizes'} has {given.size} values for {len(axes)} axes"
    if (given <= 0).any():
        return f"{'scales' if has_scales else 'sizes'} {given.tolist()} must be positive"
    if transform == "tf_crop_and_resize":
        _, roi = _operand(graph, node, 1)
        if roi is None:
            return "tf_crop_and_resize needs a constant roi"
        if roi.size != 2 * len(axes):
            return f"roi has {roi.size} values, expected {2 * len(axes)} (starts then ends per axis)"
    return None


def _output_size(graph: Graph, node: Node) -> int:
    return graph.tensors[node.outputs[0]].size


def _int8_computable(graph: Graph, node: Node) -> bool:
    """Nearest (values moved) or linear without antialias over at most two axes (TFLite's int8 bilinear)."""
    mode = node.attrs.get("mode", "nearest")
    if mode == "nearest":
        return True
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    return (mode == "linear" and not int(node.attrs.get("antialias", 0))
            and node.attrs.get("coordinate_transformation_mode") != "tf_crop_and_resize"
            and sum(a != b for a, b in zip(x.shape, y.shape)) <= 2)


# On int8, nearest moves values and linear interpolates them in integers (TFLite's int8
# ResizeNearestNeighbor and ResizeBilinear); the kernel requantizes to the output's scale itself. Cubic
# stays in float (a QDQ model runs it between DequantizeLinear/QuantizeLinear with --allow-float-fallback).
RESIZE_INT8 = Int8Form("rescale", quantizable=_int8_computable, activation_inputs=(0,))

for _op in ("Resize", "Upsample"):
    register_op(OpSpec(_op, "resize", macs=_output_size, validate=validate_resize, int8=RESIZE_INT8))
