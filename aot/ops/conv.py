"""Convolution: the op whose layout, weights and fusions matter most."""
from __future__ import annotations

from dataclasses import replace

from ..ir import Graph, Node
from .common import constant_operands, spatial_attrs_problem, window_fits_problem
from .registry import register_op
from .spec import Int8Form, OpSpec


def _weights_per_row(graph: Graph, node: Node) -> int:
    """The weight's size per entry of its first axis (input channels per group x kernel taps for Conv)."""
    w = graph.tensors[node.inputs[1]]
    return w.size // max(w.shape[0], 1)


def conv_macs(graph: Graph, node: Node) -> int:
    """Output elements x (input channels per group x kernel taps)."""
    return graph.tensors[node.outputs[0]].size * _weights_per_row(graph, node)


def validate_conv(graph: Graph, node: Node) -> str | None:
    x, w = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    if len(w.shape) != len(x.shape) or len(x.shape) < 3:
        return f"weight rank {len(w.shape)} differs from input rank {len(x.shape)} (both N, C, spatial...)"
    group = int(node.attrs.get("group", 1))
    channels, out_channels = x.shape[1], w.shape[0]
    if group < 1 or channels % group or out_channels % group:
        return (f"group {group} must be at least 1 and divide the input channels ({channels}) and the output "
                f"channels ({out_channels})")
    if w.shape[1] * group != channels:
        return (f"the input has {channels} channels, the weight {list(w.shape)} expects {w.shape[1]} x group "
                f"{group} = {w.shape[1] * group}")
    kernel = node.attrs.get("kernel_shape")
    if kernel is not None and list(kernel) != list(w.shape[2:]):
        return f"kernel_shape {list(kernel)} differs from the weight's spatial shape {list(w.shape[2:])}"
    if len(node.inputs) > 2 and node.inputs[2]:
        b = graph.tensors[node.inputs[2]]
        if b.shape != (out_channels,):
            return f"bias shape {list(b.shape)} must be [{out_channels}] (one value per output channel)"
    return spatial_attrs_problem(node, len(x.shape) - 2, list(w.shape[2:])) or \
        window_fits_problem(node, list(x.shape[2:]), list(w.shape[2:]))


def validate_qlinear_conv(graph: Graph, node: Node) -> str | None:
    """QLinearConv (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp[, B]) against Conv's rules."""
    if len(node.inputs) < 8:
        return f"QLinearConv takes 8 or 9 inputs, it has {len(node.inputs)}"
    bias = node.inputs[8:9]
    return validate_conv(graph, replace(node, inputs=[node.inputs[0], node.inputs[3], *bias]))


# Imported as written and expanded into Conv by aot/quant/expand_qlinear.py; only validated here.
register_op(OpSpec("QLinearConv", "conv", validate=validate_qlinear_conv))

register_op(OpSpec(
    "Conv", "conv", validate=validate_conv, layout="sensitive", weight_input=1, fuses_activation=True, absorbs_bias_add=True,
    folds_batchnorm=True, macs=conv_macs,
    int8=Int8Form("conv", quantizable=lambda g, n: constant_operands(g, n, (0,)), activation_inputs=(0,),
                  weight_axis=lambda node: 0)))


def conv_transpose_macs(graph: Graph, node: Node) -> int:
    """Every input element times one weight per output channel of its group and tap."""
    return graph.tensors[node.inputs[0]].size * _weights_per_row(graph, node)


def validate_conv_transpose(graph: Graph, node: Node) -> str | None:
    x, w = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    if len(w.shape) != len(x.shape) or len(x.shape) < 3:
        return f"weight rank {len(w.shape)} differs from input rank {len(x.shape)} (both N or C, C, spatial...)"
    spatial = len(x.shape) - 2
    group = int(node.attrs.get("group", 1))
    channels = x.shape[1]
    if group < 1 or channels % group:
        return f"group {group} must be at least 1 and divide the input channels ({channels})"
    if w.shape[0] != channels:
        return (f"the weight {list(w.shape)} is (C, M/group, k...): its first dimension must be the input's "
                f"{channels} channels")
    out_channels = w.shape[1] * group
    kernel = node.attrs.get("kernel_shape")
    if kernel is not None and list(kernel) != list(w.shape[2:]):
        return f"kernel_shape {list(kernel)} differs from the weight's spatial shape {list(w.shape[2:])}"
    if len(node.inputs) > 2 and node.inputs[2]:
        b = graph.tensors[node.inputs[2]]
        if b.shape != (out_channels,):
            return f"bias shape {list(b.shape)} must be [{out_channels}] (one value per output channel)"
    problem = spatial_attrs_problem(node, spatial, list(w.shape[2:]))
    if problem:
        return problem
    strides = list(node.attrs.get("strides") or [1] * spatial)
    dilations = list(node.attrs.get("dilations") or [1] * spatial)
    output_padding = list(node.attrs.get("output_padding") or [0] * spatial)
    if len(output_padding) != spatial:
        return f"output_padding {output_padding} must have {spatial} values (one per spatial axis)"
    for axis, (p, s, d) in enumerate(zip(output_padding, strides, dilations)):
        # ONNX: output_padding must be smaller than the stride or the dilation of its axis
        if p < 0 or p >= max(s, d):
            return (f"output_padding {output_padding}: {p} on spatial axis {axis} must be at least 0 and less "
                    f"than its stride {s} or dilation {d}")
    output_shape = node.attrs.get("output_shape")
    if output_shape is not None and len(output_shape) != spatial:
        return f"output_shape {list(output_shape)} must have {spatial} values (one per spatial axis)"
    y = graph.tensors[node.outputs[0]]
    if y.shape[:2] != (x.shape[0], out_channels):
        return f"the output {list(y.shape)} must be ({x.shape[0]}, {out_channels}, ...)"
    if output_shape is not None:
        for axis in range(spatial):
            full = strides[axis] * (x.shape[axis + 2] - 1) + output_padding[axis] + \
                (w.shape[axis + 2] - 1) * dilations[axis] + 1
            # ONNX Runtime refuses an output_shape the input could not have produced (padding < 0
            # beyond what the stride's rounding allows)
            if y.shape[axis + 2] >= full + strides[axis]:
                return (f"output_shape {list(output_shape)}: {y.shape[axis + 2]} on spatial axis {axis} exceeds "
                        f"the full output {full} of input size {x.shape[axis + 2]} (stride {strides[axis]}, kernel "
                        f"{w.shape[axis + 2]}, dilation {dilations[axis]}, output_padding {output_padding[axis]})")
    return None


register_op(OpSpec("ConvTranspose", "conv", validate=validate_conv_transpose, macs=conv_transpose_macs))
