"""The cmsis-nn backend's kernels: one per CMSIS-NN function, each accepting the int8 layers that
function computes exactly as aot's golden model does (aot/quant/golden.py, parameters from
aot/quant/kernel_params.py), and declining the others with the reason.

Scratch ("context buffers", ``*_get_buffer_size``): the size depends on the path CMSIS-NN compiles
(pure C, DSP, Helium), which the kernel does not know; the arena plans the largest of the three,
following CMSIS-NN 7.0's formulas (arm_*_get_buffer_sizes_s8.c)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Graph, Node
from ...quant import kernel_params as kp
from ...quant.fixed_point import INT32_MAX
from ...quant.gemmlowp import softmax_scaling
from ..ref.kernels.int8 import _fc_check, conv_s8_check
from ..ref.kernels.spatial import spatial_check, window
from ..registry import is_channels_last
from . import CMSIS_NN

S8 = ("int8",)
ROUNDINGS = ("tflite", "single")  # "single" builds CMSIS-NN with -DCMSIS_NN_USE_SINGLE_ROUNDING
MVE_CH_IN_BLOCK = 124  # CH_IN_BLOCK_MVE of arm_nnsupportfunctions.h
DW_ONE_IN_CH_AS_CONV = 8  # CONVERT_DW_CONV_WITH_ONE_INPUT_CH_AND_OUTPUT_CH_ABOVE_THRESHOLD


# -- shared checks ------------------------------------------------------------------------------------
def _two_d(node: Node, graph: Graph) -> str | None:
    """CMSIS-NN takes N, H, W, C data with TFLite's padding: begin pads, and an end pad of the same or
    one more (a larger end pad would need taps the output size does not imply)."""
    if not is_channels_last(graph.tensors[node.inputs[0]].layout):
        return "channels-first data (CMSIS-NN takes NHWC; --layout Conv=NHWC,OHWI)"
    reason = spatial_check(node, graph)
    if reason:
        return reason
    win = window(node, graph)
    if win.in_sp[0] != 1 or win.out_sp[0] != 1 or win.kernel[0] != 1:
        return "3-D window (CMSIS-NN is 2-D)"
    for b, e in zip(win.pads_begin, win.pads_end):
        if not 0 <= e - b <= 1:
            return f"padding {win.pads_begin} .. {win.pads_end} (CMSIS-NN: end pad equal to the begin pad or one more)"
    return None


def _dims(shape_nhwc: tuple[int, ...]) -> list[int]:
    """N, H, W, C of a channels-last tensor of 1 or 2 spatial dims."""
    n, *sp, c = shape_nhwc
    h, w = ([1] + list(sp))[-2:]
    return [n, h, w, c]


def _zero_weight_offset(node: Node, graph: Graph) -> str | None:
    w = graph.tensors[node.inputs[1]]
    if w.quant is None or np.any(np.asarray(w.quant.zero_point) != 0):
        return "weights with a zero point (CMSIS-NN takes symmetric int8 weights)"
    return None


def _requant_overflow(max_acc: int, mults, shifts, rounding: str) -> str | None:
    """Where aot saturates and CMSIS-NN wraps: TFLite's acc * 2^shift in int32 ("tflite"), or the
    single-rounded product beyond int32 (CMSIS-NN keeps its low word). Only output scales far below
    the natural one get there; such layers are declined."""
    for m, sh in zip(mults, shifts):
        if rounding == "tflite":
            big = max_acc << max(sh, 0) > INT32_MAX
        else:
            big = (max_acc * m) >> max(31 - sh, 0) >= INT32_MAX
        if m and big:
            return "requantization leaves int32 for some inputs (aot saturates, CMSIS-NN wraps): output scale too small"
    return None


def _conv_overflow(node: Node, graph: Graph, taps: int) -> str | None:
    q = kp.conv_qparams(node, graph)
    max_acc = max(map(abs, q["bias"]), default=0) + 255 * 128 * taps  # |x - zp| <= 255, |w| <= 128
    return _requant_overflow(max_acc, q["mult"], q["shift"], graph.rounding)


def _tiles(win) -> dict[str, Any]:
    return {"stride": (win.strides[2], win.strides[1]), "pad": (win.pads_begin[2], win.pads_begin[1]),
            "dilation": (win.dilations[2], win.dilations[1]), "KH": win.kernel[1], "KW": win.kernel[2]}


def _group(node: Node) -> int:
    return int(node.attrs.get("group", 1))


# -- convolution --------------------------------------------------------------------------------------
def _conv_check(node: Node, graph: Graph) -> str | None:
    # Groups (arm_convolve_s8 splits the channels as ONNX does); a depthwise layer prefers the
    # depthwise kernel (higher priority).
    w = graph.tensors[node.inputs[1]]
    if w.layout != "OHWI" and not (w.layout or "").endswith("I"):
        return f"weights stored {w.layout} (CMSIS-NN takes O, H, W, I)"
    reason = _two_d(node, graph) or conv_s8_check(node, graph) or _zero_weight_offset(node, graph)
    return reason or _conv_overflow(node, graph, int(np.prod(w.shape[1:])))


def _conv_common(node: Node, graph: Graph) -> dict[str, Any]:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    q = kp.conv_qparams(node, graph)
    return {**q, **_tiles(window(node, graph)), "in_dims": _dims(x.shape), "out_dims": _dims(y.shape),
            "ICG": x.shape[-1] // _group(node)}


def _conv_params(node: Node, graph: Graph) -> dict[str, Any]:
    return {**_conv_common(node, graph), "ctx_bytes": _conv_scratch(node, graph)}


def _conv_scratch(node: Node, graph: Graph) -> int:
    """The largest of arm_convolve_wrapper_s8_get_buffer_size's pure-C, DSP and Helium answers."""
    p = _conv_common(node, graph)
    c = p["in_dims"][3]
    k = p["KH"] * p["KW"] * c
    k4 = -(-k // 4) * 4
    generic = 2 * k4 * 2  # arm_convolve_s8: two int16 im2col columns
    mve = 4 * (-(-k // 16)) * 16  # arm_convolve_s8 on Helium: four columns of 16-byte lanes
    one_by_n = k + (2 * p["pad"][0] + p["stride"][0] + 1) * c  # arm_convolve_1_x_n_s8 on Helium, bounded
    fast_1x1 = 4 * c  # arm_convolve_1x1_s8_fast with Arm Compiler 6
    return max(generic, mve, one_by_n, fast_1x1)


CMSIS_NN.kernel("Conv", template="cmsis-nn/conv.c.j2", name="arm_convolve_wrapper_s8", check=_conv_check,
                channels_last=True, dtypes=S8, roundings=ROUNDINGS, priority=10, scratch_bytes=_conv_scratch,
                static_inputs=(2,), input_names=("X", "W"), output_names=("Y",))(_conv_params)


def _depthwise_check(node: Node, graph: Graph) -> str | None:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    c, oc = x.shape[-1], y.shape[-1]
    if c == 1 or _group(node) != c or oc % c:
        return "not depthwise (CMSIS-NN: one group per input channel, a whole channel multiplier, several channels)"
    if x.shape[0] != 1:
        return "batch of several (arm_depthwise_conv_wrapper_s8 takes one)"
    reason = _two_d(node, graph) or conv_s8_check(node, graph) or _zero_weight_offset(node, graph)
    return reason or _conv_overflow(node, graph, int(np.prod(graph.tensors[node.inputs[1]].shape[1:])))


def _depthwise_params(node: Node, graph: Graph) -> dict[str, Any]:
    p = _conv_common(node, graph)
    w = graph.const(node.inputs[1])
    oc = w.shape[0]
    # CMSIS-NN's depthwise filter is [1, KH, KW, OC] (channels innermost); aot stores O, H, W, 1.
    taps = np.ascontiguousarray(w.reshape(oc, -1).T).reshape(-1)
    return {**p, "weights": taps.tolist(), "ch_mult": oc // p["in_dims"][3], "ctx_bytes": _depthwise_scratch(node, graph)}


def _depthwise_scratch(node: Node, graph: Graph) -> int:
    """The largest of arm_depthwise_conv_wrapper_s8_get_buffer_size's pure-C, DSP and Helium answers."""
    p = _conv_common(node, graph)
    c, oc, taps = p["in_dims"][3], p["out_dims"][3], p["KH"] * p["KW"]
    sizes = [0]
    if c == oc and p["dilation"] == (1, 1):
        sizes += [2 * c * taps, 4 * MVE_CH_IN_BLOCK * taps]  # arm_depthwise_conv_s8_opt: DSP, Helium
    if c == 1 and oc > DW_ONE_IN_CH_AS_CONV:  # Helium runs it as a convolution
        sizes.append(_conv_scratch(node, graph) + oc * taps)
    return max(sizes)


CMSIS_NN.kernel("Conv", template="cmsis-nn/depthwise.c.j2", name="arm_depthwise_conv_wrapper_s8",
                check=_depthwise_check, channels_last=True, dtypes=S8, roundings=ROUNDINGS, priority=20,
                scratch_bytes=_depthwise_scratch, static_inputs=(1, 2), input_names=("X", "W"),
                output_names=("Y",))(_depthwise_params)


# -- fully connected ------------------------------------------------------------------------------------
def _fc_cmsis_check(node: Node, graph: Graph) -> str | None:
    if len(graph.tensors[node.inputs[0]].shape) != 2:
        return "Gemm input of rank other than 2"
    reason = _fc_check(node, graph) or _zero_weight_offset(node, graph)
    if reason is None and max(map(abs, kp.fc_qparams(node, graph)["bias_folded"]), default=0) > INT32_MAX:
        return "bias + input offset * sum(weights) leaves int32 (Helium's kernel sums)"
    return reason or _conv_overflow(node, graph, graph.tensors[node.inputs[1]].shape[1])


def _fc_params(node: Node, graph: Graph) -> dict[str, Any]:
    x, w = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    q = kp.fc_qparams(node, graph)
    n = w.shape[0]
    mult, shift = (q["mult"] * n, q["shift"] * n) if len(q["mult"]) == 1 else (q["mult"], q["shift"])
    per_tensor = len(set(zip(mult, shift))) == 1
    # Helium's arm_nn_vec_mat_mult_t_s8 starts each row from the kernel sum bias + in_offset * sum(w)
    # (what arm_vector_sum_s8 computes), read from the context buffer: computed here, kept in flash.
    return {**q, "M": x.shape[0], "K": x.shape[1], "N": n, "mult": mult, "shift": shift, "per_tensor": per_tensor,
            "cmsis_fn": "arm_fully_connected_s8" if per_tensor else "arm_fully_connected_per_channel_s8"}


CMSIS_NN.kernel("Gemm", template="cmsis-nn/fully_connected.c.j2", name="arm_fully_connected_s8",
                check=lambda n, g: _fc_cmsis_check(n, g) or _per_channel(n, g), dtypes=S8, roundings=ROUNDINGS,
                priority=10, static_inputs=(2,), input_names=("X", "W"), output_names=("Y",))(_fc_params)
CMSIS_NN.kernel("Gemm", template="cmsis-nn/fully_connected.c.j2", name="arm_fully_connected_per_channel_s8",
                check=lambda n, g: _fc_cmsis_check(n, g) or (None if _per_channel(n, g) else "per-tensor weights"),
                dtypes=S8, roundings=ROUNDINGS, priority=5, static_inputs=(2,), input_names=("X", "W"),
                output_names=("Y",))(_fc_params)


def _per_channel(node: Node, graph: Graph) -> str | None:
    p = _fc_params(node, graph)
    return None if p["per_tensor"] else "per-channel weights (arm_fully_connected_per_channel_s8)"


# -- pooling --------------------------------------------------------------------------------------------
def _pool_check(node: Node, graph: Graph) -> str | None:
    if len([o for o in node.outputs if o]) > 1:
        return "MaxPool with an Indices output"
    reason = _two_d(node, graph)
    if reason:
        return reason
    x, y = node.inputs[0], node.outputs[0]
    if graph.tensors[x].quant is None or graph.tensors[y].quant is None:
        return "int8 pooling needs quantized input and output"
    if (kp.scale_of(graph, x), kp.zero_point_of(graph, x)) != (kp.scale_of(graph, y), kp.zero_point_of(graph, y)):
        return "input and output quantized differently (CMSIS-NN pools the stored numbers)"
    win = window(node, graph)
    if win.dilations != (1, 1, 1):
        return "dilated pooling"
    if node.op_type == "AveragePool":
        if not kp.average_qparams(node, graph, 1)["avg_div"]:
            return (f"{graph.rounding} rounding averages through a multiplier; arm_avgpool_s8 divides the sum "
                    f"(TFLite's recipe: --rounding tflite)" if graph.rounding != "tflite" else
                    "padding counted in the average (count_include_pad)")
    return None


def _pool_params(node: Node, graph: Graph) -> dict[str, Any]:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    return {**kp.output_params(node, graph), **_tiles(window(node, graph)), "in_dims": _dims(x.shape),
            "out_dims": _dims(y.shape), "ctx_bytes": _pool_scratch(node, graph),
            "cmsis_fn": "arm_avgpool_s8" if node.op_type == "AveragePool" else "arm_max_pool_s8"}


def _pool_scratch(node: Node, graph: Graph) -> int:
    # arm_avgpool_s8_get_buffer_size: one int32 sum per channel on the DSP path, none elsewhere.
    return 4 * graph.tensors[node.inputs[0]].shape[-1] if node.op_type == "AveragePool" else 0


CMSIS_NN.kernel("AveragePool", template="cmsis-nn/pool.c.j2", name="arm_avgpool_s8", check=_pool_check,
                channels_last=True, dtypes=S8, roundings=ROUNDINGS, scratch_bytes=_pool_scratch,
                input_names=("X",), output_names=("Y",))(_pool_params)
CMSIS_NN.kernel("MaxPool", template="cmsis-nn/pool.c.j2", name="arm_max_pool_s8", check=_pool_check,
                channels_last=True, dtypes=S8, roundings=ROUNDINGS, input_names=("X",),
                output_names=("Y",))(_pool_params)


# -- elementwise ----------------------------------------------------------------------------------------
def _binary_check(node: Node, graph: Graph) -> str | None:
    names = [*node.inputs[:2], node.outputs[0]]
    shapes = {graph.tensors[n].shape for n in names}
    if len(shapes) != 1:
        return "broadcasting (arm_elementwise_*_s8 takes operands of one shape)"
    if any(graph.tensors[n].quant is None or graph.tensors[n].quant.scale.size != 1 for n in names):
        return "operands without one scale and zero point"
    if any(graph.tensors[n].is_constant for n in node.inputs[:2]):
        return "a constant operand"
    q = _binary_params(node, graph)
    if q["is_add"]:  # each input, (x - zp) * 2^20 halved at least, then the sum rescaled
        return _requant_overflow(255 << q["left_shift"], [q["out_mult"]], [q["out_shift"]], graph.rounding)
    return _requant_overflow(255 * 255, [q["mult"]], [q["shift"]], graph.rounding)


def _binary_params(node: Node, graph: Graph) -> dict[str, Any]:
    q = kp.add_qparams(node, graph) if node.op_type == "Add" else kp.mul_qparams(node, graph)
    return {**q, "size": graph.tensors[node.outputs[0]].size, "is_add": node.op_type == "Add"}


CMSIS_NN.kernel("Add", template="cmsis-nn/binary.c.j2", name="arm_elementwise_add_s8", check=_binary_check,
                dtypes=S8, roundings=ROUNDINGS, input_names=("A", "B"), output_names=("Y",))(_binary_params)
CMSIS_NN.kernel("Mul", template="cmsis-nn/binary.c.j2", name="arm_elementwise_mul_s8", check=_binary_check,
                dtypes=S8, roundings=ROUNDINGS, input_names=("A", "B"), output_names=("Y",))(_binary_params)


# -- softmax --------------------------------------------------------------------------------------------
def _softmax_check(node: Node, graph: Graph) -> str | None:
    x, y = node.inputs[0], node.outputs[0]
    rank = len(graph.tensors[x].shape)
    if int(node.attrs.get("axis", -1)) % rank != rank - 1:
        return "Softmax over another axis than the last"
    if graph.tensors[x].quant is None or graph.tensors[y].quant is None:
        return "int8 Softmax needs quantized input and output"
    if graph.rounding != "tflite" or (kp.scale_of(graph, y), kp.zero_point_of(graph, y)) != kp.TFLITE_SOFTMAX_OUT:
        return ("arm_softmax_s8 is TFLite's recipe: --rounding tflite and output quantization "
                f"scale 1/256, zero point -128")
    return None


def _softmax_params(node: Node, graph: Graph) -> dict[str, Any]:
    shape = graph.tensors[node.inputs[0]].shape
    mult, shift, diff_min = softmax_scaling(kp.scale_of(graph, node.inputs[0]))
    return {"rows": int(np.prod(shape[:-1])), "D": shape[-1], "mult": mult, "shift": shift, "diff_min": diff_min}


CMSIS_NN.kernel("Softmax", template="cmsis-nn/softmax.c.j2", name="arm_softmax_s8", check=_softmax_check,
                dtypes=S8, roundings=ROUNDINGS, input_names=("X",), output_names=("Y",))(_softmax_params)
