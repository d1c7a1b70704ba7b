"""Fold a zero constant-mode Pad on spatial axes into the pads of the Conv that reads it.

TensorFlow exports "valid" strided convolutions as ``Pad -> Conv``; the Pad copies the whole
activation into a larger buffer. The Conv kernel already skips out-of-range taps, so the padding
costs nothing there, while the Pad costs a pass over memory and a second live buffer.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ir.pattern import Pattern, PatternMatch, op
from .context import PassContext, graph_pass
from .rewrite import apply_fusion


def spatial_pads(graph: Graph, pad: Node) -> tuple[list[int], list[int]] | None:
    """(begin, end) pads of the spatial axes when ``pad`` adds zeros there and nothing on N and C."""
    if pad.attrs.get("mode", "constant") != "constant" or len(pad.inputs) < 2:
        return None
    rank = len(graph.tensors[pad.inputs[0]].shape)
    pads = graph.const(pad.inputs[1])
    if pads is None or rank < 3:
        return None
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    value = graph.const(pad.inputs[2]) if len(pad.inputs) > 2 and pad.inputs[2] else np.zeros(())
    if value is None or np.asarray(value).size != 1 or float(np.asarray(value).reshape(())) != 0.0:
        return None
    axes = list(range(rank))
    if len(pad.inputs) > 3 and pad.inputs[3]:
        given = graph.const(pad.inputs[3])
        if given is None:
            return None
        axes = [int(a) % rank for a in np.asarray(given).reshape(-1)]
    if len(pads) != 2 * len(axes) or any(p < 0 for p in pads):
        return None  # negative pads crop, which Conv pads cannot express
    begin, end = [0] * rank, [0] * rank
    for a, b, e in zip(axes, pads[:len(axes)], pads[len(axes):]):
        begin[a] += b
        end[a] += e
    if begin[0] or begin[1] or end[0] or end[1]:
        return None
    return begin[2:], end[2:]


def explicit_conv_pads(graph: Graph, conv: Node) -> tuple[list[int], list[int]]:
    """The Conv's pads with auto_pad resolved against its (static) input and output shapes."""
    x, y = graph.tensors[conv.inputs[0]], graph.tensors[conv.outputs[0]]
    nsp = len(x.shape) - 2
    kernel = list(conv.attrs.get("kernel_shape") or graph.tensors[conv.inputs[1]].shape[2:])
    strides = list(conv.attrs.get("strides") or [1] * nsp)
    dilations = list(conv.attrs.get("dilations") or [1] * nsp)
    auto_pad = conv.attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i, o, k, s, d in zip(x.shape[2:], y.shape[2:], kernel, strides, dilations):
            total = max((o - 1) * s + (k - 1) * d + 1 - i, 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else big)
            end.append(big if auto_pad == "SAME_UPPER" else small)
        return begin, end
    if auto_pad == "VALID":
        return [0] * nsp, [0] * nsp
    pads = list(conv.attrs.get("pads") or [0] * (2 * nsp))
    return pads[:nsp], pads[nsp:]


def _check(m: PatternMatch, graph: Graph) -> str | None:
    return None if spatial_pads(graph, m.nodes[0]) is not None else "the Pad is not zeros on spatial axes only"


def _fuse(m: PatternMatch, graph: Graph) -> None:
    pad, conv = m.nodes
    added = spatial_pads(graph, pad)
    begin, end = explicit_conv_pads(graph, conv)
    conv.attrs["pads"] = [b + a for b, a in zip(begin, added[0])] + [e + a for e, a in zip(end, added[1])]
    if "auto_pad" in conv.attrs:
        conv.attrs["auto_pad"] = "NOTSET"
    between = pad.outputs[0]
    conv.inputs[0] = pad.inputs[0]
    graph.nodes.remove(pad)
    graph.remove_tensor(between)


# The Pad must feed the Conv's data (input 0), not its weights.
PAD_CONV = Pattern("pad_conv", op("Conv", op("Pad", dtype="float32")), check=_check, rewrite=_fuse)


@graph_pass("fuse_pad")
def fuse_pad(graph: Graph, ctx: PassContext) -> Graph:
    return apply_fusion(graph, ctx, PAD_CONV)
