"""Sampling ops that read an image at computed positions: GridSample (positions from a grid input)
and AffineGrid (the grid of an affine transform), RoiAlign (regions of interest), Col2Im and
MaxUnpool (scatter back into an image), DeformConv (a convolution at offset positions)."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import output_size
from .registry import register_op
from .spec import OpSpec

# GridSample modes: opset 16 names them bilinear/bicubic, opset 20 linear/cubic (same meaning).
GRID_SAMPLE_MODES = {"bilinear": "linear", "linear": "linear", "nearest": "nearest", "bicubic": "cubic",
                     "cubic": "cubic"}
PADDING_MODES = ("zeros", "border", "reflection")


def _shape(graph: Graph, name: str) -> tuple[int, ...]:
    return tuple(graph.tensors[name].shape)


def validate_grid_sample(graph: Graph, node: Node) -> str | None:
    x, grid = _shape(graph, node.inputs[0]), _shape(graph, node.inputs[1])
    mode = node.attrs.get("mode", "linear")  # bilinear in opset 16: the same default
    if mode not in GRID_SAMPLE_MODES:
        return f"mode '{mode}' is not one of {', '.join(GRID_SAMPLE_MODES)}"
    padding = node.attrs.get("padding_mode", "zeros")
    if padding not in PADDING_MODES:
        return f"padding_mode '{padding}' is not one of {', '.join(PADDING_MODES)}"
    if len(x) not in (4, 5):
        return f"input of rank {len(x)}; GridSample takes [N, C, H, W] or [N, C, D, H, W]"
    if len(grid) != len(x) or grid[0] != x[0] or grid[-1] != len(x) - 2:
        return (f"grid shape {list(grid)} does not fit input {list(x)} (expected [{x[0]}, spatial..., "
                f"{len(x) - 2}])")
    return None


def validate_affine_grid(graph: Graph, node: Node) -> str | None:
    theta = _shape(graph, node.inputs[0])
    size = graph.const(node.inputs[1])
    if size is None:
        return "size is a runtime input; aot needs it constant (the output shape depends on it)"
    size = np.asarray(size).reshape(-1)
    if size.size not in (4, 5):
        return f"size {size.tolist()} must be [N, C, H, W] or [N, C, D, H, W]"
    r = size.size - 2
    if theta != (int(size[0]), r, r + 1):
        return f"theta of shape {list(theta)}; size {size.tolist()} needs [{int(size[0])}, {r}, {r + 1}]"
    return None


def _grid_sample_macs(graph: Graph, node: Node) -> int:
    mode = GRID_SAMPLE_MODES.get(node.attrs.get("mode", "linear"), "linear")
    spatial = len(graph.tensors[node.inputs[0]].shape) - 2
    taps = {"nearest": 1, "linear": 2 ** spatial, "cubic": 4 ** spatial}[mode]
    return output_size(graph, node) * taps


register_op(OpSpec("GridSample", "sampling", macs=_grid_sample_macs, validate=validate_grid_sample, min_opset=16))
register_op(OpSpec("AffineGrid", "sampling", macs=output_size, validate=validate_affine_grid, min_opset=20))
