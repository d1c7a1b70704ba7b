"""The bit-exact Python golden model of every int8 kernel.

Each function takes the node, the graph and numpy inputs and computes, with integer numpy
arithmetic, exactly what the generated C computes (same parameters from kernel_params.py, same
rounding in fixed_point.py, chosen by ``graph.rounding``, which every parameter dictionary carries as
``rounding``; TFLite's Softmax recipe in gemmlowp.py). Written for clarity, not speed: it is the reference the C is tested
against, so it avoids the C's loop structure and uses whole-array numpy operations instead.
"""
from __future__ import annotations

import numpy as np

from ..backends.ref.kernels.reduce import reduced_axes
from ..backends.ref.kernels.resize import FRACTION_BITS, axis_table, fixed_point_weights, resize_attributes
from ..backends.ref.kernels.spatial import window
from ..ir import Graph, Node
from ..ops import op_types
from .fixed_point import rescale
from .gemmlowp import softmax_row
from .kernel_params import (add_qparams, int8_resize_qparams, prelu_qparams, zero_point_of, average_qparams, batch_matmul_qparams, conv_qparams,
                            dequantize_linear_qparams, fc_qparams, lookup_table, mean_qparams, mul_qparams, ort_quantize,
                            output_params, quantize_linear_qparams, requantize_qparams, softmax_qparams)


def _finish(acc: np.ndarray, mult, shift, p: dict) -> np.ndarray:
    y = rescale(acc, mult, shift, p["rounding"]) + p["out_zp"]
    return np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)


def _as_3d(x: np.ndarray) -> np.ndarray:
    n, c = x.shape[:2]
    return x.reshape((n, c) + (1,) * (5 - x.ndim) + x.shape[2:])


