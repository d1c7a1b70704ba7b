"""RoiAlign (float32 and float64), following ONNX Runtime: per output bin a grid of samples
(sampling_ratio, or the ceiling of the bin size), each bilinear between its 4 neighbours; avg mode
averages them, max mode takes the largest weighted neighbour per sample and the largest sample.
half_pixel (opset 16's default) shifts the ROI by half a pixel; output_half_pixel (the only mode before
opset 16) forces ROIs to at least 1x1.

A NaN sample position samples 0 (ONNX Runtime converts it to an index undefined), the samples per bin
are at most 2^20, and a batch index outside the batch is clamped into it.
"""
from __future__ import annotations

from ....codegen.cformat import c_float
from ....ir import Graph, Node
from .. import REF
from .float_types import FLOATS, float_math


# -- RoiAlign -------------------------------------------------------------------------------------------
def roi_align_params(node: Node, graph: Graph) -> dict:
    x, rois = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    # opset 16 added half_pixel (and made it the default); before, every ROI was output_half_pixel
    default = "half_pixel" if graph.opset >= 16 else "output_half_pixel"
    half_pixel = node.attrs.get("coordinate_transformation_mode", default) == "half_pixel"
    return {**float_math(x.dtype), "N": x.shape[0], "C": x.shape[1], "H": x.shape[2], "W": x.shape[3],
            "R": rois.shape[0], "PH": int(node.attrs.get("output_height", 1)), "PW": int(node.attrs.get("output_width", 1)),
            "ratio": int(node.attrs.get("sampling_ratio", 0)), "scale": float(node.attrs.get("spatial_scale", 1.0)),
            "half_pixel": half_pixel, "is_max": node.attrs.get("mode", "avg") == "max", "lit32": c_float}


def _roi_align_check(node: Node, graph: Graph) -> str | None:
    x, rois, idx = (graph.tensors[n] for n in node.inputs[:3])
    if rois.dtype != x.dtype:
        return f"rois of dtype {rois.dtype} for {x.dtype} data"
    return None if idx.dtype == "int64" else f"batch_indices of dtype {idx.dtype} (ONNX takes int64)"


REF.kernel("RoiAlign", template="ref/sampling/roi_align.c.j2", check=_roi_align_check, dtypes=FLOATS,
           input_names=("X", "Rois", "B"), output_names=("Y",), name="roi_align")(roi_align_params)
