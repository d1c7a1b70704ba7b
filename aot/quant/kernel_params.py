"""Integer parameters of every int8 kernel, computed once at compile time from the tensors' scales.

Both the C templates and the golden model (aot/quant/golden.py) read these dictionaries, so the
two can only differ in the arithmetic itself, which the tests compare bit for bit. ``graph.rounding``
chooses the recipes: "single" (aot's own) or "tflite" (TFLite Micro's reference kernels: how each op
computes its multipliers is mirrored here, the arithmetic in fixed_point.py and gemmlowp.py); every
dictionary carries it as ``rounding``.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Graph, Node, QuantParams
from ..ops import int8_activation_range, op_spec
from .fixed_point import quantize_multiplier, quantize_multipliers
from .gemmlowp import softmax_tables

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


def _quantized_bound(real: float, out_scale: float, out_zp: int, rounding: str = "single") -> int:
    """quantize(real) as QuantizeLinear does (float32, half to even, saturated): a Clip bound beyond
    the int8 range must still land inside it, or the clamp bounds themselves would wrap as int8.
    TFLite (CalculateActivationRangeQuantized) rounds the float32 quotient half away from zero."""
    with np.errstate(over="ignore"):
        ratio = np.float32(real) / np.float32(out_scale)
        if rounding == "tflite" and np.isfinite(ratio):
            # a float32 plus 0.5 is exact in float64: floor gives std::round's result
            ratio = np.float64(math.copysign(math.floor(abs(float(ratio)) + 0.5), ratio))
            return int(np.clip(ratio + out_zp, INT8_MIN, INT8_MAX))
        q = np.rint(ratio) + np.float32(out_zp)
    return int(np.clip(q, INT8_MIN, INT8_MAX))


def activation_bounds(node: Node, out_scale: float, out_zp: int, rounding: str = "single") -> tuple[int, int]:
    """Clamp bounds in the output's integer domain for a fused activation that clamps (Relu, Clip:
    the op table's ``UnaryForm.int8_range``), rounded as the mode's quantizer rounds."""
    lo, hi = INT8_MIN, INT8_MAX
    spec = node.attrs.get("activation")
    if spec:
        real_lo, real_hi = int8_activation_range(spec)
        if real_lo > -math.inf:
            lo = max(lo, _quantized_bound(real_lo, out_scale, out_zp, rounding))  # Relu: the zero point
        if real_hi < math.inf:
            hi = min(hi, _quantized_bound(real_hi, out_scale, out_zp, rounding))
    return lo, max(lo, hi)


def output_params(node: Node, graph: Graph) -> dict:
    """Output zero point, the clamp bounds of a fused activation and the rounding mode."""
    y = node.outputs[0]
    s, zp = scale_of(graph, y), zero_point_of(graph, y)
    lo, hi = activation_bounds(node, s, zp, graph.rounding)
    return {"out_zp": zp, "act_min": lo, "act_max": hi, "rounding": graph.rounding}


def conv_qparams(node: Node, graph: Graph, fully_connected: bool = False) -> dict:
    x, w = node.inputs[0], node.inputs[1]
    sx, sy = scale_of(graph, x), scale_of(graph, node.outputs[0])
    channels = graph.tensors[w].shape[0]
    w_scale = qp(graph, w).scale.reshape(-1)
    sw = np.broadcast_to(w_scale.astype(np.float64), (channels,))
    reals = sx * sw / sy
    if fully_connected and graph.rounding == "tflite" and w_scale.size == 1:
        # TFLite's per-tensor FULLY_CONNECTED (GetQuantizedConvolutionMultipler) multiplies the two
        # scales in float32 before dividing in double; per channel, and for Conv, all is in double.
        reals = np.broadcast_to(np.float64(np.float32(sx) * np.float32(w_scale[0])) / sy, (channels,))
    mult, shift = quantize_multipliers(reals)
    bias = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else np.zeros(channels, np.int32)
    return {"in_offset": -zero_point_of(graph, x), "mult": mult.tolist(), "shift": shift.tolist(),
            "bias": np.asarray(bias, np.int64).reshape(-1).tolist(), **output_params(node, graph)}


def fc_qparams(node: Node, graph: Graph) -> dict:
    """Gemm with int8 weights stored [N, K] (transB=1)."""
    params = conv_qparams(node, graph, fully_connected=True)
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


def batch_matmul_qparams(node: Node, graph: Graph) -> dict:
    """MatMul of two int8 activations: the product's requantization is Mul's (a_scale * b_scale / y_scale)."""
    return mul_qparams(node, graph)


def requantize_qparams(node: Node, graph: Graph) -> dict:
    x, y = node.inputs[0], node.outputs[0]
    m, s = quantize_multiplier(scale_of(graph, x) / scale_of(graph, y))
    return {"in_offset": -zero_point_of(graph, x), "mult": m, "shift": s, **output_params(node, graph)}


def _mean_multiplier(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """TFLite's QuantizedMeanOrSum: the in/out multiplier divided by the element count in integers."""
    bits = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << bits) // count, shift - bits


