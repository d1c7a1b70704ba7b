"""Float ConvTranspose: groups, strides, dilations, pads, output_padding, output_shape and auto_pad,
1 to 3 spatial dims (padded to 3-d as Conv's kernel does), optional bias.

The kernel scatters: every input element, times one weight per tap and output channel of its
group, adds to the output element i * stride + k * dilation - pad_begin. The input range of each tap
whose target is inside the output is computed here, so the C loops carry no bounds tests; outputs
no input reaches (output_padding, a larger output_shape) keep the bias."""
from __future__ import annotations

from ....ir import Graph, Node
from .. import REF
from .spatial import spatial_check


def _pad3(values: list[int], fill: int) -> list[int]:
    return [fill] * (3 - len(values)) + list(values)


def transpose_pads(node: Node, graph: Graph) -> list[int]:
    """pad_begin per spatial axis. With output_shape or SAME auto_pad the padding is what makes the
    full output (stride * (in - 1) + output_padding + dilated kernel) the declared size; it is split
    as ONNX specifies and ONNX Runtime computes: SAME_UPPER puts the odd one at the end, SAME_LOWER
    and an explicit output_shape at the start."""
    x, w, y = (graph.tensors[n].shape for n in (node.inputs[0], node.inputs[1], node.outputs[0]))
    nsp = len(x) - 2
    strides = list(node.attrs.get("strides") or [1] * nsp)
    dilations = list(node.attrs.get("dilations") or [1] * nsp)
    adj = list(node.attrs.get("output_padding") or [0] * nsp)
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    if node.attrs.get("output_shape") is None and auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * nsp) if auto_pad == "VALID" else list(node.attrs.get("pads") or [0] * (2 * nsp))
        return pads[:nsp]
    begin = []
    for axis in range(nsp):
        full = strides[axis] * (x[axis + 2] - 1) + adj[axis] + (w[axis + 2] - 1) * dilations[axis] + 1
        total = max(full - y[axis + 2], 0)
        begin.append(total // 2 if auto_pad == "SAME_UPPER" else total - total // 2)
    return begin


def conv_transpose_params(node: Node, graph: Graph) -> dict:
    x, w, y = (graph.tensors[n].shape for n in (node.inputs[0], node.inputs[1], node.outputs[0]))
    nsp = len(x) - 2
    group = int(node.attrs.get("group", 1))
    in_sp, out_sp, kernel = _pad3(list(x[2:]), 1), _pad3(list(y[2:]), 1), _pad3(list(w[2:]), 1)
    strides = _pad3(list(node.attrs.get("strides") or [1] * nsp), 1)
    dilations = _pad3(list(node.attrs.get("dilations") or [1] * nsp), 1)
    begin = _pad3(transpose_pads(node, graph), 0)
    ranges = []  # per dim, per tap: the inputs [lo, hi) whose output index is inside the output
    for i, o, k, s, d, p in zip(in_sp, out_sp, kernel, strides, dilations, begin):
        lo, hi = [], []
        for t in range(k):
            shift = t * d - p  # output index = input index * s + shift
            first = max(0, -(shift // s))  # smallest i with i * s + shift >= 0
            last = min(i, (o - 1 - shift) // s + 1) if o - 1 - shift >= 0 else 0
            lo.append(first)
            hi.append(max(first, last))
        ranges.append((lo, hi))
    prod = lambda v: v[0] * v[1] * v[2]  # noqa: E731
    return {"N": x[0], "C": x[1], "OC": y[1], "G": group, "ICG": x[1] // group, "OCG": y[1] // group,
            "in_sp": in_sp, "out_sp": out_sp, "kernel": kernel, "s": strides, "d": dilations, "p": begin,
            "ISP": prod(in_sp), "OSP": prod(out_sp), "KSP": prod(kernel), "ranges": ranges,
            "has_bias": len(node.inputs) > 2 and bool(node.inputs[2])}


REF.kernel("ConvTranspose", template="ref/conv_transpose.c.j2", check=spatial_check,
           input_names=("X", "W", "B"), output_names=("Y",))(conv_transpose_params)
