"""Pooling over spatial windows and whole planes."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import spatial_attrs_problem, window_fits_problem
from .registry import register_op
from .spec import Int8Form, OpSpec


def window_macs(graph: Graph, node: Node) -> int:
    return graph.tensors[node.outputs[0]].size * int(np.prod(node.attrs.get("kernel_shape", [1])))


def input_size(graph: Graph, node: Node) -> int:
    return graph.tensors[node.inputs[0]].size


def validate_window_pool(graph: Graph, node: Node) -> str | None:
    x = graph.tensors[node.inputs[0]]
    kernel = node.attrs.get("kernel_shape")
    if kernel is None:
        return "kernel_shape is required"
    spatial = len(x.shape) - 2
    problem = spatial_attrs_problem(node, spatial, list(kernel))
    if problem:
        return problem
    pads = list(node.attrs.get("pads") or [0] * (2 * spatial))
    dilations = list(node.attrs.get("dilations") or [1] * spatial)
    for axis in range(spatial):  # ONNX Runtime refuses a window that could lie wholly on padding
        extent = (kernel[axis] - 1) * dilations[axis] + 1
        if pads[axis] >= extent or pads[axis + spatial] >= extent:
            return f"pads {pads} must be smaller than the window ({extent}) on every axis"
    return window_fits_problem(node, list(x.shape[2:]), list(kernel))


# MaxPool picks input values: its output keeps the input's scale (a Requantize follows if the file differs).
register_op(OpSpec("MaxPool", "pool", layout="sensitive", macs=window_macs, validate=validate_window_pool,
                   int8=Int8Form("same_scale", activation_inputs=(0,))))
register_op(OpSpec("AveragePool", "pool", layout="sensitive", macs=window_macs, validate=validate_window_pool,
                   int8=Int8Form("rescale", activation_inputs=(0,))))
register_op(OpSpec("GlobalAveragePool", "pool", layout="sensitive", macs=input_size,
                   int8=Int8Form("rescale", activation_inputs=(0,))))
register_op(OpSpec("GlobalMaxPool", "pool", layout="sensitive", macs=input_size))
