"""Integer parameters of every int8 kernel, computed once at compile time from the tensors' scales.

Both the C templates and the golden model (aot/quant/golden.py) read these dictionaries, so the
two can only differ in the arithmetic itself, which the tests compare bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Graph, Node, QuantParams
from ..ops import int8_activation_range
from .fixed_point import quantize_multiplier, quantize_multipliers

INT8_MIN, INT8_MAX = -128, 127
ADD_LEFT_SHIFT = 20  # TFLite's headroom for rescaling both Add inputs before summing
SOFTMAX_EXP_BITS = 20  # exp table entries are Q20: exp(-d * scale) * 2^20
SOFTMAX_RECIP_BITS = 16


def qp(graph: Graph, name: str) -> QuantParams:
    q = graph.tensors[name].quant
    if q is None:
        raise ValueError(f"tensor '{name}' has no quantization parameters")
    return q


def scale_of(graph: Graph, name: str) -> float:
    return float(qp(graph, name).scale.reshape(-1)[0])


def zero_point_of(graph: Graph, name: str) -> int:
    return int(qp(graph, name).zero_point.reshape(-1)[0])


def _quantized_bound(real: float, out_scale: float, out_zp: int) -> int:
    """quantize(real) as QuantizeLinear does (float32, half to even, saturated): a Clip bound beyond
    the int8 range must still land inside it, or the clamp bounds themselves would wrap as int8."""
    with np.errstate(over="ignore"):
        q = np.rint(np.float32(real) / np.float32(out_scale)) + np.float32(out_zp)
    return int(np.clip(q, INT8_MIN, INT8_MAX))


def activation_bounds(node: Node, out_scale: float, out_zp: int) -> tuple[int, int]:
    """Clamp bounds in the output's integer domain for a fused activation that clamps (Relu, Clip:
    the op table's ``UnaryForm.int8_range``)."""
    lo, hi = INT8_MIN, INT8_MAX
    spec = node.attrs.get("activation")
    if spec:
        real_lo, real_hi = int8_activation_range(spec)
        if real_lo > -math.inf:
            lo = max(lo, _quantized_bound(real_lo, out_scale, out_zp))  # Relu: the zero point
        if real_hi < math.inf:
            hi = min(hi, _quantized_bound(real_hi, out_scale, out_zp))
    return lo, max(lo, hi)


def output_params(node: Node, graph: Graph) -> dict:
    """Output zero point and the clamp bounds of a fused activation."""
    y = node.outputs[0]
    s, zp = scale_of(graph, y), zero_point_of(graph, y)
    lo, hi = activation_bounds(node, s, zp)
    return {"out_zp": zp, "act_min": lo, "act_max": hi}


def conv_qparams(node: Node, graph: Graph) -> dict:
    x, w = node.inputs[0], node.inputs[1]
    sx, sy = scale_of(graph, x), scale_of(graph, node.outputs[0])
    channels = graph.tensors[w].shape[0]
    sw = np.broadcast_to(qp(graph, w).scale.astype(np.float64), (channels,))
    mult, shift = quantize_multipliers(sx * sw / sy)
    bias = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else np.zeros(channels, np.int32)
    return {"in_offset": -zero_point_of(graph, x), "mult": mult.tolist(), "shift": shift.tolist(),
            "bias": np.asarray(bias, np.int64).reshape(-1).tolist(), **output_params(node, graph)}


def fc_qparams(node: Node, graph: Graph) -> dict:
    """Gemm with int8 weights stored [N, K] (transB=1)."""
    params = conv_qparams(node, graph)
    weights = graph.const(node.inputs[1]).astype(np.int64)
    # sum_k (x + off) * w = sum_k x * w + off * sum_k w: fold the offset term into the bias.
    params["bias_folded"] = (np.asarray(params["bias"]) + params["in_offset"] * weights.sum(axis=1)).tolist()
    return params


def add_qparams(node: Node, graph: Graph) -> dict:
    a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
    sa, sb, sy = scale_of(graph, a), scale_of(graph, b), scale_of(graph, y)
    twice_max = 2 * max(sa, sb)
    ma, sha = quantize_multiplier(sa / twice_max)
    mb, shb = quantize_multiplier(sb / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * sy))
    return {"a_offset": -zero_point_of(graph, a), "b_offset": -zero_point_of(graph, b), "left_shift": ADD_LEFT_SHIFT,
            "a_mult": ma, "a_shift": sha, "b_mult": mb, "b_shift": shb, "out_mult": mo, "out_shift": sho,
            **output_params(node, graph)}


def mul_qparams(node: Node, graph: Graph) -> dict:
    a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
    m, s = quantize_multiplier(scale_of(graph, a) * scale_of(graph, b) / scale_of(graph, y))
    return {"a_offset": -zero_point_of(graph, a), "b_offset": -zero_point_of(graph, b), "mult": m, "shift": s,
            **output_params(node, graph)}


def requantize_qparams(node: Node, graph: Graph) -> dict:
    x, y = node.inputs[0], node.outputs[0]
    m, s = quantize_multiplier(scale_of(graph, x) / scale_of(graph, y))
    return {"in_offset": -zero_point_of(graph, x), "mult": m, "shift": s, **output_params(node, graph)}


def average_qparams(node: Node, graph: Graph, max_count: int) -> dict:
    """One (multiplier, shift) per possible window element count: out = sum * sx / (sy * count)."""
    x, y = node.inputs[0], node.outputs[0]
    ratio = scale_of(graph, x) / scale_of(graph, y)
    pairs = [quantize_multiplier(ratio / c) for c in range(1, max_count + 1)]
    return {"in_offset": -zero_point_of(graph, x), "count_mult": [p[0] for p in pairs],
            "count_shift": [p[1] for p in pairs], **output_params(node, graph)}


def softmax_qparams(node: Node, graph: Graph) -> dict:
    """Integer-only softmax through an exp table: x - max(x) takes at most 256 values for int8."""
    x, y = node.inputs[0], node.outputs[0]
    sx, sy = scale_of(graph, x), scale_of(graph, y)
    table = [int(math.floor(math.exp(-d * sx) * (1 << SOFTMAX_EXP_BITS) + 0.5)) for d in range(256)]
    recip = int(math.floor((1 << SOFTMAX_RECIP_BITS) / sy + 0.5))
    return {"exp_table": table, "recip": recip, "recip_bits": SOFTMAX_RECIP_BITS, **output_params(node, graph)}


def quantize_linear_qparams(node: Node, graph: Graph) -> dict:
    y = node.outputs[0]
    return {"scale": scale_of(graph, y), "zp": zero_point_of(graph, y)}


def dequantize_linear_qparams(node: Node, graph: Graph) -> dict:
    q = graph.tensors[node.inputs[0]].quant
    if q is None:
        from .qparams import node_qparams
        q = node_qparams(graph, node, node.inputs[0])
    return {"scale": float(q.scale.reshape(-1)[0]), "zp": int(q.zero_point.reshape(-1)[0])}
