"""int8 kernels: integer-only arithmetic with int32 accumulators and fixed-point requantization
(aot_requantize in aot_runtime.h). Parameters come from aot.quant.kernel_params, which the golden
model (aot.quant.golden) shares, so C and golden differ only if the arithmetic does."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ....codegen.cformat import c_float
from ....ir import Graph, Node
from ....quant import kernel_params as kp
from .. import REF
from .broadcast import loop_nest
from .conv import conv_params
from .pool import pool_params
from .spatial import spatial_check, window

S8 = ("int8",)


def _has_quant(names_of: Callable[[Node], list[str]]) -> Callable[[Node, Graph], str | None]:
    def check(node: Node, graph: Graph) -> str | None:
        for name in names_of(node):
            if name and graph.tensors[name].quant is None:
                return f"int8 tensor '{name}' has no scale/zero point"
        return None
    return check


def _activations(node: Node) -> list[str]:
    return [i for i in node.inputs[:1]] + [o for o in node.outputs if o]


def _conv_check(node: Node, graph: Graph) -> str | None:
    if graph.tensors[node.inputs[1]].dtype != "int8" or graph.const(node.inputs[1]) is None:
        return "int8 Conv needs constant int8 weights"
    return spatial_check(node, graph) or _has_quant(_activations)(node, graph)


def _conv_s8_params(node: Node, graph: Graph) -> dict:
    return {**conv_params(node, graph), **kp.conv_qparams(node, graph)}


def _conv_scratch(node: Node, graph: Graph) -> int:
    y = graph.tensors[node.outputs[0]]
    return 4 * y.size // (y.shape[0] * y.shape[1])  # one int32 output plane


REF.kernel("Conv", template="ref/int8/conv.c.j2", check=_conv_check, dtypes=S8, scratch_bytes=_conv_scratch,
           input_names=("X", "W", "B"), output_names=("Y",))(_conv_s8_params)


def _fc_check(node: Node, graph: Graph) -> str | None:
    if not node.attrs.get("transB") or node.attrs.get("transA"):
        return "int8 Gemm expects weights stored [N, K] (transB=1)"
    if graph.const(node.inputs[1]) is None:
        return "int8 Gemm needs constant weights"
    return _has_quant(_activations)(node, graph)


def _fc_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    w = graph.tensors[node.inputs[1]]
    return {"M": x.shape[0], "K": x.shape[1], "N": w.shape[0], **kp.fc_qparams(node, graph)}


# The bias operand is folded into bias_folded at compile time: it is read statically, not passed.
REF.kernel("Gemm", template="ref/int8/fully_connected.c.j2", check=_fc_check, dtypes=S8, static_inputs=(2,),
           input_names=("X", "W"), output_names=("Y",))(_fc_params)


def _binary_params(node: Node, graph: Graph) -> dict:
    a, b = (graph.tensors[i] for i in node.inputs[:2])
    y = graph.tensors[node.outputs[0]]
    dims, (sa, sb, sy) = loop_nest(y.shape, [a.shape, b.shape, y.shape])
    qparams = kp.add_qparams(node, graph) if node.op_type == "Add" else kp.mul_qparams(node, graph)
    return {"dims": dims, "sa": sa, "sb": sb, "sy": sy, "is_add": node.op_type == "Add", **qparams}


def _binary_check(node: Node, graph: Graph) -> str | None:
    return _has_quant(lambda n: n.inputs[:2] + n.outputs[:1])(node, graph)


REF.kernel("Add", "Mul", template="ref/int8/binary.c.j2", check=_binary_check, dtypes=S8,
           input_names=("A", "B"), output_names=("Y",))(_binary_params)

REF.kernel("Requantize", template="ref/int8/requantize.c.j2", check=_has_quant(_activations), dtypes=S8,
           input_names=("X",), output_names=("Y",))(lambda node, graph: kp.requantize_qparams(node, graph))


def _pool_s8_params(node: Node, graph: Graph) -> dict:
    params = pool_params(node, graph)
    if node.op_type == "AveragePool":
        win = window(node, graph)
        params.update(kp.average_qparams(node, graph, win.kernel[0] * win.kernel[1] * win.kernel[2]))
    else:
        params.update(kp.output_params(node, graph))  # a fused Relu/Clip clamps the maximum
    return params


def _maxpool_check(node: Node, graph: Graph) -> str | None:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    if node.op_type == "MaxPool" and (x.quant is None or y.quant is None or
                                      not np.array_equal(x.quant.scale, y.quant.scale) or
                                      not np.array_equal(x.quant.zero_point, y.quant.zero_point)):
        return "int8 MaxPool needs equal input and output scales"
    return spatial_check(node, graph) or _has_quant(_activations)(node, graph)


REF.kernel("MaxPool", "AveragePool", template="ref/int8/pool.c.j2", check=_maxpool_check, dtypes=S8,
           input_names=("X",), output_names=("Y",))(_pool_s8_params)


def _gap_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    spatial = x.size // (x.shape[0] * x.shape[1])
    p = kp.average_qparams(node, graph, spatial)
    return {"NC": x.shape[0] * x.shape[1], "SP": spatial, "mult": p["count_mult"][-1],
            "shift": p["count_shift"][-1], **p}


REF.kernel("GlobalAveragePool", template="ref/int8/global_average_pool.c.j2", check=_has_quant(_activations),
           dtypes=S8, input_names=("X",), output_names=("Y",))(_gap_params)


def _softmax_params(node: Node, graph: Graph) -> dict:
    shape = graph.tensors[node.inputs[0]].shape
    return {"rows": int(np.prod(shape[:-1])), "D": shape[-1], **kp.softmax_qparams(node, graph)}


def _softmax_check(node: Node, graph: Graph) -> str | None:
    rank = len(graph.tensors[node.inputs[0]].shape)
    if int(node.attrs.get("axis", -1)) % rank != rank - 1:
        return "int8 Softmax over the last axis only"
    return _has_quant(_activations)(node, graph)


REF.kernel("Softmax", template="ref/int8/softmax.c.j2", check=_softmax_check, dtypes=S8, input_names=("X",),
           output_names=("Y",))(_softmax_params)


def _quantize_params(node: Node, graph: Graph) -> dict:
    p = kp.quantize_linear_qparams(node, graph)
    return {"scale": c_float(p["scale"]), "zp": p["zp"], "size": graph.tensors[node.outputs[0]].size}


def _edge_check(node: Node, graph: Graph) -> str | None:
    scale = graph.const(node.inputs[1])
    if scale is None or np.asarray(scale).size != 1:
        return "per-tensor constant scale required"
    out = graph.tensors[node.outputs[0]]
    quantized = out if node.op_type == "QuantizeLinear" else graph.tensors[node.inputs[0]]
    return None if quantized.dtype == "int8" else f"{quantized.dtype} quantized values (int8 only)"


REF.kernel("QuantizeLinear", template="ref/int8/quantize_linear.c.j2", check=_edge_check, dtypes=("float32", "int8"),
           static_inputs=(1, 2), input_names=("X",), output_names=("Y",))(_quantize_params)


def _dequantize_params(node: Node, graph: Graph) -> dict:
    p = kp.dequantize_linear_qparams(node, graph)
    return {"scale": c_float(p["scale"]), "zp": p["zp"], "size": graph.tensors[node.outputs[0]].size}


REF.kernel("DequantizeLinear", template="ref/int8/dequantize_linear.c.j2", check=_edge_check,
           dtypes=("float32", "int8"), static_inputs=(1, 2), input_names=("X",), output_names=("Y",))(_dequantize_params)