def _same_quantization(graph: Graph, a: str, b: str) -> bool:
    return scale_of(graph, a) == scale_of(graph, b) and zero_point_of(graph, a) == zero_point_of(graph, b)


def _padded(node: Node, graph: Graph) -> bool:
    from ..backends.ref.kernels.spatial import window  # the backends import this module
    win = window(node, graph)
    return any(win.pads_begin) or any(win.pads_end)


def _count_multiplier(ratio: float, count: int, rounding: str) -> tuple[int, int]:
    """(multiplier, shift) of ratio / count: TFLite's integer division of the multiplier in "tflite"
    rounding, the exactly rounded quotient otherwise."""
    if rounding == "tflite":
        return _mean_multiplier(*quantize_multiplier(ratio), count)
    return quantize_multiplier(ratio / count)


def mean_qparams(node: Node, graph: Graph, count: int) -> dict:
    """int8 ReduceMean: out = sum(x - x_zp) * sx / (sy * count)."""
    x, y = node.inputs[0], node.outputs[0]
    mult, shift = _count_multiplier(scale_of(graph, x) / scale_of(graph, y), count, graph.rounding)
    return {"in_offset": -zero_point_of(graph, x), "mult": mult, "shift": shift, **output_params(node, graph)}


def average_qparams(node: Node, graph: Graph, max_count: int) -> dict:
    """One (multiplier, shift) per possible window element count: out = sum * sx / (sy * count).
    "tflite": the multipliers of TFLite's Mean (used by GlobalAveragePool, and by AveragePool where
    TFLite has no kernel: other output quantization, padding counted); ``avg_div``: TFLite's int8
    AVERAGE_POOL_2D, which needs equal quantization and divides the raw sum by the count, rounding
    half away from zero."""
    x, y = node.inputs[0], node.outputs[0]
    sx, sy = scale_of(graph, x), scale_of(graph, y)
    pairs = [_count_multiplier(sx / sy, c, graph.rounding) for c in range(1, max_count + 1)]
    avg_div = (graph.rounding == "tflite" and node.op_type == "AveragePool" and _same_quantization(graph, x, y)
               and not (node.attrs.get("count_include_pad", 0) and _padded(node, graph)))
    return {"in_offset": -zero_point_of(graph, x), "count_mult": [p[0] for p in pairs],
            "count_shift": [p[1] for p in pairs], "avg_div": avg_div, **output_params(node, graph)}


TFLITE_SOFTMAX_OUT = (float(np.float32(1 / 256)), -128)  # the only int8 output quantization TFLite allows


def softmax_qparams(node: Node, graph: Graph) -> dict:
    """Integer-only softmax through an exp table: x - max(x) takes at most 256 values for int8.
    "tflite" with TFLite's output quantization (1/256, -128): TFLite's gemmlowp recipe (tables of its
    fixed-point exp, a fixed-point reciprocal of the sum at run time); other output quantizations have
    no TFLite kernel and keep aot's recipe."""
    x, y = node.inputs[0], node.outputs[0]
    sx, sy = scale_of(graph, x), scale_of(graph, y)
    if graph.rounding == "tflite" and (sy, zero_point_of(graph, y)) == TFLITE_SOFTMAX_OUT:
        exp0, exp_acc = softmax_tables(sx)
        return {"tflite": True, "exp0": exp0, "exp_acc": exp_acc, **output_params(node, graph)}
    table = [int(math.floor(math.exp(-d * sx) * (1 << SOFTMAX_EXP_BITS) + 0.5)) for d in range(256)]
    recip = int(math.floor((1 << SOFTMAX_RECIP_BITS) / sy + 0.5))
    return {"tflite": False, "exp_table": table, "recip": recip, "recip_bits": SOFTMAX_RECIP_BITS,
            **output_params(node, graph)}


def quantize_linear_qparams(node: Node, graph: Graph) -> dict:
    y = node.outputs[0]
    return {"scale": scale_of(graph, y), "zp": zero_point_of(graph, y)}


def dequantize_linear_qparams(node: Node, graph: Graph) -> dict:
    q = graph.tensors[node.inputs[0]].quant
    if q is None:
        from .qparams import node_qparams
        q = node_qparams(graph, node, node.inputs[0])
    return {"scale": float(q.scale.reshape(-1)[0]), "zp": int(q.zero_point.reshape(-1)[0])}


