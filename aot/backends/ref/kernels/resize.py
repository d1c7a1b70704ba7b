"""Resize and Upsample with constant scales/sizes: separable sampling tables computed here, one per
resized axis, so the C is a loop nest over the output with a few taps per resized axis.

Each resized axis gets, per output position, the input positions it reads (already multiplied by the
axis stride) and, for linear and cubic, their weights; tf_crop_and_resize adds an "outside" flag
that selects extrapolation_value. Nearest reads one position (any dtype: values are only moved);
linear reads 2 taps, cubic 4, antialias (downscaling linear/cubic) the filter's widened footprint.

Coordinates follow ONNX Runtime: computed in float32 with its formulas (pytorch_half_pixel maps a
length-1 output to 0, lengths in the formulas are the integer output sizes). Tap positions and
weights follow the ONNX reference (edge clamping, exclude_outside renormalising, antialias filters
normalised to sum 1), which ONNX Runtime's kernels agree with.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ....codegen.cformat import c_array_body, c_float
from ....codegen.cformat import strides as dense_strides
from ....ir import Graph, Node
from .. import REF
from ....quant.kernel_params import int8_resize_qparams
from .int8 import BOTH
from .shape_ops import ALL_DTYPES

f32 = np.float32


@dataclass
class AxisTable:
    axis: int
    taps: int
    index: list[int]  # out_len * taps input positions times the axis stride
    weight: list[float] | None  # out_len * taps weights, None for nearest (one tap of weight 1)
    outside: list[int] | None  # per output position: 1 where tf_crop_and_resize extrapolates


def _operand(graph: Graph, node: Node, idx: int) -> np.ndarray | None:
    if idx >= len(node.inputs) or not node.inputs[idx]:
        return None
    value = graph.const(node.inputs[idx])
    if value is None or np.asarray(value).size == 0:
        return None
    return np.asarray(value)


def resize_attributes(node: Node, graph: Graph) -> dict:
    """The node's settings in Resize-19 terms, per axis of the input (Upsample included)."""
    x = graph.tensors[node.inputs[0]]
    rank = len(x.shape)
    a = node.attrs
    if node.op_type == "Upsample":
        scales = _operand(graph, node, 1)
        if scales is None:
            scales = np.asarray(a["scales"], np.float32)
        mode = "linear" if a.get("mode", "nearest") in ("linear", "bilinear") else "nearest"
        return {"mode": mode, "transform": "asymmetric", "nearest_mode": "floor", "cubic_a": -0.75,
                "exclude_outside": False, "extrapolation": 0.0, "antialias": False,
                "scales": [f32(s) for s in scales.reshape(-1)], "roi": [0.0] * rank + [1.0] * rank}
    axes = [int(v) % rank for v in a.get("axes", range(rank))]
    scales = [f32(1.0)] * rank
    given = _operand(graph, node, 2)
    if given is not None:
        for ax, s in zip(axes, given.reshape(-1)):
            scales[ax] = f32(s)
    else:
        sizes = _operand(graph, node, 3).reshape(-1)
        ratios = {ax: f32(f32(int(sz)) / f32(x.shape[ax])) for ax, sz in zip(axes, sizes)}
        policy = a.get("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            common = pick(ratios.values())
            ratios = {ax: common for ax in ratios}
        for ax, s in ratios.items():
            scales[ax] = s
    roi = [0.0] * rank + [1.0] * rank
    roi_given = _operand(graph, node, 1)
    if a.get("coordinate_transformation_mode") == "tf_crop_and_resize" and roi_given is not None:
        flat = roi_given.reshape(-1).tolist()
        for i, ax in enumerate(axes):
            roi[ax], roi[rank + ax] = flat[i], flat[len(axes) + i]
    return {"mode": a.get("mode", "nearest"), "transform": a.get("coordinate_transformation_mode", "half_pixel"),
            "nearest_mode": a.get("nearest_mode", "round_prefer_floor"),
            "cubic_a": float(a.get("cubic_coeff_a", -0.75)), "exclude_outside": bool(int(a.get("exclude_outside", 0))),
            "extrapolation": float(a.get("extrapolation_value", 0.0)), "antialias": bool(int(a.get("antialias", 0))),
            "scales": scales, "roi": roi}


def original_coordinate(o: int, transform: str, scale, out_len: int, in_len: int, start: float, end: float):
    """The input coordinate of output position ``o`` (float32, ONNX Runtime's formulas)."""
    x, s = f32(o), f32(scale)
    half = f32(0.5)
    if transform == "half_pixel":
        return (x + half) / s - half
    if transform == "half_pixel_symmetric":
        adjustment = f32(out_len) / (s * f32(in_len))
        offset = f32(in_len) / f32(2) * (f32(1) - adjustment)
        return offset + (x + half) / s - half
    if transform == "pytorch_half_pixel":
        return (x + half) / s - half if out_len > 1 else f32(0)
    if transform == "align_corners":
        return f32(0) if out_len == 1 else x * f32(in_len - 1) / f32(out_len - 1)
    if transform == "asymmetric":
        return x / s
    if transform == "tf_half_pixel_for_nn":
        return (x + half) / s
    # tf_crop_and_resize
    st, en = f32(start), f32(end)
    if out_len > 1:
        return st * f32(in_len - 1) + x * (en - st) * f32(in_len - 1) / f32(out_len - 1)
    return half * (st + en) * f32(in_len - 1)


def _cubic(t: float, A: float) -> float:
    t = abs(t)
    if t <= 1:
        return (A + 2) * t ** 3 - (A + 3) * t ** 2 + 1
    if t < 2:
        return A * t ** 3 - 5 * A * t ** 2 + 8 * A * t - 4 * A
    return 0.0


def _nearest(x: float, mode: str) -> int:
    if x == math.floor(x):
        return int(x)
    ratio = x - math.floor(x)
    if mode == "round_prefer_floor":
        return math.floor(x) if ratio <= 0.5 else math.floor(x) + 1
    if mode == "round_prefer_ceil":
        return math.floor(x) if ratio < 0.5 else math.floor(x) + 1
    return math.floor(x) if mode == "floor" else math.ceil(x)


def _filter_taps(x: float, scale: float, at: dict) -> tuple[list[int], list[float]]:
    """Linear or cubic taps around x: offsets from base = ceil(x) - 1 (the ONNX reference takes the
    fraction in (0, 1]), weights from the filter, antialias widening it by 1/scale when downscaling."""
    base = math.ceil(x) - 1
    ratio = x - base
    scale = min(float(scale), 1.0) if at["antialias"] else 1.0
    support = 1 if at["mode"] == "linear" else 2
    start = int(math.floor(-support / scale) + 1)
    offsets = list(range(start, 2 - start))  # linear: 0, 1 and cubic: -1..2 without antialias
    if at["mode"] == "linear":
        weights = [max(0.0, 1 - abs((i - ratio) * scale)) for i in offsets]
    else:
        weights = [_cubic((i - ratio) * scale, at["cubic_a"]) for i in offsets]
    if at["antialias"]:
        total = sum(weights)
        weights = [w / total for w in weights]
    return [base + i for i in offsets], weights


def axis_table(axis: int, in_len: int, out_len: int, stride: int, at: dict, rank: int) -> AxisTable | None:
    """The sampling table of one axis, or None where the axis is copied as it is."""
    scale = at["scales"][axis]
    start, end = at["roi"][axis], at["roi"][rank + axis]
    if scale == 1 and in_len == out_len and at["transform"] != "tf_crop_and_resize":
        return None  # ONNX Runtime copies an axis of scale 1 (tf_half_pixel_for_nn would shift it)
    index, weight, outside = [], [], []
    taps = 1
    rows = []
    for o in range(out_len):
        x = float(original_coordinate(o, at["transform"], scale, out_len, in_len, start, end))
        out = at["transform"] == "tf_crop_and_resize" and (x < 0 or x > in_len - 1)
        if at["mode"] == "nearest":
            pos, w = [_nearest(x, at["nearest_mode"])], [1.0]
        else:
            pos, w = _filter_taps(x, scale, at)
            if at["exclude_outside"]:
                w = [wi if 0 <= p < in_len else 0.0 for p, wi in zip(pos, w)]
                total = sum(w)
                w = [wi / total for wi in w] if total else w
        pos = [min(max(p, 0), in_len - 1) for p in pos]
        rows.append((pos, w, out))
        taps = max(taps, len(pos))
    identity = out_len == in_len and all(
        not out and all(wi == 0 or p == o for p, wi in zip(pos, w)) and abs(sum(w) - 1) < 1e-7
        for o, (pos, w, out) in enumerate(rows))
    if identity:
        return None
    for pos, w, out in rows:
        index += [p * stride for p in pos]
        weight += [float(v) for v in w]
        outside.append(int(out))
    has_outside = any(outside)
    return AxisTable(axis, taps, index, None if at["mode"] == "nearest" else weight,
                     outside if has_outside else None)


def resize_params(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    at = resize_attributes(node, graph)
    rank = len(x.shape)
    xs = dense_strides(x.shape)
    tables = {}
    for axis in range(rank):
        table = axis_table(axis, x.shape[axis], y.shape[axis], xs[axis], at, rank)
        if table is not None:
            tables[axis] = table
        elif x.shape[axis] != y.shape[axis]:
            raise ValueError(f"axis {axis}: {x.shape[axis]} -> {y.shape[axis]} without a table")
    ys = dense_strides(y.shape)
    # the loop variable of each axis ("0" where the output axis has size 1: no loop)
    var = [f"o{a}" if y.shape[a] > 1 else "0" for a in range(rank)]
    def term(a: int, stride: int) -> str:
        return var[a] + (f" * {stride}" if stride != 1 else "")

    direct = [term(a, xs[a]) for a in range(rank) if a not in tables and y.shape[a] > 1]
    return {"tables": [tables[a] for a in sorted(tables)], "loops": [(var[a], y.shape[a]) for a in range(rank)
                                                                      if y.shape[a] > 1],
            "var": var, "base": " + ".join(direct) or "0",
            "yoff": " + ".join(term(a, ys[a]) for a in range(rank) if y.shape[a] > 1) or "0",
            # nearest (and any Resize that leaves every axis as it is): one read per output element
            "pick": " + ".join(direct + [f"ix{a}[{var[a]}]" for a in sorted(tables)]) or "0",
            "extrapolation": c_float(at["extrapolation"]), "weighted": at["mode"] != "nearest" and bool(tables),
            "fixed_point": False, "quantized": False, "requantize": False, "array": _c_table}


# int8 Resize. Nearest moves the int8 values (requantized where the output's scale or zero point
# differs); linear interpolates them with Q10 weights per axis (TFLite's ResizeBilinear) and requantizes
# the sum once, the division by 2^(10 * axes) folded into the multiplier, so the output is one rounding
# from the exact result whatever its scale. Each output's weights sum to exactly 2^10 per axis.
FRACTION_BITS = 10
MAX_FIXED_POINT_AXES = 2  # 255 * 2^20 * 4 taps fits int32


def fixed_point_weights(table: AxisTable) -> list[int]:
    """Q10 weights of a linear table: round each, and give the rounding error to the output's largest."""
    out = []
    for o in range(len(table.weight) // table.taps):
        w = table.weight[o * table.taps:(o + 1) * table.taps]
        q = [int(math.floor(v * (1 << FRACTION_BITS) + 0.5)) for v in w]
        q[max(range(len(w)), key=lambda i: w[i])] += (1 << FRACTION_BITS) - sum(q)
        out += q
    return out


def int8_resize_params(node: Node, graph: Graph) -> dict:
    params = resize_params(node, graph)
    bits = 0
    if params["weighted"]:
        for t in params["tables"]:
            t.weight = fixed_point_weights(t)
        bits = FRACTION_BITS * len(params["tables"])
    return {**params, **int8_resize_qparams(node, graph, bits), "quantized": True, "fixed_point": params["weighted"],
            "fraction_bits": FRACTION_BITS, "total_bits": bits}


def _int8_resize_check(node: Node, graph: Graph) -> str | None:
    at = resize_attributes(node, graph)
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    if x.quant is None or y.quant is None:
        return "int8 Resize needs quantized tensors"
    if at["mode"] == "nearest":
        return None
    if at["mode"] != "linear" or at["antialias"] or at["transform"] == "tf_crop_and_resize":
        return "int8 interpolation is linear without antialias or tf_crop_and_resize"
    resized = sum(a != b for a, b in zip(x.shape, y.shape))
    return None if resized <= MAX_FIXED_POINT_AXES else f"int8 linear Resize of {resized} axes (at most 2)"


def _c_table(values: list) -> str:
    """A table's initializer, 8 values a line, indented inside the kernel's body."""
    data = np.asarray(values, np.float32 if isinstance(values[0], float) else np.int64)
    return c_array_body(data, per_line=8).replace(",\n  ", ",\n        ")


def _resize_check(node: Node, graph: Graph) -> str | None:
    if any(graph.tensors[t].quant is not None for t in (node.inputs[0], node.outputs[0])):
        return "quantized tensors (the int8 Resize kernel)"
    at_mode = node.attrs.get("mode", "nearest")
    dtype = graph.tensors[node.inputs[0]].dtype
    if at_mode in ("linear", "bilinear", "cubic") and dtype != "float32":
        return f"{at_mode} Resize of {dtype} data (interpolation is float32 only; nearest moves any dtype)"
    if node.op_type == "Upsample" and _operand(graph, node, 1) is None and "scales" not in node.attrs:
        return "Upsample scales must be a compile-time constant"
    return None


REF.kernel("Resize", template="ref/resize.c.j2", static_inputs=(1, 2, 3), check=_resize_check, dtypes=ALL_DTYPES,
           input_names=("X",), output_names=("Y",), name="resize")(resize_params)
REF.kernel("Upsample", template="ref/resize.c.j2", static_inputs=(1,), check=_resize_check, dtypes=ALL_DTYPES,
           input_names=("X",), output_names=("Y",), name="upsample")(resize_params)
REF.kernel("Resize", template="ref/resize.c.j2", static_inputs=(1, 2, 3), check=_int8_resize_check, dtypes=("int8",),
           roundings=BOTH, priority=10, input_names=("X",), output_names=("Y",), name="resize_int8")(int8_resize_params)
