"""Signal processing: DFT (opset 17 and 20), STFT, the window generators (HannWindow, HammingWindow,
BlackmanWindow) and MelWeightMatrix.

Every parameter that decides a shape (DFT's dft_length and axis, STFT's frame_step and frame_length,
a window's size, every MelWeightMatrix input) is a compile-time constant: the kernels read them as
``static_inputs``. With constant inputs the windows and MelWeightMatrix fold to constants at import.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import output_size
from .registry import register_op
from .spec import OpSpec


def _const_int(graph: Graph, node: Node, idx: int) -> int | None:
    """The scalar integer constant at input ``idx``; None when the input is absent."""
    if idx >= len(node.inputs) or not node.inputs[idx]:
        return None
    value = graph.const(node.inputs[idx])
    if value is None:
        raise ValueError(f"input {idx} ('{node.inputs[idx]}') is computed at run time; aot needs it constant "
                         f"(it decides the output shape)")
    return int(np.asarray(value).reshape(-1)[0])


def dft_axis(graph: Graph, node: Node) -> int:
    """The transformed axis, not yet normalised: opset 20 takes it as an input (default -2), opset 17
    as an attribute (default 1)."""
    if "axis" in node.attrs:
        return int(node.attrs["axis"])
    axis = _const_int(graph, node, 2)
    if axis is not None:
        return axis
    return -2 if graph.opset >= 20 else 1


def dft_length(graph: Graph, node: Node) -> int:
    """The transform length: the input, or the axis' size (twice its size minus one for an inverse
    one-sided transform, whose input holds half a spectrum)."""
    length = _const_int(graph, node, 1)
    if length is not None:
        return length
    x = graph.tensors[node.inputs[0]].shape
    n = x[dft_axis(graph, node) % len(x)]
    inverse, onesided = int(node.attrs.get("inverse", 0)), int(node.attrs.get("onesided", 0))
    return 2 * (n - 1) if inverse and onesided else n


def validate_dft(graph: Graph, node: Node) -> str | None:
    x = graph.tensors[node.inputs[0]].shape
    if len(x) < 2 or x[-1] not in (1, 2):
        return f"input shape {list(x)}: DFT takes [..., signal..., 1 or 2] (real, or real and imaginary parts)"
    try:
        axis, length = dft_axis(graph, node), dft_length(graph, node)
    except ValueError as exc:
        return str(exc)
    if not (-len(x) <= axis <= -2 or 0 <= axis <= len(x) - 2):
        return f"axis {axis} is not a signal axis of an input of rank {len(x)} (the last axis holds the parts)"
    if length < 1:
        return f"dft_length {length} must be positive"
    if int(node.attrs.get("onesided", 0)) and not int(node.attrs.get("inverse", 0)) and x[-1] == 2:
        return "a one-sided forward DFT takes a real input (last axis of size 1)"
    return None


def _dft_macs(graph: Graph, node: Node) -> int:
    x = graph.tensors[node.inputs[0]].shape
    try:
        return output_size(graph, node) * min(x[dft_axis(graph, node) % len(x)], dft_length(graph, node))
    except ValueError:
        return 0


def validate_stft(graph: Graph, node: Node) -> str | None:
    x = graph.tensors[node.inputs[0]].shape
    if len(x) != 3 or x[-1] not in (1, 2):
        return f"signal shape {list(x)}: STFT takes [batch, signal_length, 1 or 2]"
    try:
        step, length = _const_int(graph, node, 1), _const_int(graph, node, 3)
    except ValueError as exc:
        return str(exc)
    window = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    if window is not None:
        w = graph.tensors[window].shape
        if len(w) != 1 or (length is not None and w[0] != length):
            return f"window shape {list(w)} for frame_length {length}: the window is one frame long"
        length = w[0]
    if length is None:
        return "STFT needs a window or a frame_length"
    if step is None or step < 1 or not 1 <= length <= x[1]:
        return f"frame_step {step} and frame_length {length} must be positive, the frame within the signal ({x[1]})"
    if int(node.attrs.get("onesided", 1)) and x[-1] == 2:
        return "a one-sided STFT takes a real signal (last axis of size 1)"
    return None


def validate_constant_inputs(graph: Graph, node: Node) -> str | None:
    """Windows and MelWeightMatrix: every input sets the output's shape or values; all constant."""
    runtime = [n for n in node.inputs if n and graph.const(n) is None]
    if runtime:
        return f"input(s) {runtime} are computed at run time; aot needs them constant (they decide the output shape)"
    return None


register_op(OpSpec("DFT", "signal", macs=_dft_macs, validate=validate_dft, min_opset=17))
register_op(OpSpec("STFT", "signal", macs=lambda graph, node: output_size(graph, node) * 8, validate=validate_stft,
                   min_opset=17))
for _op in ("HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix"):
    register_op(OpSpec(_op, "signal", macs=output_size, validate=validate_constant_inputs, min_opset=17))
