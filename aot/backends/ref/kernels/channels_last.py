"""Channels-last (NHWC-style) kernels for Conv (weights O, spatial..., I), pooling and global
average pooling, float and int8. Chosen for layers convert_layout moved to channels-last: the
layout MCU int8 kernels prefer (one output pixel's channels are contiguous)."""
from __future__ import annotations

from ....ir import Graph, Node
from ....quant import kernel_params as kp
from .. import REF
from . import int8
from .spatial import spatial_check, window


def _geometry(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    win = window(node, graph)
    group = int(node.attrs.get("group", 1))
    return {"win": win, "N": x.shape[0], "C": x.shape[-1], "OC": y.shape[-1], "group": group,
            "ICG": x.shape[-1] // group, "OCG": y.shape[-1] // group,
            "KSP": win.kernel[0] * win.kernel[1] * win.kernel[2],
            "has_bias": len(node.inputs) > 2 and bool(node.inputs[2])}


def _weights_channels_last(node: Node, graph: Graph) -> str | None:
    layout = graph.tensors[node.inputs[1]].layout
    if layout is None or layout[-1] != "I":
        return f"channels-last Conv needs weights stored O, spatial..., I (got {layout})"
    return spatial_check(node, graph)


def _int8_conv_params(node: Node, graph: Graph) -> dict:
    return {**_geometry(node, graph), **kp.conv_qparams(node, graph)}


def _int8_gemm_check(node: Node, graph: Graph) -> str | None:
    return _weights_channels_last(node, graph) or int8.fast_conv_check(node, graph)


def _int8_depthwise_check(node: Node, graph: Graph) -> str | None:
    g = _geometry(node, graph)
    if g["ICG"] != 1 or g["OCG"] > int8.DW_MAX_MULTIPLIER:
        return "not depthwise"
    return _weights_channels_last(node, graph) or int8.conv_s8_check(node, graph)


def _int8_depthwise_params(node: Node, graph: Graph) -> dict:
    p = {**int8.conv_geometry(node, graph), **kp.conv_qparams(node, graph)}
    lo, hi = int8.tap_ranges(p["win"])
    return {**p, "rq": int8.requant_spec(p["mult"], p["shift"], p["out_zp"], p["rounding"]), "tap_lo": lo, "tap_hi": hi}


def _int8_depthwise_scratch(node: Node, graph: Graph) -> int:
    g = _geometry(node, graph)
    return g["KSP"] * g["OC"]  # the weights as [tap][channel]


REF.kernel("Conv", template="ref/nhwc/conv.c.j2", check=_weights_channels_last, channels_last=True,
           input_names=("X", "W", "B"), output_names=("Y",))(_geometry)
REF.kernel("Conv", template="ref/nhwc/conv_dw_s8.c.j2", check=_int8_depthwise_check, channels_last=True,
           dtypes=("int8",), priority=30, roundings=int8.BOTH, scratch_bytes=_int8_depthwise_scratch, static_inputs=(2,), input_names=("X", "W"),
           output_names=("Y",))(_int8_depthwise_params)
# int8: the tiled kernel of int8.py (gathers each pixel's channels, contiguous here), the bias folded
# with the input offset; the direct loops below where that fold could overflow int32.
REF.kernel("Conv", template="ref/int8/conv_gemm.c.j2", check=_int8_gemm_check, channels_last=True,
           dtypes=("int8",), priority=20, roundings=int8.BOTH, name="nhwc/conv_gemm", scratch_bytes=int8.gemm_conv_scratch, static_inputs=(2,), input_names=("X", "W"),
           output_names=("Y",))(int8.gemm_conv_params)
REF.kernel("Conv", template="ref/nhwc/conv_s8.c.j2", check=_weights_channels_last, channels_last=True,
           dtypes=("int8",), priority=10, roundings=int8.BOTH, input_names=("X", "W", "B"), output_names=("Y",))(_int8_conv_params)


def _pool_params(node: Node, graph: Graph) -> dict:
    params = {**_geometry(node, graph), "is_max": node.op_type == "MaxPool",
              "include_pad": bool(node.attrs.get("count_include_pad", 0))}
    if graph.tensors[node.inputs[0]].dtype == "int8" and node.op_type == "AveragePool":
        k = params["win"].kernel
        params.update(kp.average_qparams(node, graph, k[0] * k[1] * k[2]))
    elif graph.tensors[node.inputs[0]].dtype == "int8":
        params.update(kp.output_params(node, graph))  # a fused Relu/Clip clamps the maximum
    return params


def _pool_check(node: Node, graph: Graph) -> str | None:
    if len([o for o in node.outputs if o]) > 1:
        return "MaxPool with an Indices output"
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    if x.dtype == "int8" and node.op_type == "MaxPool" and (x.quant is None or y.quant is None or
                                                            kp.scale_of(graph, x.name) != kp.scale_of(graph, y.name) or
                                                            kp.zero_point_of(graph, x.name) != kp.zero_point_of(graph, y.name)):
        return "int8 MaxPool needs equal input and output scales"
    return spatial_check(node, graph)


for dtypes in (("float32",), ("int8",)):
    REF.kernel("MaxPool", "AveragePool", template="ref/nhwc/pool.c.j2", check=_pool_check, channels_last=True,
               dtypes=dtypes, roundings=int8.BOTH, input_names=("X",), output_names=("Y",))(_pool_params)


def _gap_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    spatial = x.size // (x.shape[0] * x.shape[-1])
    params = {"N": x.shape[0], "C": x.shape[-1], "SP": spatial, "int8": x.dtype == "int8"}
    if params["int8"]:
        p = kp.average_qparams(node, graph, spatial)
        params.update(p, mult=p["count_mult"][-1], shift=p["count_shift"][-1])
    return params


REF.kernel("GlobalAveragePool", template="ref/nhwc/global_average_pool.c.j2", channels_last=True,
           dtypes=("float32", "int8"), roundings=int8.BOTH, input_names=("X",), output_names=("Y",))(_gap_params)
