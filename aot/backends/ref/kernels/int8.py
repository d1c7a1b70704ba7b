"""int8 kernels: integer-only arithmetic with int32 accumulators and fixed-point requantization
(aot_requantize in aot_runtime.h, or aot_requantize_tflite and TFLite's recipes with the "tflite"
rounding: every kernel here implements both). Parameters come from aot.quant.kernel_params, which the
golden model (aot.quant.golden) shares, so C and golden differ only if the arithmetic does. Portable C
only: the arm-dsp and helium backends (aot/backends/arm_dsp, aot/backends/helium) register variants of
the Conv, Gemm and pooling kernels for those instruction sets, with these parameter functions and
checks, whose integer results are the portable C's, bit for bit."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ....codegen.cformat import c_float
from ....ir import Graph, Node
from ....quant import kernel_params as kp
from ....quant.fixed_point import INT32_MAX
from .. import REF
from ...in_place import depthwise_nchw, elementwise, pointwise_nchw
from ...registry import is_channels_last
from .broadcast import loop_nest
from .conv import conv_params
from .pool import pool_params
from .reduce import reduce_params, reduced_axes
from .spatial import spatial_check, window

S8 = ("int8",)
SINGLE = ("single",)  # requantization roundings a kernel implements (aot/quant/fixed_point.py)
BOTH = ("single", "tflite")


def _has_quant(names_of: Callable[[Node], list[str]]) -> Callable[[Node, Graph], str | None]:
    def check(node: Node, graph: Graph) -> str | None:
        for name in names_of(node):
            if name and graph.tensors[name].quant is None:
                return f"int8 tensor '{name}' has no scale/zero point"
        return None
    return check


def _activations(node: Node) -> list[str]:
    return [i for i in node.inputs[:1]] + [o for o in node.outputs if o]


def conv_s8_check(node: Node, graph: Graph) -> str | None:
    if graph.tensors[node.inputs[1]].dtype != "int8" or graph.const(node.inputs[1]) is None:
        return "int8 Conv needs constant int8 weights"
    return spatial_check(node, graph) or _has_quant(_activations)(node, graph)


# -- Conv -------------------------------------------------------------------------------------------
# Three NCHW kernels, tried in this order: depthwise (conv_depthwise.c.j2), every other Conv as tiles
# of gathered pixels times the weights (conv_gemm.c.j2, also the channels-last Conv through
# channels_last.py), and direct weight-stationary loops (conv.c.j2) for biases too close to the int32
# limits to fold the input offset into them. The first two have variants in the arm-dsp and helium
# backends computing the same integers.


def requant_spec(mult: list[int], shift: list[int], out_zp: int, rounding: str = "single") -> dict:
    """Requantization parameters per output channel for store.j2's chan_* and store_rq macros.
    ``fast``: every channel has shift <= -2 (or a zero multiplier), so aot_requantize_hi gives
    aot_requantize's result with rshift = -1 - shift and round = 2^(rshift - 1). ``zfold``: round also
    adds the output zero point (out_zp * 2^rshift: exact, and |high word + round| < 2^31 while
    rshift <= 22). Both are single-rounding identities. ``tfast`` ("tflite" rounding): every shift is
    <= -1 (multipliers are never negative), so aot_requantize_tflite_rs applies and |result| <= 2^30."""
    fast = rounding == "single" and all(m == 0 or s <= -2 for m, s in zip(mult, shift))
    tfast = rounding == "tflite" and all(m == 0 or (m > 0 and s <= -1) for m, s in zip(mult, shift))
    rsh = [-1 - s if s <= -2 else 1 for s in shift]
    zfold = fast and max(rsh) <= 22
    rnd = [(1 << (r - 1)) + (out_zp << r if zfold else 0) for r in rsh]
    return {"fast": fast, "zfold": zfold, "tfast": tfast, "uniform": len(set(zip(mult, shift))) == 1, "mult": list(mult),
            "shift": list(shift), "rsh": rsh, "round": rnd}


def folded_bias(node: Node, graph: Graph, q: dict) -> list[int] | None:
    """bias + in_offset * sum_k W[oc, k]: the accumulator then sums raw x * w, with taps on the padding
    reading the zero point (x + in_offset = 0 there, so the identity holds for every tap). None when a
    partial sum could leave the int32 range (|x * w| <= 2^14 per tap), where the offset must be added
    per tap instead."""
    w = graph.const(node.inputs[1]).astype(np.int64)
    w = w.reshape(w.shape[0], -1)
    folded = np.asarray(q["bias"], np.int64) + q["in_offset"] * w.sum(axis=1)
    if int(np.abs(folded).max(initial=0)) + (1 << 14) * w.shape[1] > INT32_MAX:
        return None
    return folded.tolist()


def fast_conv_check(node: Node, graph: Graph) -> str | None:
    reason = conv_s8_check(node, graph)
    if reason is None and folded_bias(node, graph, kp.conv_qparams(node, graph)) is None:
        return "bias too close to the int32 limits to fold the input offset into it"
    return reason


def conv_geometry(node: Node, graph: Graph) -> dict:
    """Conv sizes for either data layout: NCHW-style (weights O, I, spatial...) or channels-last (NHWC-
    style, weights O, spatial..., I: convert_layout). ``nhwc`` selects the gather and the output
    indexing of conv_gemm.c.j2; its reduction index k follows the weights' memory order."""
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    win = window(node, graph)
    nhwc = is_channels_last(x.layout)
    c, oc = (x.shape[-1], y.shape[-1]) if nhwc else (x.shape[1], y.shape[1])
    group = int(node.attrs.get("group", 1))
    isp, osp = (int(np.prod(sp)) for sp in (win.in_sp, win.out_sp))
    ksp = int(np.prod(win.kernel))
    pointwise = ksp == 1 and win.strides == (1, 1, 1) and win.pads_begin == (0, 0, 0) and win.in_sp == win.out_sp
    return {"win": win, "nhwc": nhwc, "N": x.shape[0], "C": c, "OC": oc, "group": group, "ICG": c // group,
            "OCG": oc // group, "ISP": isp, "OSP": osp, "KSP": ksp, "pointwise": pointwise}


def fast_conv_params(node: Node, graph: Graph) -> dict:
    p = {**conv_geometry(node, graph), **kp.conv_qparams(node, graph)}
    return {**p, "bias_folded": folded_bias(node, graph, p), "rq": requant_spec(p["mult"], p["shift"], p["out_zp"], p["rounding"])}


def tap_ranges(win) -> tuple[list[list[int]], list[list[int]]]:
    """Per spatial dim and output position, the taps [lo, hi) whose input index is inside the input."""
    lo, hi = [], []
    for i, o, kk, st, d, pb in zip(win.in_sp, win.out_sp, win.kernel, win.strides, win.dilations, win.pads_begin):
        inside = [[0 <= x * st - pb + t * d < i for t in range(kk)] for x in range(o)]
        lo.append([row.index(True) if any(row) else 0 for row in inside])
        hi.append([kk - row[::-1].index(True) if any(row) else 0 for row in inside])
    return lo, hi


# Depthwise: each output channel reads one input channel, 1-D or 2-D windows.
DW_MAX_TAPS = 64  # taps are unrolled in the generated code
DW_MAX_MULTIPLIER = 2  # more output channels per input channel share a gathered tile better (conv_gemm)


def depthwise_geometry(win) -> dict | None:
    """The window as rows (H) of contiguous pixels (W), or None when it is not 1-D or 2-D. A column
    (W == 1, e.g. time along H) becomes a single row so that its taps are contiguous."""
    if win.in_sp[0] != 1 or win.out_sp[0] != 1 or win.kernel[0] != 1 or win.pads_begin[0] or win.pads_end[0]:
        return None
    h, w = (dict(i=win.in_sp[a], o=win.out_sp[a], k=win.kernel[a], s=win.strides[a], d=win.dilations[a],
                 pb=win.pads_begin[a], pe=win.pads_end[a]) for a in (1, 2))
    if w["i"] == 1 and w["o"] == 1 and w["k"] == 1 and not w["pb"] and not w["pe"] and h["i"] > 1:
        h, w = w, h
    g = {}
    for name, dim in (("H", h), ("W", w)):
        span = (dim["o"] - 1) * dim["s"] + (dim["k"] - 1) * dim["d"] + 1  # input extent the taps read
        g.update({name: dim["i"], "O" + name: dim["o"], "K" + name: dim["k"], "S" + name: dim["s"],
                  "D" + name: dim["d"], "P" + name: dim["pb"], name + "P": span})
    g["padded"] = bool(h["pb"] or h["pe"] or w["pb"] or w["pe"])
    if g["padded"]:  # the plane copy: the rows and columns of the input that the taps can reach
        g["copy_rows"] = max(0, min(g["H"], g["HP"] - g["PH"]))
        g["copy_cols"] = max(0, min(g["W"], g["WP"] - g["PW"]))
    return g


def _depthwise_check(node: Node, graph: Graph) -> str | None:
    p = conv_geometry(node, graph)
    if p["ICG"] != 1 or p["OCG"] > DW_MAX_MULTIPLIER:
        return "not depthwise (several input channels per output, or many outputs per input: gathered)"
    if p["KSP"] > DW_MAX_TAPS or depthwise_geometry(p["win"]) is None:
        return "depthwise window not 1-D/2-D or too large"
    return fast_conv_check(node, graph)


def _copied_plane(g: dict | None, node: Node) -> dict | None:
    """In place (aot/backends/in_place.py), each input plane is read from a copy in scratch, as a
    padded one is: an unpadded window takes the padded path with no padding."""
    if g is None or g["padded"] or not node.meta.get("in_place"):
        return g
    return {**g, "padded": True, "copy_rows": min(g["H"], g["HP"]), "copy_cols": min(g["W"], g["WP"])}


def _depthwise_params(node: Node, graph: Graph) -> dict:
    p = fast_conv_params(node, graph)
    return {**p, **_copied_plane(depthwise_geometry(p["win"]), node)}


def _depthwise_scratch(node: Node, graph: Graph) -> int:
    g = _copied_plane(depthwise_geometry(window(node, graph)), node)
    return g["HP"] * g["WP"] + 3 if g and g["padded"] else 0  # 3: the last word load may pass the plane


REF.kernel("Conv", template="ref/int8/conv_depthwise.c.j2", check=_depthwise_check, dtypes=S8, priority=30,
           roundings=BOTH, in_place=depthwise_nchw,
           scratch_bytes=_depthwise_scratch, static_inputs=(2,), input_names=("X", "W"),
           output_names=("Y",))(_depthwise_params)

# Every other Conv: tiles of output pixels gathered (im2col) once, then read by every output channel.
PIX = 4  # pixels per int16 tile (portable C and the arm-dsp variant)


def gemm_conv_params(node: Node, graph: Graph) -> dict:
    p = fast_conv_params(node, graph)
    k = p["ICG"] * p["KSP"]
    lo, hi = tap_ranges(p["win"])
    return {**p, "K": k, "G": k // 4, "KT": k % 4, "PIX": PIX, "tap_lo": lo, "tap_hi": hi}


def gemm_conv_scratch(node: Node, graph: Graph) -> int:
    p = conv_geometry(node, graph)
    # PIX pixels x K rounded up to 4, int16, and one pixel's window in k order (not for an NCHW 1x1);
    # 3 bytes to align the tile to a word at run time.
    k = p["ICG"] * p["KSP"]
    k4 = 4 * -(-k // 4)
    line = 0 if p["pointwise"] and not p["nhwc"] else 1
    return 2 * k4 * (PIX + line) + 3


REF.kernel("Conv", template="ref/int8/conv_gemm.c.j2", check=fast_conv_check, dtypes=S8, priority=20,
           roundings=BOTH, in_place=pointwise_nchw,
           scratch_bytes=gemm_conv_scratch, static_inputs=(2,), input_names=("X", "W"),
           output_names=("Y",))(gemm_conv_params)


def _conv_s8_params(node: Node, graph: Graph) -> dict:
    return {**conv_params(node, graph), **kp.conv_qparams(node, graph)}


def _conv_scratch(node: Node, graph: Graph) -> int:
    y = graph.tensors[node.outputs[0]]
    return 4 * y.size // (y.shape[0] * y.shape[1])  # one int32 output plane


REF.kernel("Conv", template="ref/int8/conv.c.j2", check=conv_s8_check, dtypes=S8, priority=10, roundings=BOTH,
           scratch_bytes=_conv_scratch,
           input_names=("X", "W", "B"), output_names=("Y",))(_conv_s8_params)


# -- fully connected, elementwise, pooling, softmax, edges --------------------------------------------
def _fc_check(node: Node, graph: Graph) -> str | None:
    if not node.attrs.get("transB") or node.attrs.get("transA"):
        return "int8 Gemm expects weights stored [N, K] (transB=1)"
    if graph.const(node.inputs[1]) is None:
        return "int8 Gemm needs constant weights"
    return _has_quant(_activations)(node, graph)


FC_ROWS = 4  # weight rows sharing one pass over the input


def _fc_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    w = graph.tensors[node.inputs[1]]
    q = kp.fc_qparams(node, graph)
    n = w.shape[0]
    mult, shift = (q["mult"] * n, q["shift"] * n) if len(q["mult"]) == 1 else (q["mult"], q["shift"])
    return {"M": x.shape[0], "K": x.shape[1], "N": n, "ROWS": FC_ROWS, **q, "rq": requant_spec(mult, shift, q["out_zp"], q["rounding"])}


# The bias operand is folded into bias_folded at compile time: it is read statically, not passed.
REF.kernel("Gemm", template="ref/int8/fully_connected.c.j2", check=_fc_check, dtypes=S8, roundings=BOTH, static_inputs=(2,),
           input_names=("X", "W"), output_names=("Y",))(_fc_params)


def _binary_params(node: Node, graph: Graph) -> dict:
    a, b = (graph.tensors[i] for i in node.inputs[:2])
    y = graph.tensors[node.outputs[0]]
    dims, (sa, sb, sy) = loop_nest(y.shape, [a.shape, b.shape, y.shape])
    qparams = kp.add_qparams(node, graph) if node.op_type == "Add" else kp.mul_qparams(node, graph)
    return {"dims": dims, "sa": sa, "sb": sb, "sy": sy, "is_add": node.op_type == "Add", **qparams}


def _binary_check(node: Node, graph: Graph) -> str | None:
    return _has_quant(lambda n: n.inputs[:2] + n.outputs[:1])(node, graph)


REF.kernel("Add", "Mul", template="ref/int8/binary.c.j2", check=_binary_check, dtypes=S8, roundings=BOTH, in_place=elementwise,
           input_names=("A", "B"), output_names=("Y",))(_binary_params)

REF.kernel("Requantize", template="ref/int8/requantize.c.j2", check=_has_quant(_activations), dtypes=S8, roundings=BOTH, in_place=elementwise,
           input_names=("X",), output_names=("Y",))(lambda node, graph: kp.requantize_qparams(node, graph))


def _pool_s8_params(node: Node, graph: Graph) -> dict:
    params = pool_params(node, graph)
    win = window(node, graph)
    ksp = win.kernel[0] * win.kernel[1] * win.kernel[2]
    # Every window inside the input: no bounds checks, and an average always divides by ksp.
    params["inside"] = all((o - 1) * s - p + (k - 1) * d < i and p == 0 for i, o, k, s, d, p in zip(
        win.in_sp, win.out_sp, win.kernel, win.strides, win.dilations, win.pads_begin))
    if node.op_type == "AveragePool":
        params.update(kp.average_qparams(node, graph, ksp))
        params["rq"] = requant_spec(params["count_mult"][-1:], params["count_shift"][-1:], params["out_zp"],
                                    params["rounding"])
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


REF.kernel("MaxPool", "AveragePool", template="ref/int8/pool.c.j2", check=_maxpool_check, dtypes=S8, roundings=BOTH,
           input_names=("X",), output_names=("Y",))(_pool_s8_params)


def _gap_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    spatial = x.size // (x.shape[0] * x.shape[1])
    p = kp.average_qparams(node, graph, spatial)
    return {"NC": x.shape[0] * x.shape[1], "SP": spatial, "mult": p["count_mult"][-1],
            "shift": p["count_shift"][-1], **p}


REF.kernel("GlobalAveragePool", template="ref/int8/global_average_pool.c.j2", check=_has_quant(_activations),
           dtypes=S8, roundings=BOTH, input_names=("X",), output_names=("Y",))(_gap_params)


def _softmax_params(node: Node, graph: Graph) -> dict:
    shape = graph.tensors[node.inputs[0]].shape
    return {"rows": int(np.prod(shape[:-1])), "D": shape[-1], **kp.softmax_qparams(node, graph)}


SOFTMAX_TFLITE_MAX_D = 4095  # each exp is at most 2^19 in the Q12.19 sum


def _softmax_check(node: Node, graph: Graph) -> str | None:
    rank = len(graph.tensors[node.inputs[0]].shape)
    if int(node.attrs.get("axis", -1)) % rank != rank - 1:
        return "int8 Softmax over the last axis only"
    reason = _has_quant(_activations)(node, graph)
    y = node.outputs[0]
    tflite_recipe = graph.rounding == "tflite" and (kp.scale_of(graph, y), kp.zero_point_of(graph, y)) == \
        kp.TFLITE_SOFTMAX_OUT
    if reason is None and tflite_recipe and graph.tensors[node.inputs[0]].shape[-1] > SOFTMAX_TFLITE_MAX_D:
        return f"TFLite's int8 Softmax sums in Q12.19: rows longer than {SOFTMAX_TFLITE_MAX_D} overflow int32"
    return reason


REF.kernel("Softmax", template="ref/int8/softmax.c.j2", check=_softmax_check, dtypes=S8, roundings=BOTH, input_names=("X",),
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


# -- MatMul of two int8 activations ------------------------------------------------------------------
def _batch_matmul_check(node: Node, graph: Graph) -> str | None:
    a, b = (graph.tensors[i] for i in node.inputs[:2])
    if a.is_constant or b.is_constant:
        return "one operand is a constant (a fully connected layer runs as Gemm)"
    if len(a.shape) < 2 or len(b.shape) < 2:
        return "int8 MatMul of activations takes operands of rank 2 or more"
    for t in (a, b, graph.tensors[node.outputs[0]]):
        if t.quant is None or t.quant.scale.size != 1:
            return f"int8 tensor '{t.name}' needs one scale and zero point"
    return None


def batched_matrices(node: Node, graph: Graph) -> dict:
    """M, K, N and the batch loop nest of a MatMul of two operands of rank >= 2 (batch axes broadcast like
    numpy's matmul; strides count whole matrices)."""
    a, b = (graph.tensors[i] for i in node.inputs[:2])
    y = graph.tensors[node.outputs[0]]
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    dims, (sa, sb, sy) = loop_nest(y.shape[:-2], [a.shape[:-2], b.shape[:-2], y.shape[:-2]])
    return {"M": M, "K": K, "N": N, "dims": dims, "sa": [s * M * K for s in sa], "sb": [s * K * N for s in sb],
            "sy": [s * M * N for s in sy]}


def _batch_matmul_params(node: Node, graph: Graph) -> dict:
    return {**batched_matrices(node, graph), **kp.batch_matmul_qparams(node, graph)}


REF.kernel("MatMul", template="ref/int8/batch_matmul.c.j2", check=_batch_matmul_check, dtypes=S8, roundings=BOTH,
           input_names=("A", "B"), output_names=("Y",))(_batch_matmul_params)


# -- ReduceMean -------------------------------------------------------------------------------------
def _mean_check(node: Node, graph: Graph) -> str | None:
    if len(node.inputs) > 1 and node.inputs[1] and graph.const(node.inputs[1]) is None:
        return "axes computed at run time"
    if not reduced_axes(node, graph):
        return "no axis reduced (noop_with_empty_axes)"
    return _has_quant(_activations)(node, graph)


def _mean_params(node: Node, graph: Graph) -> dict:
    loops = reduce_params(node, graph)
    x = graph.tensors[node.inputs[0]]
    count = int(np.prod([x.shape[a] for a in reduced_axes(node, graph)], dtype=np.int64))
    return {**loops, **kp.mean_qparams(node, graph, count)}


REF.kernel("ReduceMean", template="ref/int8/mean.c.j2", check=_mean_check, dtypes=S8, roundings=BOTH,
           static_inputs=(1,), input_names=("X",), output_names=("Y",))(_mean_params)


# -- PRelu ------------------------------------------------------------------------------------------
def _prelu_check(node: Node, graph: Graph) -> str | None:
    if kp.prelu_slope(graph, node) is None:
        return "int8 PRelu needs a constant slope that is one value or varies along one axis"
    return _has_quant(_activations)(node, graph)


REF.kernel("PRelu", template="ref/int8/prelu.c.j2", check=_prelu_check, dtypes=S8, roundings=BOTH,
           static_inputs=(1,), input_names=("X",), output_names=("Y",))(
    lambda node, graph: kp.prelu_qparams(node, graph))
