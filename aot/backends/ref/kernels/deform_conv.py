"""DeformConv (float32, as ONNX Runtime), following its im2col: per output position, the column of
bilinear samples at the offset kernel taps (0 outside (-1, H) x (-1, W), times the mask: a sample is
taken whatever the mask, so 0 * NaN stays NaN as in ONNX Runtime), then one dot
product per output channel plus the bias. A NaN offset samples 0 (ONNX Runtime converts it to an index
undefined). group, offset_group, pads, strides and dilations.
"""
from __future__ import annotations

from ....ir import Graph, Node
from ....ops.sampling import deform_geometry
from .. import REF


# -- DeformConv -------------------------------------------------------------------------------------------
def deform_conv_params(node: Node, graph: Graph) -> dict:
    x, w = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    g = deform_geometry(graph, node)
    present = [idx < len(node.inputs) and bool(node.inputs[idx]) for idx in range(5)]
    return {**g, "N": x.shape[0], "C": x.shape[1], "H": x.shape[2], "W": x.shape[3], "M": w.shape[0],
            "has_bias": present[3], "has_mask": present[4]}


def _deform_scratch(node: Node, graph: Graph) -> int:
    """One output position's column: every input channel times every kernel tap (floats)."""
    w = graph.tensors[node.inputs[1]]
    return 4 * graph.tensors[node.inputs[0]].shape[1] * w.shape[2] * w.shape[3]


REF.kernel("DeformConv", template="ref/sampling/deform_conv.c.j2", scratch_bytes=_deform_scratch,
           input_names=("X", "Wt", "Off", "B", "Mask"), output_names=("Y",), name="deform_conv")(deform_conv_params)