def ort_quantize(real: np.ndarray, scale: float, zp: int) -> np.ndarray:
    """QuantizeLinear as ONNX Runtime computes it: float32 division, round half to even, saturate;
    NaN gives -128 (what its x86 kernel yields)."""
    with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
        r = np.rint(np.asarray(real, np.float32) / np.float32(scale)) + np.float32(zp)
    return np.where(np.isnan(r), np.float32(-128), np.clip(r, -128, 127)).astype(np.int8)


def lookup_table(node: Node, graph: Graph) -> np.ndarray:
    """int8 -> int8 for all 256 inputs: the QDQ form DequantizeLinear -> op -> QuantizeLinear evaluated
    in float32 with the op table's numpy form, so the table is the exact QDQ result."""
    form = op_spec(node.op_type).unary
    attrs = form.attrs(graph, node)
    if attrs is None:
        raise ValueError(f"{node.op_type} '{node.name}' has parameters that are not compile-time constants")
    x, y = node.inputs[0], node.outputs[0]
    q = np.arange(-128, 128, dtype=np.int32)
    real = (q - zero_point_of(graph, x)).astype(np.float32) * np.float32(scale_of(graph, x))
    with np.errstate(all="ignore"):  # the map may overflow or be undefined for some codes, as in float
        mapped = np.asarray(form.numpy(real, attrs), np.float32)
    return ort_quantize(mapped, scale_of(graph, y), zero_point_of(graph, y))


def lookup_qparams(node: Node, graph: Graph) -> dict:
    return {"table": [int(v) for v in lookup_table(node, graph)]}


# PRelu on int8 (TFLite's recipe): x >= zero point: (x - zp) * s_in / s_out; below: (x - zp) * alpha_q
# * s_in * s_alpha / s_out. The slope is quantized here to 15 bits per tensor (symmetric), so a float
# slope or one dequantized from the file's int8 costs well under one LSB on the output: the product
# (x - zp) * alpha_q stays within 255 * 32767 in int32.
PRELU_SLOPE_BITS = 15


def prelu_slope(graph: Graph, node: Node) -> tuple[np.ndarray, int, int] | None:
    """The slope as one value per index of a single axis of the input: (values, axis, inner size), axis -1
    for a scalar slope; None when it is not constant or varies along more than one axis."""
    slope = graph.const(node.inputs[1])
    if slope is None:
        return None
    shape = graph.tensors[node.inputs[0]].shape
    try:
        full = np.broadcast_to(np.asarray(slope, np.float64), shape)
    except ValueError:
        return None
    varying = [a for a in range(len(shape)) if shape[a] > 1 and not np.all(np.diff(full, axis=a) == 0)]
    if not varying:
        return np.asarray([full.reshape(-1)[0]]), -1, 1
    if len(varying) > 1:
        return None
    axis = varying[0]
    values = full[tuple(slice(None) if a == axis else 0 for a in range(len(shape)))]
    return values, axis, int(np.prod(shape[axis + 1:], dtype=np.int64))


def prelu_qparams(node: Node, graph: Graph) -> dict:
    values, axis, inner = prelu_slope(graph, node)
    x, y = node.inputs[0], node.outputs[0]
    s_in, s_out = scale_of(graph, x), scale_of(graph, y)
    peak = float(np.max(np.abs(values)))
    s_alpha = peak / ((1 << PRELU_SLOPE_BITS) - 1) if peak > 0 else 1.0
    alpha = [int(v) for v in np.rint(values / s_alpha).astype(np.int64)]
    pos_mult, pos_shift = quantize_multiplier(s_in / s_out)
    neg_mult, neg_shift = quantize_multiplier(s_in * s_alpha / s_out)
    return {"in_offset": -zero_point_of(graph, x), "alpha": alpha, "inner": inner, "per_axis": axis >= 0,
            "pos_mult": pos_mult, "pos_shift": pos_shift, "neg_mult": neg_mult, "neg_shift": neg_shift,
            **output_params(node, graph)}


def int8_resize_qparams(node: Node, graph: Graph, fraction_bits: int) -> dict:
    """Resize on int8: the sum of Q``fraction_bits`` weighted (x - zp) back to the output's quantization
    (nearest: fraction_bits 0, and no requantization at all when the quantizations agree)."""
    x, y = node.inputs[0], node.outputs[0]
    mult, shift = quantize_multiplier(scale_of(graph, x) / scale_of(graph, y) / (1 << fraction_bits))
    same = not fraction_bits and _same_quantization(graph, x, y) and not node.attrs.get("activation")
    return {"in_offset": -zero_point_of(graph, x), "mult": mult, "shift": shift, "requantize": not same,
            **output_params(node, graph)}