def conv(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    p = conv_qparams(node, graph)
    win = window(node, graph)
    y_shape = graph.tensors[node.outputs[0]].shape
    w = graph.const(node.inputs[1]).astype(np.int64)
    oc, icg = w.shape[:2]
    w = w.reshape(oc, icg, *win.kernel)
    group = int(node.attrs.get("group", 1))
    ocg = oc // group
    # Padding with the zero point is padding the offset input with zeros.
    xs = _as_3d(x.astype(np.int64) + p["in_offset"])
    xs = np.pad(xs, [(0, 0), (0, 0)] + [(b, e + s * k) for b, e, s, k in
                                        zip(win.pads_begin, win.pads_end, win.strides, win.kernel)])
    od, oh, ow = win.out_sp
    acc = np.zeros((x.shape[0], oc, od, oh, ow), np.int64)
    sd, sh, sw = win.strides
    dd, dh, dw = win.dilations
    for g in range(group):
        xg = xs[:, g * icg:(g + 1) * icg]
        wg = w[g * ocg:(g + 1) * ocg]
        for kd in range(win.kernel[0]):
            for kh in range(win.kernel[1]):
                for kw in range(win.kernel[2]):
                    patch = xg[:, :, kd * dd:kd * dd + od * sd:sd, kh * dh:kh * dh + oh * sh:sh,
                               kw * dw:kw * dw + ow * sw:sw]
                    acc[:, g * ocg:(g + 1) * ocg] += np.einsum("nidhw,oi->nodhw", patch, wg[:, :, kd, kh, kw])
    acc += np.asarray(p["bias"], np.int64)[None, :, None, None, None]
    cshape = (1, oc, 1, 1, 1)
    y = _finish(acc, np.asarray(p["mult"]).reshape(cshape), np.asarray(p["shift"]).reshape(cshape), p)
    return y.reshape(y_shape)


def fully_connected(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    p = fc_qparams(node, graph)
    w = graph.const(node.inputs[1]).astype(np.int64)  # [N, K]
    acc = (x.astype(np.int64) + p["in_offset"]) @ w.T + np.asarray(p["bias"], np.int64)[None, :]
    return _finish(acc, np.asarray(p["mult"])[None, :], np.asarray(p["shift"])[None, :], p)


def add(node: Node, graph: Graph, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = add_qparams(node, graph)
    ra = rescale((a.astype(np.int64) + p["a_offset"]) << p["left_shift"], p["a_mult"], p["a_shift"], p["rounding"])
    rb = rescale((b.astype(np.int64) + p["b_offset"]) << p["left_shift"], p["b_mult"], p["b_shift"], p["rounding"])
    return _finish(ra + rb, p["out_mult"], p["out_shift"], p)


def mul(node: Node, graph: Graph, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = mul_qparams(node, graph)
    return _finish((a.astype(np.int64) + p["a_offset"]) * (b.astype(np.int64) + p["b_offset"]),
                   p["mult"], p["shift"], p)


def batch_matmul(node: Node, graph: Graph, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = batch_matmul_qparams(node, graph)
    return _finish(np.matmul(a.astype(np.int64) + p["a_offset"], b.astype(np.int64) + p["b_offset"]),
                   p["mult"], p["shift"], p)


def requantize_op(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    p = requantize_qparams(node, graph)
    return _finish(x.astype(np.int64) + p["in_offset"], p["mult"], p["shift"], p)


def _windows(node: Node, graph: Graph, x: np.ndarray, fill: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pooling windows as an array [..., taps] plus masks of real taps and of taps on padding."""
    win = window(node, graph)
    xs = _as_3d(x.astype(np.int64))
    pad = [(b, e + s * k) for b, e, s, k in zip(win.pads_begin, win.pads_end, win.strides, win.kernel)]
    xp = np.pad(xs, [(0, 0), (0, 0)] + pad, constant_values=fill)
    inside = np.pad(np.ones(xs.shape[2:], bool), pad, constant_values=False)
    padded_extent = np.pad(np.ones([i + b + e for i, b, e in zip(win.in_sp, win.pads_begin, win.pads_end)], bool),
                           [(0, s * k) for s, k in zip(win.strides, win.kernel)], constant_values=False)
    od, oh, ow = win.out_sp
    taps, masks, pad_masks = [], [], []
    for kd in range(win.kernel[0]):
        for kh in range(win.kernel[1]):
            for kw in range(win.kernel[2]):
                sl = tuple(slice(k * d, k * d + o * s, s) for k, d, o, s in
                           zip((kd, kh, kw), win.dilations, (od, oh, ow), win.strides))
                taps.append(xp[(slice(None), slice(None)) + sl])
                masks.append(inside[sl])
                pad_masks.append(padded_extent[sl])
    return np.stack(taps, -1), np.stack(masks, -1), np.stack(pad_masks, -1)


def max_pool(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    p = output_params(node, graph)
    taps, inside, _ = _windows(node, graph, x, -128)
    # Taps on the padding are skipped; the maximum starts at -128 (also for a window without real taps).
    y = np.where(inside[None, None], taps, -128).max(-1)
    y = np.clip(y, p["act_min"], p["act_max"])
    return y.astype(np.int8).reshape(graph.tensors[node.outputs[0]].shape)


def average_pool(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    win = window(node, graph)
    p = average_qparams(node, graph, int(np.prod(win.kernel)))
    taps, inside, in_padded = _windows(node, graph, x, 0)
    acc = np.where(inside[None, None], taps + p["in_offset"], 0).sum(-1)
    counted = in_padded if node.attrs.get("count_include_pad", 0) else inside
    count = np.maximum(counted.sum(-1), 1)
    if p["avg_div"]:
        return _rounding_average(acc - p["in_offset"] * count, count, p).reshape(graph.tensors[node.outputs[0]].shape)
    mult = np.asarray(p["count_mult"])[count - 1][None, None]
    shift = np.asarray(p["count_shift"])[count - 1][None, None]
    return _finish(acc, mult, shift, p).reshape(graph.tensors[node.outputs[0]].shape)


def _rounding_average(total: np.ndarray, count: np.ndarray, p: dict) -> np.ndarray:
    """TFLite's int8 AveragePool: the raw sum divided by the count, ties away from zero (C division)."""
    half = count // 2
    num = np.where(total > 0, total + half, total - half)
    q = np.sign(num) * (np.abs(num) // count)  # C's division truncates toward zero
    return np.clip(q, p["act_min"], p["act_max"]).astype(np.int8)


def global_average_pool(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    spatial = int(np.prod(x.shape[2:]))
    p = average_qparams(node, graph, spatial)
    acc = (x.astype(np.int64) + p["in_offset"]).reshape(x.shape[0], x.shape[1], -1).sum(-1)
    y = _finish(acc, p["count_mult"][-1], p["count_shift"][-1], p)
    return y.reshape(graph.tensors[node.outputs[0]].shape)


def reduce_mean(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    axes = tuple(reduced_axes(node, graph))
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    p = mean_qparams(node, graph, count)
    acc = (x.astype(np.int64) + p["in_offset"]).sum(axis=axes)
    return _finish(acc, p["mult"], p["shift"], p).reshape(graph.tensors[node.outputs[0]].shape)


def softmax(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    p = softmax_qparams(node, graph)
    if p["tflite"]:
        rows = x.reshape(-1, x.shape[-1]).astype(np.int64).tolist()
        y = np.array([softmax_row(r, p["exp0"], p["exp_acc"]) for r in rows], np.int64).reshape(x.shape)
        return np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)
    xi = x.astype(np.int64)
    diff = xi.max(-1, keepdims=True) - xi
    e = np.asarray(p["exp_table"], np.int64)[diff]
    total = e.sum(-1, keepdims=True)
    num = e * p["recip"]
    den = total << p["recip_bits"]
    q = (num + den // 2) // den
    return np.clip(q + p["out_zp"], p["act_min"], p["act_max"]).astype(np.int8)


def quantize_linear(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    p = quantize_linear_qparams(node, graph)
    return ort_quantize(x, p["scale"], p["zp"])


def lookup(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    return lookup_table(node, graph)[x.astype(np.int64) + 128]


def dequantize_linear(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    p = dequantize_linear_qparams(node, graph)
    return (x.astype(np.int32) - p["zp"]).astype(np.float32) * np.float32(p["scale"])


def prelu(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    p = prelu_qparams(node, graph)
    v = x.astype(np.int64) + p["in_offset"]
    alpha = np.asarray(p["alpha"], np.int64)
    if p["per_axis"]:  # the slope's axis: position // inner % len(alpha) in the flat input
        flat = np.arange(v.size) // p["inner"] % alpha.size
        alpha = alpha[flat].reshape(v.shape)
    pos = rescale(v, p["pos_mult"], p["pos_shift"], p["rounding"])
    neg = rescale(v * alpha, p["neg_mult"], p["neg_shift"], p["rounding"])
    y = np.where(v >= 0, pos, neg) + p["out_zp"]
    return np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)


def resize(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    """int8 Resize on the positions (and, for linear, the Q10 weights) of the C kernel's sampling tables.
    Those follow ONNX Runtime (the ONNX reference differs, e.g. pytorch_half_pixel to a length-1 axis),
    so the golden model takes the same positions rather than onnx.reference's."""
    y_shape = graph.tensors[node.outputs[0]].shape
    at = resize_attributes(node, graph)
    acc = x.astype(np.int64)
    bits = 0
    for axis, (n_in, n_out) in enumerate(zip(x.shape, y_shape)):
        table = axis_table(axis, n_in, n_out, 1, at, x.ndim)
        if table is None:
            continue
        index = np.asarray(table.index, np.int64).reshape(n_out, table.taps)
        taken = np.take(acc, index, axis=axis)  # the axis becomes (n_out, taps)
        if at["mode"] == "nearest":
            acc = np.squeeze(taken, axis=axis + 1)
            continue
        if not bits:
            taken = taken - zero_point_of(graph, node.inputs[0])  # interpolate x - zp
        weight = np.asarray(fixed_point_weights(table), np.int64).reshape(n_out, table.taps)
        shape = [1] * taken.ndim
        shape[axis], shape[axis + 1] = n_out, table.taps
        acc = np.sum(taken * weight.reshape(shape), axis=axis + 1)
        bits += FRACTION_BITS
    p = int8_resize_qparams(node, graph, bits)
    if not p["requantize"]:
        return acc.astype(np.int8)
    return _finish(acc if bits else acc + p["in_offset"], p["mult"], p["shift"], p)


INT8_KERNELS = {
    "Conv": conv, "PRelu": prelu, "Resize": resize, "Upsample": resize, "Gemm": fully_connected, "Add": add, "Mul": mul, "Requantize": requantize_op,
    "MaxPool": max_pool, "AveragePool": average_pool, "GlobalAveragePool": global_average_pool,
    "Softmax": softmax, "MatMul": batch_matmul, "ReduceMean": reduce_mean,
    # every elementwise map the op table runs in int8 as a table (Sigmoid, Tanh, Exp, ...)
    **{op: lookup for op in op_types(lambda spec: spec.int8 is not None and spec.int8.rule == "lookup")},
}
EDGE_KERNELS = {"QuantizeLinear": quantize_linear, "DequantizeLinear": dequantize_linear}
