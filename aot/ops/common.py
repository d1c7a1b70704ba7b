"""Small helpers the family modules share: MAC counts and constant operands."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node


def output_size(graph: Graph, node: Node) -> int:
    """One operation per output element (elementwise maps, data movement that computes)."""
    return graph.tensors[node.outputs[0]].size


def scalar_constant(graph: Graph, name: str) -> float | None:
    value = graph.const(name)
    return None if value is None else float(np.asarray(value).reshape(-1)[0])


def constant_operands(graph: Graph, node: Node, activations: tuple[int, ...] | None) -> bool:
    """The int8 quantizability rule most ops share: the activation inputs are computed at run time and
    every other present input (shapes, axes, bounds) is a compile-time constant."""
    for idx, name in enumerate(node.inputs):
        if not name:
            continue
        is_activation = idx in activations if activations is not None else not graph.tensors[name].is_constant
        if is_activation == graph.tensors[name].is_constant:
            return False
    return True


AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def spatial_attrs_problem(node: Node, spatial: int, kernel: list[int] | None) -> str | None:
    """Checks shared by the windowed ops (Conv, pools): auto_pad, pads, strides, dilations."""
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    if auto_pad not in AUTO_PADS:
        return f"auto_pad '{auto_pad}' is not one of {', '.join(AUTO_PADS)}"
    pads = list(node.attrs.get("pads") or [0] * (2 * spatial))
    if len(pads) != 2 * spatial or any(p < 0 for p in pads):
        return f"pads {pads} must be {2 * spatial} non-negative values (begin and end per spatial axis)"
    for key in ("strides", "dilations"):
        values = list(node.attrs.get(key) or [1] * spatial)
        if len(values) != spatial or any(v < 1 for v in values):
            return f"{key} {values} must be {spatial} values of at least 1"
    if kernel is not None and (len(kernel) != spatial or any(k < 1 for k in kernel)):
        return f"kernel_shape {kernel} must be {spatial} values of at least 1"
    return None


def window_fits_problem(node: Node, in_spatial: list[int], kernel: list[int]) -> str | None:
    """Why the (dilated) window does not fit once in the padded input, for explicit or VALID padding
    (SAME padding always yields at least one output)."""
    if node.attrs.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        return None
    spatial = len(in_spatial)
    pads = [0] * (2 * spatial) if node.attrs.get("auto_pad") == "VALID" else \
        list(node.attrs.get("pads") or [0] * (2 * spatial))
    dilations = list(node.attrs.get("dilations") or [1] * spatial)
    for axis in range(spatial):
        extent = (kernel[axis] - 1) * dilations[axis] + 1
        padded = in_spatial[axis] + pads[axis] + pads[axis + spatial]
        if extent > padded:
            return (f"the window ({'x'.join(map(str, kernel))}, dilations {dilations}) spans {extent} on spatial "
                    f"axis {axis}, more than the padded input ({in_spatial[axis]} + pads "
                    f"{pads[axis]}+{pads[axis + spatial]} = {padded})")
    return None
