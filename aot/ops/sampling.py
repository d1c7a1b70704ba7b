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


def _ints(graph: Graph, node: Node, idx: int) -> list[int] | None:
    if idx >= len(node.inputs) or not node.inputs[idx]:
        return None
    value = graph.const(node.inputs[idx])
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def validate_col2im(graph: Graph, node: Node) -> str | None:
    image, block = _ints(graph, node, 1), _ints(graph, node, 2)
    if image is None or block is None:
        return "image_shape and block_shape must be compile-time constants (the output shape depends on them)"
    r = len(image)
    if len(block) != r or r < 1:
        return f"image_shape {image} and block_shape {block} must have one value per spatial axis"
    if any(v < 1 for v in image + block):
        return f"image_shape {image} and block_shape {block} must be positive"
    pads = list(node.attrs.get("pads") or [0] * 2 * r)
    strides = list(node.attrs.get("strides") or [1] * r)
    dilations = list(node.attrs.get("dilations") or [1] * r)
    if len(pads) != 2 * r or len(strides) != r or len(dilations) != r or min(strides + dilations) < 1 or min(pads) < 0:
        return f"pads {pads}, strides {strides}, dilations {dilations} do not fit {r} spatial axes"
    x = _shape(graph, node.inputs[0])
    blocks = 1
    for d in range(r):
        extent = dilations[d] * (block[d] - 1) + 1
        n = (image[d] + pads[d] + pads[d + r] - extent) // strides[d] + 1
        if n < 1:
            return f"the block does not fit the padded image on axis {d}"
        blocks *= n
    bprod = int(np.prod(block))
    if len(x) != 3 or x[1] % bprod or x[2] != blocks:
        return f"input of shape {list(x)}; expected [N, C * {bprod}, {blocks}] for these shapes"
    return None


def validate_max_unpool(graph: Graph, node: Node) -> str | None:
    x, i = _shape(graph, node.inputs[0]), _shape(graph, node.inputs[1])
    if x != i:
        return f"indices of shape {list(i)} for data of shape {list(x)} (MaxUnpool needs one shape)"
    if len(node.inputs) > 2 and node.inputs[2] and graph.const(node.inputs[2]) is None:
        return "output_shape is a runtime input; aot needs it constant"
    return None


register_op(OpSpec("Col2Im", "sampling", macs=lambda graph, node: graph.tensors[node.inputs[0]].size,
                   validate=validate_col2im, min_opset=18))
register_op(OpSpec("MaxUnpool", "sampling", layout="sensitive", macs=lambda graph, node: graph.tensors[node.inputs[0]].size,
                   validate=validate_max_unpool))


def validate_roi_align(graph: Graph, node: Node) -> str | None:
    x, rois, idx = (_shape(graph, n) for n in node.inputs[:3])
    if len(x) != 4:
        return f"input of rank {len(x)}; RoiAlign takes [N, C, H, W]"
    if len(rois) != 2 or rois[1] != 4 or idx != (rois[0],):
        return f"rois {list(rois)} and batch_indices {list(idx)} must be [num_rois, 4] and [num_rois]"
    mode = node.attrs.get("mode", "avg")
    if mode not in ("avg", "max"):
        return f"mode '{mode}' is not avg or max"
    transform = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    if transform not in ("half_pixel", "output_half_pixel"):
        return f"coordinate_transformation_mode '{transform}' is not half_pixel or output_half_pixel"
    for key in ("output_height", "output_width"):
        if int(node.attrs.get(key, 1)) < 1:
            return f"{key} {node.attrs.get(key)} must be 1 or more"
    return None


register_op(OpSpec("RoiAlign", "sampling", macs=lambda graph, node: 4 * output_size(graph, node),
                   validate=validate_roi_align))


def deform_geometry(graph: Graph, node: Node) -> dict:
    x, w = _shape(graph, node.inputs[0]), _shape(graph, node.inputs[1])
    kernel = list(node.attrs.get("kernel_shape") or w[2:])
    pads = list(node.attrs.get("pads") or [0, 0, 0, 0])
    strides = list(node.attrs.get("strides") or [1, 1])
    dilations = list(node.attrs.get("dilations") or [1, 1])
    out = [(x[2 + d] + pads[d] + pads[d + 2] - dilations[d] * (kernel[d] - 1) - 1) // strides[d] + 1 for d in range(2)]
    return {"kernel": kernel, "pads": pads, "strides": strides, "dilations": dilations, "out": out,
            "group": int(node.attrs.get("group", 1)), "offset_group": int(node.attrs.get("offset_group", 1))}


def validate_deform_conv(graph: Graph, node: Node) -> str | None:
    x, w = _shape(graph, node.inputs[0]), _shape(graph, node.inputs[1])
    if len(x) != 4 or len(w) != 4:
        return f"input {list(x)} and weight {list(w)}; DeformConv takes 2-D images [N, C, H, W] and [M, C/group, kH, kW]"
    if any(len(list(node.attrs.get(k) or [])) not in (0, n) for k, n in
           (("kernel_shape", 2), ("pads", 4), ("strides", 2), ("dilations", 2))):
        return "kernel_shape, pads, strides and dilations must describe 2 spatial axes"
    g = deform_geometry(graph, node)
    if min(g["strides"] + g["dilations"] + g["kernel"]) < 1 or min(g["pads"]) < 0 or min(g["out"]) < 1:
        return f"kernel {g['kernel']}, pads {g['pads']}, strides {g['strides']}, dilations {g['dilations']} do not fit"
    if g["group"] < 1 or g["offset_group"] < 1 or x[1] != w[1] * g["group"] or w[0] % g["group"] or \
            x[1] % g["offset_group"]:
        return (f"{x[1]} input channels, weight {list(w)}, group {g['group']}, offset_group {g['offset_group']} do "
                f"not fit (C = weight channels * group, both divisible)")
    taps = g["kernel"][0] * g["kernel"][1]
    want = {2: [x[0], g["offset_group"] * 2 * taps] + g["out"], 4: [x[0], g["offset_group"] * taps] + g["out"],
            3: [w[0]]}
    for idx, shape in want.items():
        if idx < len(node.inputs) and node.inputs[idx] and list(_shape(graph, node.inputs[idx])) != shape:
            name = {2: "offset", 3: "B", 4: "mask"}[idx]
            return f"{name} of shape {list(_shape(graph, node.inputs[idx]))}, expected {shape}"
    return None


def _deform_macs(graph: Graph, node: Node) -> int:
    w = _shape(graph, node.inputs[1])
    return output_size(graph, node) * int(np.prod(w[1:]))


register_op(OpSpec("DeformConv", "sampling", macs=_deform_macs, validate=validate_deform_conv, min_opset=19))
